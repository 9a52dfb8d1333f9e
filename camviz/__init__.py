"""camviz: train classic CNNs and see where they look (CAM, Grad-CAM, Grad-CAM++).

Public API re-exports only; nothing heavy runs at import.

- ``camviz.explain(model, images, layer=..., methods=..., targets=..., topk=...)``: maps of
  any ``torch.nn.Module`` from one forward pass (:mod:`camviz.cam`).
- ``camviz.explain_images(loaded, paths_or_images, ...)``: files in, predictions and maps out,
  as the CLI and the app use it (:mod:`camviz.explainer`).
- ``camviz.load_model(name_or_path)``: a checkpoint, an ImageNet model or a zoo architecture.
"""

from __future__ import annotations

__version__ = "0.1.0"

from camviz.cam import METHODS, Explanation, explain  # noqa: E402
from camviz.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from camviz.errors import CamvizError  # noqa: E402
from camviz.explainer import ImageExplanation, explain_images  # noqa: E402
from camviz.hub import LoadedModel, load_model  # noqa: E402
from camviz.models import MODELS, build_model  # noqa: E402

__all__ = ["METHODS", "MODELS", "CamvizError", "Explanation", "ImageExplanation", "LoadedModel",
           "build_model", "explain", "explain_images", "load_checkpoint", "load_model",
           "save_checkpoint", "__version__"]
