"""camviz: train classic CNNs and see where they look (CAM, Grad-CAM, Grad-CAM++).

Public API re-exports only; nothing heavy runs at import.
"""

from __future__ import annotations

__version__ = "0.1.0"

from camviz.errors import CamvizError  # noqa: E402
from camviz.hub import LoadedModel, load_model  # noqa: E402
from camviz.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402

__all__ = ["CamvizError", "LoadedModel", "load_checkpoint", "load_model", "save_checkpoint",
           "__version__"]
