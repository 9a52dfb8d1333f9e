"""``evaluate_cam``: which CAM method and layer to trust for a model, with numbers.

For the first ``n`` images of a split it explains the true class of every image with each
method at each layer and scores the maps three ways - localisation against ground-truth
masks (data sets that have them), faithfulness to the model (deletion / insertion, average
drop / increase in confidence) and the cascading-randomisation sanity check - next to two
maps that ignore the model (``random``, ``center``; :mod:`camviz.metrics.reference`).
"""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from camviz.cam import explain
from camviz.data import resolve_dataset
from camviz.data.base import SPLITS
from camviz.errors import ConfigError, DataError, unknown
from camviz.explainer import resolve_layer_names, resolve_methods
from camviz.handle import LoadedModel
from camviz.metrics import faithfulness as faith
from camviz.metrics import localization as loc
from camviz.metrics import sanity
from camviz.metrics.catalog import METRICS
from camviz.metrics.eval_data import GROUND_TRUTH, load_eval_data
from camviz.metrics.partial import EvalCheckpoint
from camviz.metrics.reference import REFERENCE_MAPS, reference_maps
from camviz.metrics.shards import merge_shards, restore, snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSettings:
    """Everything besides the model and data that decides the numbers."""

    methods: tuple[str, ...]
    layers: tuple[str, ...]
    metrics: tuple[str, ...]
    steps: int = 20
    deletion_baseline: str = "zeros"
    insertion_baseline: str = "blur"
    drop_baseline: str = "zeros"
    tolerance: float = 4
    iou_threshold: float = 0.5
    sanity_threshold: float = sanity.SANITY_THRESHOLD
    seed: int = 0
    batch_size: int = 64


@dataclass
class CamEvaluation:
    """Metrics per explainer (a method, or ``random``/``center``), layer and metric name.

    ``results[explainer][layer][metric]`` is a float (a mean over the images) or, for
    ``sanity_spearman``, a list with one mean correlation per randomisation step
    (:attr:`sanity_steps`); ``sanity_flagged`` says whether the correlation at step
    ``flag_steps[layer]`` (the first to change that layer) stayed above the threshold.
    """

    model: str
    dataset: str
    split: str
    n: int
    accuracy: float                    # on the n images
    settings: EvalSettings
    results: dict[str, dict[str, dict[str, Any]]]
    curves: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    sanity_steps: list[str] = field(default_factory=list)
    flag_steps: dict[str, int] = field(default_factory=dict)
    zero_maps: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)   # method -> layer -> why

    @property
    def methods(self) -> list[str]:
        return [k for k in self.results if k not in REFERENCE_MAPS]

    def to_json(self) -> dict[str, Any]:
        """``{method: {layer: {metric: value}}, "random": {...}, "center": {...}}``."""
        return {k: {layer: dict(m) for layer, m in v.items()} for k, v in self.results.items()}

    def to_dict(self) -> dict[str, Any]:
        """Everything: settings, accuracy, metrics, mean curves, randomisation steps."""
        return {"model": self.model, "dataset": self.dataset, "split": self.split, "n": self.n,
                "accuracy": self.accuracy, "settings": asdict(self.settings),
                "metrics": self.to_json(), "curves": self.curves,
                "sanity_steps": self.sanity_steps, "flag_steps": self.flag_steps,
                "zero_maps": self.zero_maps, "skipped": self.skipped}


# ------------------------------------------------------------------------ arguments

def resolve_metrics(metrics: Sequence[str] | None, dataset: str) -> list[str]:
    """Metric names checked against :data:`METRICS`; ``None``: all that apply to ``dataset``."""
    has_masks = dataset in GROUND_TRUTH
    if metrics is None:
        return [m for m in METRICS.names() if has_masks or not METRICS.get(m).needs_masks]
    names = list(dict.fromkeys(metrics))
    if not names:
        raise ConfigError(f"no metric given; pass some of {', '.join(METRICS.names())}")
    for name in names:
        if not METRICS.get(name).needs_masks or has_masks:
            continue
        raise DataError(
            f"metric '{name}' needs ground-truth object masks, which data set '{dataset}' does "
            f"not have (data sets with masks: {', '.join(GROUND_TRUTH.names())}); drop the "
            f"localisation metrics from --metrics or use --dataset "
            f"{GROUND_TRUTH.names()[0]}")
    return names


def _check_settings(s: EvalSettings) -> None:
    faith.check_steps(s.steps)
    for b in (s.deletion_baseline, s.insertion_baseline, s.drop_baseline):
        faith.BASELINES.get(b)
    if s.tolerance < 0:
        raise ConfigError(f"pointing-game tolerance must be >= 0 px, got {s.tolerance}")
    if not 0.0 <= s.iou_threshold <= 1.0:
        raise ConfigError(f"IoU threshold must be in [0, 1], got {s.iou_threshold}")
    if not -1.0 <= s.sanity_threshold <= 1.0:
        raise ConfigError(f"sanity threshold is a rank correlation in [-1, 1], got "
                          f"{s.sanity_threshold}")
    if isinstance(s.batch_size, bool) or not isinstance(s.batch_size, int) or s.batch_size < 1:
        raise ConfigError(f"batch size must be an integer >= 1, got {s.batch_size!r}")


def _check_n(n: int | None) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"--n must be an integer >= 1 (images to score), got {n!r}")


# ------------------------------------------------------------------------ main

def evaluate_cam(loaded: LoadedModel, dataset: str | None = None, *,
                 methods: Sequence[str] | None = None, layers: Sequence[str] | None = None,
                 metrics: Sequence[str] | None = None, n: int | None = None,
                 split: str = "test", steps: int = 20, deletion_baseline: str = "zeros",
                 insertion_baseline: str = "blur", drop_baseline: str = "zeros",
                 tolerance: float | None = None, iou_threshold: float = 0.5,
                 sanity_threshold: float = sanity.SANITY_THRESHOLD, seed: int = 0,
                 batch_size: int = 64, data_dir: str | None = None,
                 download: bool = True, rank: int = 0, world_size: int = 1,
                 checkpoint: EvalCheckpoint | None = None) -> CamEvaluation:
    """Score CAM ``methods`` at ``layers`` of ``loaded`` on ``n`` images of ``dataset``.

    Args:
        dataset: a data set name (default: the one the checkpoint was trained on).
        methods: CAM methods (default: cam, gradcam, gradcampp). With other methods, cam is
            skipped (and listed in ``skipped``) at layers that do not feed a GAP -> linear
            head. layers: default the model's CAM layer.
        metrics: names from :data:`~camviz.metrics.catalog.METRICS` (default: all that
            apply; localisation ones only for data sets with masks, :data:`GROUND_TRUTH`).
        n: images, the first of the split (default: 200, or the whole split if smaller).
        steps: points of the deletion / insertion curves; ``*_baseline``: what removed
            pixels become (:data:`~camviz.metrics.faithfulness.BASELINES`).
        tolerance: pointing-game tolerance in px (default: Zhang et al.'s 15 px at 224 px,
            scaled to the input size). iou_threshold: level the [0, 1] map is cut at.
        sanity_threshold: rank correlation above which a method is flagged.

    Each image's true class is explained. Random draws (the ``random`` map, the weights of
    the sanity check) come from ``seed``. In a ``torchrun`` job (``rank`` of ``world_size``,
    process group started) each rank scores every ``world_size``-th image and every rank
    returns the result over all of them (per-image values gathered in image order).
    ``checkpoint`` saves the scores after every batch and continues a saved evaluation.
    """
    dataset = dataset or loaded.meta.get("dataset")
    if not dataset:
        raise DataError(f"model '{loaded.name}' does not say which data set it was trained on; "
                        "pass --dataset NAME")
    resolve_dataset(dataset)
    if split not in SPLITS:
        raise unknown("split", split, SPLITS, "pass --split test, val or train")
    method_names, _ = resolve_methods(methods)
    layer_names = resolve_layer_names(loaded, layers)
    metric_names = resolve_metrics(metrics, dataset)
    _check_n(n)
    settings = EvalSettings(
        methods=tuple(method_names), layers=tuple(layer_names), metrics=tuple(metric_names),
        steps=steps, deletion_baseline=deletion_baseline, insertion_baseline=insertion_baseline,
        drop_baseline=drop_baseline,
        tolerance=loc.default_tolerance(loaded.input_size) if tolerance is None else tolerance,
        iou_threshold=iou_threshold, sanity_threshold=sanity_threshold, seed=seed,
        batch_size=batch_size)
    _check_settings(settings)

    model = loaded.model
    device = next(model.parameters()).device
    data = load_eval_data(loaded, dataset, split, n, batch_size, data_dir, download, device,
                          rank, world_size)
    run = _Run(loaded, settings, data.n, device)
    state = checkpoint.begin({"model": loaded.name, "dataset": dataset, "split": split,
                              "n": data.n, "settings": asdict(settings),
                              "world_size": world_size}) if checkpoint else None
    if state:
        restore(run, state)
    done = set(state["index"].tolist()) if state else set()
    for batch in data.loader:
        if done and set(batch.index.tolist()) <= done:   # scored before a kill
            continue
        masks = data.masks[batch.index].to(device) if data.masks is not None else None
        run.add_batch(batch.x, batch.y, batch.index, masks)
        if checkpoint:
            checkpoint.save(snapshot(run))
    if world_size > 1:
        merge_shards(run)
    return run.result(loaded.name, dataset, split)


class _Run:
    """Per-image values accumulated batch by batch, then averaged."""

    def __init__(self, loaded: LoadedModel, s: EvalSettings, n: int, device: torch.device,
                 ) -> None:
        self.loaded, self.s, self.n, self.device = loaded, s, n, device
        self.skipped: dict[str, dict[str, str]] = {}
        self.metrics = set(s.metrics)
        self.layer_methods: dict[str, list[str]] = {}
        self.values: dict[tuple[str, str, str], list[Tensor]] = defaultdict(list)
        self.index: list[Tensor] = []   # image positions of each batch (values align with them)
        self.correct = 0
        self.zero: dict[tuple[str, str], int] = defaultdict(int)
        self.steps: list[sanity.RandomizationStep] = []
        if "sanity_spearman" in self.metrics:
            self.steps = sanity.randomization_steps(loaded.model, loaded.classifier)
        size = loaded.input_size
        self.references = {name: reference_maps(name, n, size, size, seed=s.seed)
                           for name in REFERENCE_MAPS.names()}

    # -- maps
    def explain(self, model, x: Tensor, y: Tensor, layer: str) -> tuple[dict[str, Tensor], Tensor]:
        """Maps of every method at ``layer``; on the first call per layer a method that cannot
        apply there (CAM without GAP -> linear) is skipped, with its reason, when other
        methods were asked for too - from the same single pass."""
        first = layer not in self.layer_methods
        methods = self.layer_methods.get(layer, list(self.s.methods))
        fc = self.loaded.classifier if "cam" in methods else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-zero maps: counted below
            out = explain(model, x, layer=layer, methods=tuple(methods), targets=y, classifier=fc,
                          skip_inapplicable=first and len(methods) > 1)
        for method, why in out.skipped.items():
            self.skipped.setdefault(method, {})[layer] = why
            log.info("skipping '%s' at layer '%s': %s", method, layer, why)
        self.layer_methods[layer] = [m for m in methods if m not in out.skipped]
        return out.maps, out.logits

    # -- one batch
    def add_batch(self, x: Tensor, y: Tensor, index: Tensor, masks: Tensor | None) -> None:
        model = self.loaded.model
        refs = {name: m[index.cpu()].to(self.device) for name, m in self.references.items()}
        self.index.append(index.cpu())
        maps_by_layer = {}
        for layer in self.s.layers:
            maps, logits = self.explain(model, x, y, layer)
            maps_by_layer[layer] = maps
            for method, m in maps.items():
                self.zero[(method, layer)] += int((m.flatten(1).amax(1) <= 0).sum())
        self.correct += int((logits.argmax(1) == y).sum())

        # reference maps do not depend on the layer: score them once, under every layer
        scored = [(ref, self.s.layers, m) for ref, m in refs.items()]
        scored += [(method, [layer], m) for layer, maps in maps_by_layer.items()
                   for method, m in maps.items()]
        for who, layers, m in scored:
            for metric, value in self.score(model, x, y, m, masks).items():
                for layer in layers:
                    self.values[(who, layer, metric)].append(value.cpu())
        if self.steps:
            self.sanity(x, y, maps_by_layer, refs)

    def score(self, model, x: Tensor, y: Tensor, maps: Tensor, masks: Tensor | None
              ) -> dict[str, Tensor]:
        s, want, out = self.s, self.metrics, {}
        if masks is not None:
            if "pointing_game" in want:
                out["pointing_game"] = loc.pointing_game(maps, masks, s.tolerance)
            if "energy_pointing_game" in want:
                out["energy_pointing_game"] = loc.energy_pointing_game(maps, masks)
            if "iou" in want:
                out["iou"] = loc.mask_iou(maps, masks, s.iou_threshold)
        if want & {"deletion_auc"}:
            out["deletion_curve"] = faith.deletion_curve(model, x, maps, y, steps=s.steps,
                                                         baseline=s.deletion_baseline,
                                                         batch_size=s.batch_size)
            out["deletion_auc"] = faith.curve_auc(out["deletion_curve"])
        if want & {"insertion_auc"}:
            out["insertion_curve"] = faith.insertion_curve(model, x, maps, y, steps=s.steps,
                                                           baseline=s.insertion_baseline,
                                                           batch_size=s.batch_size)
            out["insertion_auc"] = faith.curve_auc(out["insertion_curve"])
        if want & {"average_drop", "increase_in_confidence"}:
            full, masked = faith.confidence_change(model, x, maps, y, baseline=s.drop_baseline)
            if "average_drop" in want:
                out["average_drop"] = faith.average_drop(full, masked)
            if "increase_in_confidence" in want:
                out["increase_in_confidence"] = faith.increase_in_confidence(full, masked)
        return out

    def sanity(self, x: Tensor, y: Tensor, original: dict[str, dict[str, Tensor]],
               refs: dict[str, Tensor]) -> None:
        per_step: dict[tuple[str, str], list[Tensor]] = defaultdict(list)
        for _, randomized in sanity.cascading_randomization(self.loaded.model, self.steps,
                                                            seed=self.s.seed):
            for layer in self.s.layers:
                maps, _ = self.explain(randomized, x, y, layer)
                for method, m in maps.items():
                    per_step[(method, layer)].append(sanity.spearman(original[layer][method], m))
                for ref, m in refs.items():   # a map that ignores the model: unchanged
                    per_step[(ref, layer)].append(sanity.spearman(m, m))
        for (who, layer), rhos in per_step.items():
            self.values[(who, layer, "sanity_spearman")].append(torch.stack(rhos, 1).cpu())

    # -- averages
    def result(self, model: str, dataset: str, split: str) -> CamEvaluation:
        results: dict[str, dict[str, dict[str, Any]]] = {}
        curves: dict[str, dict[str, dict[str, list[float]]]] = {}
        order = ([(m, layer) for m in self.s.methods for layer in self.s.layers
                  if m in self.layer_methods.get(layer, ())]
                 + [(r, layer) for r in REFERENCE_MAPS.names() for layer in self.s.layers])
        flags = {layer: sanity.flag_step(self.loaded.model, self.steps, layer)
                 for layer in self.s.layers} if self.steps else {}
        for who, layer in order:
            row: dict[str, Any] = {}
            for metric in METRICS.names():
                vals = self.values.get((who, layer, metric))
                if not vals:
                    continue
                mean = torch.cat(vals).double().mean(0)
                row[metric] = [round(float(v), 6) for v in mean] if mean.dim() else \
                    round(float(mean), 6)
            if "sanity_spearman" in row:
                rho = row["sanity_spearman"][flags[layer]]
                row["sanity_flagged"] = bool(rho > self.s.sanity_threshold)
            results.setdefault(who, {})[layer] = row
            for kind in ("deletion_curve", "insertion_curve"):
                vals = self.values.get((who, layer, kind))
                if vals:
                    mean = torch.cat(vals).double().mean(0)
                    curves.setdefault(who, {}).setdefault(layer, {})[kind.split("_")[0]] = \
                        [round(float(v), 6) for v in mean]
        zero = {}
        for (method, layer), count in self.zero.items():
            if count:
                zero.setdefault(method, {})[layer] = count
                log.debug("%s at '%s': %d of %d maps are all zero (no positive evidence)",
                            method, layer, count, self.n)
        return CamEvaluation(model=model, dataset=dataset, split=split, n=self.n,
                             accuracy=self.correct / max(self.n, 1), settings=self.s,
                             results=results, curves=curves,
                             sanity_steps=[st.name for st in self.steps], flag_steps=flags,
                             zero_maps=zero, skipped=self.skipped)
