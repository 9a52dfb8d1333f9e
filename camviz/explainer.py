"""The explain layer: images in, predictions and class activation maps out — no files.

:func:`explain_images` / :func:`iter_explanations` decode and check every image, make the
model's input (:func:`camviz.handle.preprocess`), run the CAM engine
(:func:`camviz.cam.explain`) in batches and return one :class:`ImageExplanation` per image
(display RGB, the model's input, top-k predictions, explained classes, maps per
``(layer, method)``). Drawing and writing them is :mod:`camviz.outputs`' job; the CLI and
the app both call these two modules.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camviz.cam import METHODS, explain, resolve_layers
from camviz.cam.targets import check_score
from camviz.catalog import DEFAULT_METHODS
from camviz.errors import ConfigError, MethodNotApplicable, NonFiniteError
from camviz.handle import LoadedModel, model_input, preprocess
from camviz.images import ImageSource, as_rgb_image, display_image

log = logging.getLogger(__name__)

DISPLAY_SIZE = 320  # longest side of the display image, in pixels


@dataclass
class ImageExplanation:
    """Everything computed for one image; arrays are numpy, on the CPU."""

    name: str                                  # unique, file-safe stem for outputs
    source: str                                # path, or a label for in-memory images
    size: tuple[int, int]                      # (width, height) after EXIF orientation
    rgb: np.ndarray                            # display image, uint8 HxWx3 (aspect kept)
    model: str                                 # LoadedModel.name
    layers: list[str]
    methods: list[str]
    score: str                                 # "logit" or "softmax": what was differentiated
    probs: np.ndarray                          # (classes,) float32 softmax
    predictions: list[tuple[str, float]]       # top-k (class name, prob), best first
    top_indices: list[int]                     # class indices of ``predictions``
    targets: list[int]                         # the K classes explained
    target_names: list[str]
    maps: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (K, S, S) in [0, 1]
    raw: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)   # (K, h, w) unnormalised
    model_input: np.ndarray | None = None      # what the model saw, uint8 SxS (grey) or SxSx3
    skipped: dict[str, str] = field(default_factory=dict)  # method -> why it does not apply
    counterfactual: bool = False               # the maps explain -score (evidence against)
    contrast: int | None = None                # the maps explain S_target - S_contrast

    def map(self, layer: str | None = None, method: str | None = None, k: int = 0) -> np.ndarray:
        """One (S, S) map; layer/method default to the first computed."""
        return self.maps[(layer or self.layers[0], method or self.methods[0])][k]

    def overlay(self, layer: str | None = None, method: str | None = None, k: int = 0, *,
                alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
        """The map blended over :attr:`rgb` (uint8 HxWx3); see :func:`camviz.viz.overlay`."""
        # Deferred: drawing needs OpenCV, which `import camviz` must not load.
        from camviz.viz import overlay
        return overlay(self.rgb, self.map(layer, method, k), alpha=alpha, colormap=colormap)


# ------------------------------------------------------------------------- validation

def resolve_class(loaded: LoadedModel, value: int | str) -> int:
    """A class name (exact, then case-insensitive) or index → a checked class index."""
    return loaded.class_index(value)


def resolve_methods(methods: Sequence[str] | str | None) -> tuple[list[str], bool]:
    """Method names checked against the engine's registry; and whether they were explicit."""
    if methods is None:
        return list(DEFAULT_METHODS), False
    if isinstance(methods, str):
        methods = [methods]
    names = list(dict.fromkeys(methods))
    if not names:
        raise ConfigError(f"no CAM method given; pass one of {', '.join(METHODS.names())}")
    for m in names:
        METHODS.get(m)  # unknown → did-you-mean error
    return names, True


def resolve_layer_names(loaded: LoadedModel, layers: Sequence[str] | str | None) -> list[str]:
    """Layer names (default: the model's CAM layer), checked against the model."""
    if layers is None or (not isinstance(layers, str) and len(layers) == 0):
        if not loaded.cam_layer:
            raise ConfigError(f"model '{loaded.name}' has no default CAM layer; pass --layer "
                              f"(`camviz layers --model {loaded.name}` lists them)")
        layers = [loaded.cam_layer]
    elif isinstance(layers, str):
        layers = [layers]
    return list(resolve_layers(loaded.model, list(dict.fromkeys(layers))))


def resolve_targets(loaded: LoadedModel, target, topk: int) -> list[int] | None:
    """The classes to explain (``None``: the predicted one), checked against ``topk``."""
    n = len(loaded.classes)
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or not 1 <= topk <= n:
        raise ConfigError(f"topk {topk!r} must be between 1 and {n} (the number of classes)")
    if target is None:
        return None
    if topk > 1:
        raise ConfigError("pass either a class to explain or topk > 1, not both")
    values = [target] if isinstance(target, (str, int, np.integer)) else list(target)
    if not values:
        raise ConfigError("an empty list of classes was given; pass at least one class")
    return list(dict.fromkeys(loaded.class_index(v) for v in values))


@dataclass(frozen=True)
class _Plan:
    """The checked arguments of one :func:`iter_explanations` call."""

    layers: list[str]
    methods: list[str]
    skip_inapplicable: bool     # leave out methods that cannot apply (else raise)
    classes: list[int] | None
    topk: int
    predictions: int
    batch_size: int
    score: str
    display_size: int
    max_pixels: int | None
    counterfactual: bool = False
    contrast: int | None = None


# ------------------------------------------------------------------------- compute

def explain_images(loaded: LoadedModel, images: Sequence[ImageSource], **kwargs) -> list[ImageExplanation]:
    """Explain every image; see :func:`iter_explanations` for the arguments."""
    return list(iter_explanations(loaded, images, **kwargs))


def iter_explanations(
    loaded: LoadedModel,
    images: Sequence[ImageSource],
    *,
    layers: Sequence[str] | str | None = None,
    methods: Sequence[str] | str | None = None,
    target: int | str | Sequence[int | str] | None = None,
    topk: int = 1,
    predictions: int = 5,
    batch_size: int = 16,
    score: str = "logit",
    display_size: int = DISPLAY_SIZE,
    names: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    max_pixels: int | None = None,
    skip_inapplicable: bool | None = None,
    counterfactual: bool = False,
    contrast: int | str | None = None,
) -> Iterator[ImageExplanation]:
    """Explain images one batch at a time, yielding one :class:`ImageExplanation` each.

    ``images``: paths, bytes, PIL images or uint8 arrays. ``layers``: names (default
    ``loaded.cam_layer``). ``methods``: names from ``camviz.cam.METHODS`` (default
    :data:`DEFAULT_METHODS`). ``target``: ``None`` (the predicted class), a class index or
    name, or a list of them; ``topk=K`` explains the K best classes instead. ``predictions``:
    how many (class, prob) pairs to report. ``names``: output stems (default: file stems);
    ``labels``: what errors and ``ImageExplanation.source`` call each image (default: its
    path, or "image i" for an in-memory image).
    ``skip_inapplicable``: leave out a method that cannot apply to the model at a layer
    (its reason in ``ImageExplanation.skipped``) instead of raising; default: only for the
    default methods. ``counterfactual``: explain ``-score``, where the evidence *against*
    the class lies; ``contrast``: a class (name or index) c' — the maps explain ``S_c - S_c'``
    ("why this class rather than c'"). See :func:`camviz.cam.explain`.

    Arguments are checked at once; the first ``next()`` decodes every image (so a bad file
    fails before any model work) and then runs the batches.
    """
    method_names, explicit = resolve_methods(methods)
    check_score(score)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size {batch_size!r} must be a positive integer")
    if not isinstance(predictions, int) or predictions < 1:
        raise ConfigError(f"predictions {predictions!r} must be a positive integer")
    plan = _Plan(layers=resolve_layer_names(loaded, layers), methods=method_names,
                 skip_inapplicable=not explicit if skip_inapplicable is None else skip_inapplicable,
                 classes=resolve_targets(loaded, target, topk), topk=topk,
                 predictions=min(predictions, len(loaded.classes)), batch_size=batch_size,
                 score=score, display_size=display_size, max_pixels=max_pixels,
                 counterfactual=_flag("counterfactual", counterfactual),
                 contrast=None if contrast is None else loaded.class_index(contrast))
    sources = list(images)
    if not sources:
        raise ConfigError("no images given")
    if names is not None and len(names) != len(sources):
        raise ConfigError(f"{len(names)} names for {len(sources)} images")
    stems = unique_names([str(n) for n in names] if names is not None
                         else [_default_stem(s, i) for i, s in enumerate(sources)])
    if labels is not None and len(labels) != len(sources):
        raise ConfigError(f"{len(labels)} labels for {len(sources)} images")
    labels = ([str(x) for x in labels] if labels is not None
              else [_label(s, i) for i, s in enumerate(sources)])
    return _run(loaded, plan, sources, labels, stems)


def _run(loaded: LoadedModel, plan: _Plan, sources: list, labels: list[str],
         stems: list[str]) -> Iterator[ImageExplanation]:
    grey = []
    for src, label in zip(sources, labels):  # decode everything first: fail before computing
        rgb = as_rgb_image(src, max_pixels=plan.max_pixels, name=label)
        if int(loaded.in_channels) == 1 and is_colour(np.asarray(rgb)):
            grey.append(label)
    if grey:   # say so: the model sees a grey picture, not the one shown
        log.info("%d colour image(s) (%s%s) converted to grey (ITU-R 601-2 luma) for model '%s', "
                 "which takes 1 channel", len(grey), ", ".join(grey[:3]),
                 " ..." if len(grey) > 3 else "", loaded.name)
    methods, skipped = list(plan.methods), {}
    for start in range(0, len(sources), plan.batch_size):
        idx = range(start, min(start + plan.batch_size, len(sources)))
        pils = [as_rgb_image(sources[i], max_pixels=plan.max_pixels, name=labels[i], note=False)
                for i in idx]
        seen = model_input(pils, loaded)
        out = _engine(loaded, preprocess(pils, loaded), plan, methods)
        for ex in out.values():
            for m, why in ex.skipped.items():
                if m not in skipped:
                    log.info("skipping '%s' for model '%s': %s", m, loaded.name, why)
                skipped.setdefault(m, why)
        # a method skipped at any layer is left out at all of them, and in later batches
        methods = [m for m in methods if m not in skipped]
        if not methods:
            raise MethodNotApplicable("; ".join(skipped.values()))
        first = out[plan.layers[0]]
        probs = first.probs.detach().float().cpu().numpy()
        chosen = first.targets.detach().cpu().numpy().reshape(len(pils), -1)
        per_key = {}
        for layer in plan.layers:
            for m in methods:
                per_key[(layer, m)] = (_as_nk(out[layer].maps[m], len(pils)),
                                       _as_nk(out[layer].raw[m], len(pils)))
        for j, i in enumerate(idx):
            p = probs[j]
            order = np.argsort(-p, kind="stable")[:plan.predictions]
            tgt = [int(t) for t in chosen[j]]
            yield ImageExplanation(
                name=stems[i], source=labels[i], size=pils[j].size,
                rgb=display_image(pils[j], plan.display_size), model=loaded.name,
                layers=list(plan.layers), methods=list(methods), score=plan.score,
                probs=p.astype(np.float32),
                predictions=[(loaded.classes[c], float(p[c])) for c in order],
                top_indices=[int(c) for c in order], targets=tgt,
                target_names=[loaded.classes[t] for t in tgt],
                maps={k: v[0][j].copy() for k, v in per_key.items()},  # free the batch
                raw={k: v[1][j].copy() for k, v in per_key.items()},
                model_input=np.asarray(seen[j], dtype=np.uint8).copy(), skipped=dict(skipped),
                counterfactual=plan.counterfactual, contrast=plan.contrast)


def _engine(loaded: LoadedModel, x, plan: _Plan, methods: list[str]):
    """One engine call for all layers and methods (inapplicable ones skipped or raised)."""
    if not methods:
        raise ConfigError(f"none of the methods asked for ({', '.join(plan.methods)}) applies "
                          f"to model '{loaded.name}' at {', '.join(plan.layers)}; choose gradcam, "
                          "which works for any head")
    if plan.classes is None:
        targets = None
    elif len(plan.classes) == 1:
        targets = plan.classes[0]
    else:
        targets = [list(plan.classes)] * x.shape[0]
    # CAM reads the classifier named in the model's spec, not a guess.
    fc = loaded.classifier if "cam" in methods else None
    try:
        return explain(loaded.model, x, layer=list(plan.layers), methods=tuple(methods),
                       targets=targets, topk=plan.topk if plan.topk > 1 else None,
                       score=plan.score, classifier=fc, skip_inapplicable=plan.skip_inapplicable,
                       counterfactual=plan.counterfactual, contrast=plan.contrast)
    except NonFiniteError as err:   # name the model (and its file): the engine cannot
        where = f" ({loaded.checkpoint})" if loaded.checkpoint else ""
        raise NonFiniteError(f"model '{loaded.name}'{where}: {err}") from None


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


def _as_nk(t, n: int) -> np.ndarray:
    """(N, H, W) or (N, K, H, W) tensor → float32 numpy (N, K, H, W)."""
    a = t.detach().float().cpu().numpy()
    return a[:, None] if a.ndim == 3 else a.reshape(n, -1, *a.shape[-2:])


def _default_stem(src: ImageSource, i: int) -> str:
    if isinstance(src, (str, os.PathLike)):
        return Path(src).stem
    return f"image{i + 1:03d}"


def _label(src: ImageSource, i: int) -> str:
    return str(src) if isinstance(src, (str, os.PathLike)) else f"image {i + 1}"


def safe_name(text: str) -> str:
    """``text`` with every run of characters outside ``A-Za-z0-9._-`` replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def unique_names(stems: Sequence[str]) -> list[str]:
    """File-safe, unique stems: odd characters → '_', repeats get '-2', '-3', ..."""
    out, seen = [], set()
    for s in stems:
        base = safe_name(s).strip("._") or "image"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}-{k}", k + 1
        seen.add(name)
        out.append(name)
    return out


def shared_classes(models: Sequence[LoadedModel]) -> bool:
    """Whether all ``models`` predict the same classes in the same order."""
    return all(list(m.classes) == list(models[0].classes) for m in models[1:])


def explain_models(models: Sequence[LoadedModel], image: ImageSource, *,
                   target: int | str | None = None, **kwargs) -> list[ImageExplanation]:
    """One image through several models (the reports' side-by-side figure): one
    :class:`ImageExplanation` per model. When the models share their classes and no
    ``target`` is given, every model explains the first model's predicted class, so the
    maps answer the same question; otherwise each model explains ``target`` or its own top
    class. Other arguments as :func:`iter_explanations`."""
    if not models:
        raise ConfigError("no model given; pass at least one --model")
    out = []
    for i, loaded in enumerate(models):
        if target is None and i > 0 and shared_classes(models):
            target = out[0].targets[0]
        out.append(explain_images(loaded, [image], target=target, **kwargs)[0])
    return out


def is_colour(rgb: np.ndarray, threshold: float = 12.0) -> bool:
    """Whether an RGB picture has real colour (mean channel spread above ``threshold``)."""
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    # elementwise over the three planes: a reduction along a length-3 axis is ~20x slower
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    return float(spread.mean()) > threshold
