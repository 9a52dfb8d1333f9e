"""camviz: train classic CNNs and see where they look (CAM, Grad-CAM, Grad-CAM++).

Public API re-exports only; nothing heavy runs at import.

- ``camviz.explain(model, images, layer=..., methods=..., targets=..., topk=...)``: maps of
  any ``torch.nn.Module`` from one forward pass (:mod:`camviz.cam`).
- ``camviz.explain_images(loaded, paths_or_images, ...)``: files in, predictions and maps out,
  as the CLI and the app use it (:mod:`camviz.explainer`; :mod:`camviz.outputs` draws and
  writes them).
- ``camviz.load_model(name_or_path)``: a checkpoint, an ImageNet model or a zoo architecture.
"""

from __future__ import annotations

from camviz.cam import METHODS, Explanation, explain
from camviz.checkpoint import load_checkpoint, save_checkpoint
from camviz.errors import CamvizError
from camviz.explainer import ImageExplanation, explain_images
from camviz.handle import LoadedModel
from camviz.hub import load_model
from camviz.models import MODELS, build_model
from camviz.version import __version__

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
