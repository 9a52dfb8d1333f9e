"""Starting a run from trained weights: ``--init imagenet`` or ``--init CHECKPOINT``.

The new model is built for the new data (classes, channels, input size) as usual; then every
tensor of the source whose name and shape match is copied into it. The classifier (the
spec's ``classifier`` layer, e.g. ``fc``) is rebuilt - left at its fresh initialisation -
unless the source predicts exactly the same classes. A first convolution trained on RGB
that now gets 1-channel input is summed over its input channels (gray = R = G = B gives
the same response). ``--freeze backbone`` trains the classifier only; ``--backbone-lr``
gives the other parameters their own learning rate.

Nothing here reads a file the user did not name: ``imagenet`` means torchvision's
IMAGENET1K_V1 weights of the same architecture, from its cache (downloaded once when online,
with the same offline error as ``camviz explain``); anything else is a camviz checkpoint
name or path, resolved as ``--model`` resolves it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from camviz.errors import ConfigError
from camviz.hub import IMAGENET, load_imagenet, load_model
from camviz.models import MODELS
from camviz.train.config import TrainConfig

log = logging.getLogger(__name__)

@dataclass
class InitReport:
    """What ``--init`` did: recorded in the run's checkpoints as ``meta['init']``."""

    source: str
    copied: int = 0                       # tensors copied
    head_rebuilt: bool = True
    skipped: list[str] = field(default_factory=list)   # model tensors left at their init

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "copied": self.copied, "head_rebuilt": self.head_rebuilt,
                "skipped": self.skipped}


def head_name(cfg: TrainConfig) -> str:
    return MODELS.get(cfg.model).classifier


def _is_head(key: str, head: str) -> bool:
    return key == head or key.startswith(head + ".")


def _source(cfg: TrainConfig) -> tuple[dict[str, torch.Tensor], list[str] | None, str]:
    """(state dict, its classes or None, description) of ``cfg.init``."""
    if cfg.init == "imagenet":
        if cfg.model not in IMAGENET:
            raise ConfigError(
                f"--init imagenet needs an architecture torchvision publishes ImageNet weights for "
                f"({', '.join(n for n in IMAGENET.names())}), not '{cfg.model}'; pass --init "
                f"CHECKPOINT or drop --init")
        loaded = load_imagenet(cfg.model, download=cfg.download)
        return loaded.model.state_dict(), list(loaded.classes), f"imagenet:{loaded.meta['weights']}"
    loaded = load_model(cfg.init, checkpoints_dir=cfg.checkpoints_dir, pretrained=True)
    if loaded.source != "checkpoint":
        raise ConfigError(f"--init '{cfg.init}' is not a camviz checkpoint (it resolves to a "
                          f"{loaded.source} model); pass a checkpoint name from `camviz models`, a "
                          f".safetensors path, or imagenet")
    if loaded.arch != cfg.model:
        raise ConfigError(f"--init checkpoint '{cfg.init}' is a {loaded.arch}, but this run trains a "
                          f"{cfg.model}; pass --model {loaded.arch} or another checkpoint")
    where = loaded.checkpoint or cfg.init
    return loaded.model.state_dict(), list(loaded.classes), f"checkpoint:{where}"


def initialise(model: nn.Module, cfg: TrainConfig, classes: tuple[str, ...]) -> InitReport | None:
    """Copy ``cfg.init``'s weights into ``model`` (see the module docstring); None without init."""
    if not cfg.init:
        return None
    state, source_classes, description = _source(cfg)
    head = head_name(cfg)
    keep_head = source_classes is not None and list(source_classes) == list(classes)
    report = InitReport(description, head_rebuilt=not keep_head)
    own = model.state_dict()
    new = {}
    for key, target in own.items():
        src = state.get(key)
        if src is None or (_is_head(key, head) and not keep_head):
            report.skipped.append(key)
            continue
        if src.shape != target.shape and src.dim() == 4 and target.dim() == 4 \
                and target.shape[1] == 1 and src.shape[1] == 3 and src.shape[2:] == target.shape[2:]:
            src = src.sum(dim=1, keepdim=True)          # an RGB first conv for gray input
        if src.shape != target.shape:
            report.skipped.append(key)
            continue
        new[key] = src.to(dtype=target.dtype)
        report.copied += 1
    backbone = [k for k in own if not _is_head(k, head) and not k.endswith("num_batches_tracked")]
    if not any(k in new for k in backbone):
        raise ConfigError(
            f"--init {cfg.init}: no tensor of the source fits this {cfg.model} (first difference: "
            f"{_first_mismatch(own, state)}); check --opt (width, stem) and --input-size against "
            f"how the source was built")
    model.load_state_dict(new, strict=False)
    skipped = [k for k in report.skipped if not _is_head(k, head)]
    if skipped:
        log.warning("--init %s: %d tensor(s) did not fit and keep their fresh initialisation: %s",
                    cfg.init, len(skipped), ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    return report


def _first_mismatch(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str:
    for key, t in own.items():
        if key not in state:
            return f"'{key}' is not in the source"
        if state[key].shape != t.shape:
            return f"'{key}' is {tuple(state[key].shape)} there, {tuple(t.shape)} here"
    return "none"


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: the head at ``lr``, the rest at ``backbone_lr`` (or
    ``lr``); with ``freeze='backbone'`` the rest is frozen (``requires_grad=False``)."""
    head = head_name(cfg)
    head_params, body = [], []
    for name, p in model.named_parameters():
        (head_params if _is_head(name, head) else body).append(p)
    if not head_params:
        raise ConfigError(f"model '{cfg.model}' has no parameters under its classifier '{head}'")
    if cfg.freeze == "backbone":
        for p in body:
            p.requires_grad_(False)
        return [{"params": head_params}]
    groups = [{"params": head_params}]
    if body:
        groups.insert(0, {"params": body, **({"lr": cfg.backbone_lr} if cfg.backbone_lr else {})})
    return groups
