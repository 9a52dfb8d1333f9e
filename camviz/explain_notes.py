"""Plain-language remarks on an explanation (the CLI's folder summaries and the app show
them): methods that do not apply, blank maps, identical maps, a colour picture shown to a
grey model — for a reader who would otherwise take a correct result for a bug."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from camviz.cam import METHODS
from camviz.explainer import ImageExplanation, is_colour
from camviz.handle import LoadedModel


def notes(r: ImageExplanation, loaded: LoadedModel) -> list[str]:
    """Plain-language remarks on one explanation, for a reader who would otherwise take a
    correct result for a bug: methods that do not apply, blank maps, identical maps, and an
    image of another kind than the model was trained on."""
    out = []
    for m, why in r.skipped.items():
        out.append(f"{METHODS.get(m).title} does not apply here: {why}")
    for layer in r.layers:
        for k, tname in enumerate(r.target_names):
            blank = [m for m in r.methods if float(r.maps[(layer, m)][k].max()) <= 0.0]
            if blank:
                out.append(f"{_titles(blank)} {'is' if len(blank) == 1 else 'are'} blank for "
                           f"'{tname}' at `{layer}`: no part of this layer raises the class's "
                           "score (no positive evidence), so there is nothing to show.")
            for group in _identical(r, layer, k):
                out.append(f"{_titles(group)} are identical here: at a layer that feeds global "
                           "average pooling and then the linear classifier their channel "
                           "weights coincide - expected maths, not a bug.")
    if int(loaded.in_channels) == 1 and is_colour(r.rgb):
        where = f" {loaded.dataset}" if loaded.dataset else ""
        out.append(f"Model '{loaded.name}' was trained on {loaded.input_size}×{loaded.input_size} "
                   f"grey{where} images; this colour picture was turned grey and shrunk to "
                   f"{loaded.input_size}×{loaded.input_size} (see what the model sees), so its "
                   "prediction says little about the picture.")
    return out


def _titles(methods: Sequence[str]) -> str:
    names = [METHODS.get(m).title for m in methods]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _identical(r: ImageExplanation, layer: str, k: int) -> list[list[str]]:
    groups: list[list[str]] = []
    for m in r.methods:
        a = r.maps[(layer, m)][k]
        if float(a.max()) <= 0.0:
            continue  # blank maps are reported as blank
        for g in groups:
            if np.allclose(r.maps[(layer, g[0])][k], a, rtol=0.0, atol=1e-5):  # float rounding
                g.append(m)
                break
        else:
            groups.append([m])
    return [g for g in groups if len(g) > 1]
