"""The model zoo: one architecture family per module, registered in :data:`MODELS` on import.

``build_model("resnet18", num_classes=10, in_channels=1, input_size=28, width=0.5)`` builds
any of them; ``MODELS.get(name)`` gives its :class:`ModelSpec` (default CAM layer, classifier
layer, default input size and channels, smallest input).
"""

from camviz.models.spec import MODELS, ModelSpec, build_model, register_model

# isort: off
# Importing a family registers its architectures; MODELS.names() follows this order (by year).
from camviz.models import lenet, alexnet, vgg, nin, googlenet  # noqa: F401
from camviz.models import resnet, mobilenet, densenet  # noqa: F401
# isort: on

__all__ = ["MODELS", "ModelSpec", "build_model", "register_model"]
