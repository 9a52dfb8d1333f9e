"""Which layer (and method) to explain a model at: measured on the user's images.

``rank_layers(model, images)`` scores every candidate layer x method by the faithfulness
curves and the randomisation sanity check of :mod:`camviz.metrics` and by the engine's
diagnostics, and returns the rows best first:

* ``deletion`` / ``insertion``: AUC of the target probability as the map's most important
  pixels are removed / put back (Petsiuk et al., BMVC 2018; lower / higher is better);
* ``sanity``: Spearman correlation of the map with the map of a copy whose weights were
  re-initialised from the top down to the first block that changes the layer (Adebayo et
  al., NeurIPS 2018); above ``SANITY_THRESHOLD`` the map does not depend on what was learnt;
* ``zero`` / ``constant``: share of maps that are all zero / flat (with the diagnostics'
  cause).

Rows without a flag come first, then by ``insertion - deletion``. It sits above the engine
and the metrics (it uses both); the CAM engine itself stays free of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from camviz.cam import explain
from camviz.cam.hooks import frozen, module_outputs
from camviz.cam.tokens import LayoutFinder
from camviz.errors import CamvizError
from camviz.handle import LoadedModel, preprocess
from camviz.images import ImageSource, as_rgb_image
from camviz.metrics import faithfulness as faith
from camviz.metrics import sanity


@dataclass(frozen=True)
class LayerScore:
    """One row of the advisor's table (means over the images)."""

    layer: str
    method: str
    grid: str
    deletion: float
    insertion: float
    sanity: float
    zero: float
    constant: float
    flags: tuple[str, ...]

    @property
    def score(self) -> float:
        return self.insertion - self.deletion


def candidate_layers(model: nn.Module, images: Tensor, depth: int = 2) -> list[str]:
    """Modules at most ``depth`` dots deep whose output is a spatial map (any layout), in
    forward order; a container handing on its last child's output keeps the child's name."""
    finder = LayoutFinder(model, tuple(images.shape[-2:]))
    seen: dict[str, int] = {}

    def record(name: str, _module: nn.Module, _inputs: tuple, out: object) -> None:
        if name.count(".") < depth and finder.find(out) is not None:
            seen.setdefault(name, len(seen))

    with frozen(model), module_outputs(model, record), torch.no_grad():
        model(images[:1])
    return sorted(seen, key=seen.get)


def rank_layers(model: nn.Module, images: Tensor, *, layers: Sequence[str] | None = None,
                methods: Sequence[str] = ("gradcam",), targets: Tensor | None = None,
                classifier: str | None = None, steps: int = 10, seed: int = 0,
                ) -> list[LayerScore]:
    """Score ``methods`` at ``layers`` (default: :func:`candidate_layers`) on ``images``
    for ``targets`` (default: the predicted classes); best first (see the module doc)."""
    layers = list(layers or candidate_layers(model, images))
    if not layers:
        raise CamvizError("no layer of the model has a spatial output to rank")
    with torch.no_grad(), frozen(model):
        logits = model(images)
    y = logits.argmax(1) if targets is None else torch.as_tensor(targets).to(images.device)
    maps, notes, grids = {}, {}, {}
    for layer in layers:
        e = _explain(model, images, layer, methods, y, classifier)
        for m in e.maps:
            maps[(layer, m)] = e.maps[m]
            grids[(layer, m)] = "x".join(map(str, e.raw[m].shape[-2:]))
            notes[(layer, m)] = [d for d in e.diagnostics if d.message.startswith(f"{m} ")]
    rhos = _sanity(model, images, layers, methods, y, classifier, maps, seed)
    rows = []
    for (layer, m), mp in maps.items():
        flat = mp.flatten(1)
        zero = float((flat.amax(1) <= 0).float().mean())
        const = float(((flat.amax(1) == flat.amin(1)) & (flat.amax(1) > 0)).float().mean())
        dele = float(faith.curve_auc(faith.deletion_curve(model, images, mp, y, steps=steps)).mean())
        ins = float(faith.curve_auc(faith.insertion_curve(model, images, mp, y, steps=steps)).mean())
        flags = [f"sanity {rhos[(layer, m)]:.2f} > {sanity.SANITY_THRESHOLD}"
                 if rhos[(layer, m)] > sanity.SANITY_THRESHOLD else ""]
        flags += [d.kind for d in notes[(layer, m)] if d.kind in ("zero-gradient", "constant",
                                                                  "negative", "nonfinite")]
        rows.append(LayerScore(layer, m, grids[(layer, m)], dele, ins,
                               rhos[(layer, m)], zero, const, tuple(f for f in flags if f)))
    return sorted(rows, key=lambda r: (bool(r.flags), -r.score))


def _explain(model, images, layer, methods, y, classifier):
    fc = classifier if "cam" in methods else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-zero maps: in the diagnostics
        # a method that cannot apply here (CAM without GAP -> linear) is left out of the one
        # pass, unless it is the only one asked for
        return explain(model, images, layer=layer, methods=tuple(methods), targets=y,
                       classifier=fc, skip_inapplicable=len(methods) > 1)


def _sanity(model, images, layers, methods, y, classifier, maps, seed) -> dict:
    """Spearman of each map with the map after randomising down to its layer's first step."""
    steps = sanity.randomization_steps(model, classifier)
    due = {layer: sanity.flag_step(model, steps, layer) for layer in layers}
    out = {}
    for i, randomized in sanity.cascading_randomization(model, steps[:max(due.values()) + 1],
                                                        seed=seed):
        for layer in (name for name, step in due.items() if step == i):
            e = _explain(randomized, images, layer, methods, y, classifier)
            for m, mp in e.maps.items():
                out[(layer, m)] = float(sanity.spearman(maps[(layer, m)], mp).mean())
    return out


def rank_images(loaded: LoadedModel, images: Sequence[ImageSource], *,
                layers: Sequence[str] | None = None, methods: Sequence[str] = ("gradcam",),
                steps: int = 10) -> list[LayerScore]:
    """:func:`rank_layers` on image files (or other image sources) through the model's own
    preprocessing, for the classes it predicts; what ``camviz layers --rank`` prints."""
    if not images:
        raise CamvizError("no images to rank layers on; pass image files after --rank")
    x = preprocess([as_rgb_image(src) for src in images], loaded)
    return rank_layers(loaded.model, x, layers=layers, methods=methods,
                       classifier=loaded.classifier, steps=steps)


def format_ranking(rows: Sequence[LayerScore]) -> str:
    """The advisor's table as text, the recommended row first and marked."""
    head = (f"  {'layer':<24} {'method':<10} {'grid':>6} {'del':>6} {'ins':>6} {'sanity':>7} "
            f"{'zero':>5}  flags")
    lines = [head, "-" * len(head)]
    for i, r in enumerate(rows):
        mark = "*" if i == 0 and not r.flags else " "
        lines.append(f"{mark} {r.layer:<24} {r.method:<10} {r.grid:>6} {r.deletion:>6.3f} "
                     f"{r.insertion:>6.3f} {r.sanity:>7.3f} {r.zero:>5.2f}  {', '.join(r.flags)}")
    return "\n".join(lines)
