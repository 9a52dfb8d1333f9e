"""The CAM engine: CAM, Grad-CAM, Grad-CAM++, Guided Grad-CAM and friends from one forward pass.

``explain(model, images, ...)`` is the one call; ``METHODS`` lists the methods; ``capture``
and ``frozen`` are the scoped hooks it is built on.
"""

from camviz.cam import cam as _cam  # noqa: F401, I001  (registration order = listing order)
from camviz.cam import gradcam as _gradcam  # noqa: F401
from camviz.cam import gradcampp as _gradcampp  # noqa: F401
from camviz.cam import scorecam as _scorecam  # noqa: F401
from camviz.cam import eigencam as _eigencam  # noqa: F401
from camviz.cam import guided as _guided  # noqa: F401
from camviz.cam.cam import find_classifier
from camviz.cam.diagnose import Diagnostic
from camviz.cam.engine import Explanation, explain
from camviz.cam.guided import guided_gradients, guided_relus
from camviz.cam.hooks import Capture, capture, frozen, layer_shapes, resolve_layers
from camviz.cam.methods import METHODS, LayerInputs, Method, register_method
from camviz.cam.normalize import NORMALIZE
from camviz.cam.targets import SCORES

__all__ = [
    "METHODS", "NORMALIZE", "SCORES", "Capture", "Diagnostic", "Explanation", "LayerInputs",
    "Method",
    "capture", "explain", "find_classifier", "frozen", "guided_gradients", "guided_relus",
    "layer_shapes", "register_method", "resolve_layers",
]
