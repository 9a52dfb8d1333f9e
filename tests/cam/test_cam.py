"""CAM: equals Grad-CAM on a GAP -> linear head; refuses heads it cannot read."""

import pytest
import torch
from camtest import hook_count, tiny, torchvision_model
from torch import nn

from camviz.cam import explain, find_classifier
from camviz.errors import CamvizError, UnknownNameError


@pytest.mark.parametrize("which", ["tiny", "resnet18"])
def test_cam_equals_gradcam_on_a_gap_linear_head(which):
    if which == "tiny":
        m, layer, size = tiny(), "features", 16
    else:
        m, layer, size = torchvision_model("resnet18", 96), "layer4", 96
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    e = explain(m, x, layer=layer, methods=("cam", "gradcam"), topk=3)
    h, w = e.raw["cam"].shape[-2:]
    # d logit_c / dA_kij = W_ck / (h w): Grad-CAM is CAM divided by the number of positions
    assert torch.allclose(e.raw["gradcam"] * h * w, e.raw["cam"], rtol=1e-4, atol=1e-6)
    assert torch.allclose(e.maps["gradcam"], e.maps["cam"], atol=1e-5)
    assert e.raw["cam"].amax() > 0


def test_classifier_lookup():
    m = tiny()
    assert find_classifier(m) == ("fc", m.fc)
    assert find_classifier(m, "fc") == ("fc", m.fc)
    assert find_classifier(m, m.fc) == ("fc", m.fc)
    with pytest.raises(UnknownNameError, match="did you mean 'fc'"):
        find_classifier(m, "fcc")
    with pytest.raises(CamvizError, match="'pool' is a AdaptiveAvgPool2d, not an nn.Linear"):
        find_classifier(m, "pool")
    with pytest.raises(CamvizError, match="has none; use gradcam"):
        find_classifier(nn.Sequential(nn.Conv2d(3, 3, 1)))


def test_cam_refuses_a_layer_not_followed_by_gap_and_the_classifier(net, images):
    # features.4 is followed by a ReLU: fc(mean(A)) is not the logits
    with pytest.raises(CamvizError, match=r"cam needs layer 'features.4'.*use gradcam"):
        explain(net, images, layer="features.4", methods=("cam",))
    assert hook_count(net) == 0
    # the gradient methods work there
    assert explain(net, images, layer="features.4", methods=("gradcam",)).maps["gradcam"].shape \
        == (2, 16, 16)


def test_cam_refuses_a_flattening_head(images):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.Flatten(),
                      nn.Linear(4 * 4 * 4, 5)).eval()
    with pytest.raises(CamvizError, match=r"'3' takes 64 features and the layer has 4 "
                                          r"channels; use gradcam"):
        explain(m, images, layer="1", methods=("cam",))
