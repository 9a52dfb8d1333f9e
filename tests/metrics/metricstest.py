"""Small models, data and a weight-blind CAM method shared by the metric tests."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from camviz.cam.methods import LayerInputs, Method
from camviz.data.shapes import SHAPE_CLASSES
from camviz.hub import LoadedModel
from camviz.models import build_model


class RegionModel(nn.Module):
    """Class 0's logit is ``scale`` x the sum of the pixels inside ``region``; class 1's is 0.

    Only the region matters to the model, so a map equal to the region is the perfect
    explanation of class 0: a fixed 1x1 conv (channel sum), a fixed mask and a linear head.
    """

    def __init__(self, region: torch.Tensor, scale: float = 0.05):
        super().__init__()
        self.sum = nn.Conv2d(3, 1, 1, bias=False)
        self.head = nn.Linear(1, 2)
        with torch.no_grad():
            self.sum.weight.fill_(1.0)
            self.head.weight.copy_(torch.tensor([[scale], [0.0]]))
            self.head.bias.zero_()
        self.register_buffer("region", region.float())

    def forward(self, x):
        return self.head((self.sum(x)[:, 0] * self.region).sum(dim=(1, 2))[:, None])


class TinyNet(nn.Module):
    """conv-BN-ReLU x 3 (``features``) -> GAP -> ``fc``; 8x8 maps for 32x32 inputs."""

    def __init__(self, classes: int = 5, width: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1, stride=2), nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1, stride=2), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def loaded(model: nn.Module, *, name: str = "tiny", size: int = 32, cam_layer: str = "features",
           classifier: str = "fc", classes=SHAPE_CLASSES, dataset: str = "shapes") -> LoadedModel:
    """A LoadedModel around an in-memory model (as load_model would return it)."""
    return LoadedModel(model=model.eval(), name=name, source="untrained", arch="test",
                       classes=list(classes), input_size=size, in_channels=3,
                       mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), cam_layer=cam_layer,
                       classifier=classifier, meta={"dataset": dataset})


def tiny_loaded(seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    return loaded(TinyNet())


def zoo_loaded(seed: int = 0) -> LoadedModel:
    """A random-weight ResNet-14 (quarter width) for the shapes classes at 32 px."""
    torch.manual_seed(seed)
    model = build_model("resnet14", num_classes=5, in_channels=3, input_size=32, width=0.25)
    return loaded(model, name="resnet14-test", cam_layer="layer4")


def sobel_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of the channel mean, (N, H, W): an "explanation" of the image alone."""
    gray = images.mean(dim=1, keepdim=True)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=images.device)
    k = torch.stack([kx, kx.T])[:, None]
    g = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), k)
    return g.norm(dim=1)


def _edges(x: LayerInputs) -> torch.Tensor:
    edges = sobel_magnitude(x.probe.images)[:, None]
    small = F.adaptive_avg_pool2d(edges, x.activations.shape[-2:])
    return small[:, None, 0].expand(-1, x.targets.shape[1], -1, -1).contiguous()


#: A CAM "method" that never looks at the weights (register it with monkeypatch only).
EDGES = Method("edges", _edges, "Sobel edges", "test stand-in", needs_gradients=False)
