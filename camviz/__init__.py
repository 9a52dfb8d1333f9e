"""camviz: train classic CNNs and see where they look (CAM, Grad-CAM, Grad-CAM++).

Public API re-exports only, loaded on first use (PEP 562), so ``import camviz`` and
``camviz --help`` start without torch.

- ``camviz.explain(model, images, layer=..., methods=..., targets=..., topk=...)``: maps of
  any ``torch.nn.Module`` from one forward pass (:mod:`camviz.cam`).
- ``camviz.explain_images(loaded, paths_or_images, ...)``: files in, predictions and maps out,
  as the CLI and the app use it (:mod:`camviz.explainer`; :mod:`camviz.outputs` draws and
  writes them).
- ``camviz.load_model(name_or_path)``: a checkpoint, an ImageNet model or a zoo architecture.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from camviz.errors import CamvizError
from camviz.version import __version__

if TYPE_CHECKING:
    from camviz.cam import METHODS, Explanation, explain
    from camviz.checkpoint import load_checkpoint, save_checkpoint
    from camviz.explainer import ImageExplanation, explain_images
    from camviz.handle import LoadedModel
    from camviz.hub import load_model
    from camviz.models import MODELS, build_model

#: public name -> the module that defines it
_LAZY = {
    "METHODS": "camviz.cam", "Explanation": "camviz.cam", "explain": "camviz.cam",
    "load_checkpoint": "camviz.checkpoint", "save_checkpoint": "camviz.checkpoint",
    "ImageExplanation": "camviz.explainer", "explain_images": "camviz.explainer",
    "LoadedModel": "camviz.handle", "load_model": "camviz.hub",
    "MODELS": "camviz.models", "build_model": "camviz.models",
}

__all__ = [
           "METHODS",
           "MODELS",
           "CamvizError",
           "Explanation",
           "ImageExplanation",
           "LoadedModel",
           "__version__",
           "build_model",
           "explain",
           "explain_images",
           "load_checkpoint",
           "load_model",
           "save_checkpoint",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'camviz' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value   # once: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
