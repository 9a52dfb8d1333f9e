"""``explain``: many CAM methods, classes and layers from one forward and one backward."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from camviz.cam.cam import find_classifier
from camviz.cam.diagnose import Diagnostic, diagnose, stochastic_modules
from camviz.cam.hooks import LayerSpec, frozen
from camviz.cam.methods import METHODS, LayerInputs, Method
from camviz.cam.normalize import check_normalize, normalize_maps, upsample
from camviz.cam.outputs import Output, check_output
from camviz.cam.passes import Probe, run_pass
from camviz.cam.targets import Objective, Targets, check_score, resolve_contrast, resolve_targets
from camviz.cam.tokens import RESHAPE_HINT, Reshape
from camviz.errors import CamvizError, MethodNotApplicable, NonFiniteError, unknown


@dataclass(frozen=True)
class Explanation:
    """CAM maps of one layer for a batch.

    ``maps[method]`` is (N, H, W) in [0, 1] at input resolution when one class per image
    was asked for, (N, K, H, W) with ``topk=K`` or per-image lists of classes. ``raw`` has
    the same layout at layer resolution, unnormalised (after the method's ReLU). ``targets``
    is always (N, K). ``pixels[method]`` holds input-space colour attributions
    (N, [K,] C, H, W), signed, for the guided methods. ``diagnostics`` says why a map may
    mislead (all-zero and why, constant, training mode, far target, input range, ...; see
    :mod:`camviz.cam.diagnose`). ``skipped[method]`` says why a method asked for with
    ``skip_inapplicable=True`` does not apply at this layer (it is then not in ``maps``).
    """

    maps: dict[str, Tensor]
    raw: dict[str, Tensor]
    logits: Tensor
    probs: Tensor
    targets: Tensor
    layer: str
    pixels: dict[str, Tensor] = dataclasses.field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


def explain(model: nn.Module, images: Tensor, *,
            layer: LayerSpec | Sequence[LayerSpec] | None = None,
            methods: str | Sequence[str] = ("gradcam",),
            targets: Targets = None, topk: int | None = None, score: str = "logit",
            normalize: str = "image", classifier: str | nn.Module | None = None,
            method_options: Mapping[str, Mapping[str, Any]] | None = None,
            output: Output = None, reshape: Reshape | None = None,
            counterfactual: bool = False, contrast: Targets = None,
            skip_inapplicable: bool = False,
            ) -> Explanation | dict[str, Explanation]:
    """Explain ``model``'s decisions on ``images`` with CAM methods, from one forward.

    Args:
        images: preprocessed float tensor (N, C, H, W) on the model's device.
        layer: a layer name or module, or a list of them (then a dict keyed by layer name is
            returned). ``None``: the last module whose output is spatial (N, C, h, w).
        methods: names from :data:`METHODS` (``METHODS.names()``).
        targets: ``None`` (predicted class), one int for all images, one int per image, or
            one list of K ints per image. ``topk=K`` explains the K best classes instead.
        score: ``"logit"`` or ``"softmax"`` (probability) - the score differentiated.
        normalize: ``"image"`` (each map to [0, 1]) or ``"batch"`` (one scale for all).
        classifier: the final ``nn.Linear`` CAM reads (name or module); default: the last
            ``nn.Linear`` of the model.
        method_options: per-method options, e.g. ``{"scorecam": {"top_channels": 64}}``.
        output: which part of the model's return value holds the logits: a tuple position
            or a dict key / attribute. Default: the tensor itself, a tuple's first element,
            a dict's or output object's ``logits`` (Hugging Face ``ModelOutput``).
        reshape: turns a layer's raw output into (N, C, h, w), applied to activations and
            gradients (pytorch-grad-cam's ``reshape_transform``). Default: automatic -
            transformer tokens (N, L, D) lose their prefix tokens and become the patch grid,
            channels-last (N, h, w, C) is permuted (:mod:`camviz.cam.tokens`).
        counterfactual: explain ``-score`` (Selvaraju et al. §5): where evidence *against*
            the class lies.
        contrast: a class (or one per image) c'; the maps explain ``S_c - S_c'``, "why c
            rather than c'".
        skip_inapplicable: a method that cannot apply at a layer (CAM without a GAP -> linear
            head) is left out with its reason in ``Explanation.skipped`` instead of raising
            :class:`~camviz.errors.MethodNotApplicable`; the other methods still come from
            the same single pass.

    The model's ``training`` flags and parameters' ``requires_grad`` are restored on return
    and no ``.grad`` is written; several threads may share one model.
    """
    _check_images(model, images)
    specs = _methods(methods)
    check_score(score)
    check_normalize(normalize)
    options = _options(specs, method_options)
    check_output(output)
    if reshape is not None and layer is None:
        raise CamvizError(f"reshape= needs layer=: name the layer whose output it turns into "
                          f"(N, C, h, w) ({RESHAPE_HINT})")
    if not isinstance(counterfactual, bool):
        raise CamvizError(f"counterfactual must be True or False, got {counterfactual!r}")
    many = isinstance(layer, (list, tuple))
    layers = None if layer is None else (list(layer) if many else [layer])
    if many and not layers:
        raise CamvizError("layer is an empty list; pass at least one layer name")

    asked: dict[str, Any] = {}  # "single" (one class per image), "objective"

    def choose(logits: Tensor) -> tuple[Tensor, Objective]:
        chosen, asked["single"] = resolve_targets(logits, targets, topk)
        objective = Objective(score, -1.0 if counterfactual else 1.0,
                              resolve_contrast(logits, contrast))
        asked["objective"] = objective
        return chosen, objective

    need_jac = score == "softmax" and any(
        m.needs_jacobian and options[m.name].get("derivatives") == "closed" for m in specs)
    images = images.detach()
    training = stochastic_modules(model)
    with frozen(model):
        run = run_pass(model, images, layers, choose,
                       gradients=any(m.needs_gradients for m in specs), jacobians=need_jac,
                       output=output, reshape=reshape)
        fc, no_fc = None, None
        if any(m.needs_classifier for m in specs):
            try:
                fc = find_classifier(model, classifier)
            except MethodNotApplicable as err:
                if not skip_inapplicable:
                    raise
                no_fc = str(err)
        objective = asked["objective"]
        probe = Probe(model, images, list(run.activations), objective, run.targets, output,
                      reshape)
        raw_by_layer, skipped = {}, {}
        for name, acts in run.activations.items():
            base = LayerInputs(layer=name, activations=acts, gradients=run.gradients.get(name),
                               targets=run.targets, logits=run.logits, score=score, probe=probe,
                               jacobian=run.jacobians.get(name), classifier=fc,
                               objective=objective, layout=run.layouts[name])
            raws, skipped[name] = {}, {}
            for m in specs:
                try:
                    if m.needs_classifier and no_fc:
                        raise MethodNotApplicable(no_fc)
                    raws[m.name] = m.compute(dataclasses.replace(base, options=options[m.name]))
                except MethodNotApplicable as err:
                    if not skip_inapplicable:
                        raise
                    skipped[name][m.name] = str(err)
            raw_by_layer[name] = raws
    notes = {name: tuple(diagnose(
        name, raws, activations=run.activations[name], gradients=run.gradients.get(name),
        logits=run.logits, targets=run.targets, score=score, images=images, training=training,
        in_place=name in run.modified_in_place)) for name, raws in raw_by_layer.items()}

    probs = run.logits.softmax(dim=1)
    size = tuple(images.shape[-2:])
    out = {}
    for name, raws in raw_by_layer.items():
        if not raws:  # no method applies at this layer
            out[name] = Explanation(maps={}, raw={}, logits=run.logits, probs=probs,
                                    targets=run.targets, layer=name, diagnostics=notes[name],
                                    skipped=skipped[name])
            continue
        # (M, N, K, H, W); guided methods' raw maps are already at input size
        up = torch.stack([upsample(r, size) for r in raws.values()])
        normed = normalize_maps(up, normalize, targets=run.targets,
                                labels=[f"{m} at '{name}'" for m in raws])
        maps = dict(zip(raws, normed.unbind(0)))
        pixels = {m: probe.cache[("pixels", m, name)] for m in raws
                  if ("pixels", m, name) in probe.cache}
        if asked["single"]:
            maps = {m: v[:, 0] for m, v in maps.items()}
            raws = {m: v[:, 0] for m, v in raws.items()}
            pixels = {m: v[:, 0] for m, v in pixels.items()}
        out[name] = Explanation(maps=maps, raw=raws, logits=run.logits, probs=probs,
                                targets=run.targets, layer=name, pixels=pixels,
                                diagnostics=notes[name], skipped=skipped[name])
    return out if many else next(iter(out.values()))


def _check_images(model: nn.Module, images: object) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        desc = (f"a {images.dtype} tensor of shape {tuple(images.shape)}"
                if isinstance(images, Tensor) else type(images).__name__)
        raise CamvizError(f"images must be a preprocessed float tensor (N, C, H, W), got {desc}")
    if images.shape[0] == 0:
        raise CamvizError("images is an empty batch")
    param = next(model.parameters(), None)
    if param is not None and param.device != images.device:
        raise CamvizError(f"images are on {images.device} but the model is on {param.device}; "
                          f"move them with images.to('{param.device}')")
    finite = torch.isfinite(images)
    if images.device.type != "meta" and not bool(finite.all()):
        first = int((~finite).flatten(1).any(dim=1).nonzero()[0, 0])
        raise NonFiniteError(f"images hold {int((~finite).sum())} NaN/inf value(s), the first in "
                             f"image {first}; replace them (torch.nan_to_num) or fix the "
                             "preprocessing that produced them")


def _methods(methods: str | Sequence[str]) -> list[Method]:
    names = [methods] if isinstance(methods, str) else list(methods)
    if not names:
        raise CamvizError(f"no method given; choose from {', '.join(METHODS.names())}")
    return [METHODS.get(n) for n in dict.fromkeys(names)]


def _options(specs: list[Method], given: Mapping[str, Mapping[str, Any]] | None,
             ) -> dict[str, dict[str, Any]]:
    given = dict(given or {})
    chosen = {m.name for m in specs}
    for name in given:
        if name not in chosen:
            raise CamvizError(f"method_options has options for '{name}', which is not among "
                              f"the methods asked for ({', '.join(sorted(chosen))})")
    out = {}
    for m in specs:
        opts = dict(m.options)
        for key, value in dict(given.get(m.name, {})).items():
            if not m.options:
                raise CamvizError(f"{m.name} takes no options, got '{key}'")
            if key not in m.options:
                raise unknown(f"{m.name} option", key, m.options, "see the method's docstring")
            opts[key] = value
        out[m.name] = opts
    return out
