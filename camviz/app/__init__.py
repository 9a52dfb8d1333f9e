"""The camviz web app: upload an image, pick a model and a layer, see where it looks.

:func:`build_app` returns a ``gr.Blocks`` with two tabs:

* **Explain** — one model: an overlay per CAM method beside the top-5 predictions, with
  the maps (``.npy``) and overlays (``.png``) to download;
* **Compare** — one image through several models (or several layers of one model), side
  by side with each model's predictions.

Safe by default: nothing is fetched from the network (Gradio's telemetry is switched off
before it is imported; image URLs sent to the API are refused); only checkpoints in the
configured directory and ImageNet weights can be chosen, and the server checks every model
name against that list, so no path a user types is ever opened; uploads are capped
(:data:`MAX_FILE_SIZE`) and decoded by :func:`camviz.images.load_image`, the CLI's guarded
loader, so a bad file is a one-line message in the page, never a traceback. Models are
loaded once (under a lock) and shared by concurrent requests; the CAM engine's hooks are
per call and per thread.

Modules: :mod:`~camviz.app.models` (what is offered, the cache), :mod:`~camviz.app.uploads`,
:mod:`~camviz.app.handlers` (the events), :mod:`~camviz.app.layout` (the page).
"""

from __future__ import annotations

import os

# Gradio calls a version-check and a telemetry host at start, and gradio_client calls the
# Hugging Face hub, unless told not to; these must be set before gradio is imported, so
# importing the app (never `import camviz`) sets them where the user has not.
for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                     ("HF_HUB_OFFLINE", "1"), ("NO_PROXY", "127.0.0.1,localhost")):
    os.environ.setdefault(_key, _value)

from camviz.app.handlers import KEEP_SECONDS, MAX_COMPARE, TOP_K, Handlers
from camviz.app.layout import DEFAULT_MODEL, MAX_FILE_SIZE, build_app, launch
from camviz.app.models import (
    CAM_LAYER,
    PREDICTED,
    ModelCache,
    ModelOption,
    ModelView,
    _class_names,
    model_options,
)
from camviz.app.uploads import image_input, sample_images

__all__ = ["CAM_LAYER", "DEFAULT_MODEL", "KEEP_SECONDS", "MAX_COMPARE", "MAX_FILE_SIZE", "PREDICTED", "TOP_K",
           "Handlers", "ModelCache", "ModelOption", "ModelView", "_class_names", "build_app",
           "image_input", "launch", "model_options", "sample_images"]
