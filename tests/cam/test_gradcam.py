"""Grad-CAM on torchvision models against cloned-activation references, and the
gradient-family methods (XGrad-CAM, HiResCAM, LayerCAM) against pytorch-grad-cam."""

import functools
import warnings

import pytest
import torch
from camtest import pearson, tiny, torchvision_model
from torch.nn import functional as F

from camviz.cam import explain
from camviz.cam.gradcam import gradcam_weights, hirescam_map, layercam_map, xgradcam_weights

# arch, layer, input size, whether a later in-place op modifies the layer's output
CASES = [
    ("resnet18", "layer4", 128, False),
    ("resnet18", "layer4.1.bn2", 128, True),    # out += identity
    ("resnet50", "layer4", 128, False),
    ("densenet121", "features", 128, True),     # F.relu(features, inplace=True)
    ("vgg16", "features.29", 128, False),
    ("mobilenet_v3_large", "features", 128, False),
]


@functools.cache
def model(arch: str, size: int):
    return torchvision_model(arch, size)


@pytest.fixture(autouse=True, scope="module")
def _drop_models():
    """The cached torchvision models (VGG-16 alone is 0.5 GB) live for this module only."""
    yield
    model.cache_clear()


def images(size: int) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(7))


def captum_gradcam(m, layer, x, targets):
    from captum.attr import LayerGradCam

    module = dict(m.named_modules())[layer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = LayerGradCam(m, module).attribute(x, target=targets.tolist(),
                                                relu_attributions=True)
    return out[:, 0].detach()


def pgc_map(cls, m, layer, x, targets):
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    module = dict(m.named_modules())[layer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with cls(m, [module]) as cam:
            return cam(x, targets=[ClassifierOutputTarget(int(c)) for c in targets])


@pytest.mark.parametrize("arch, layer, size, trap", CASES)
def test_gradcam_matches_cloned_reference_and_pgc_only_where_pgc_is_right(arch, layer, size, trap):
    from pytorch_grad_cam import GradCAM

    m, x = model(arch, size), images(size)
    e = explain(m, x, layer=layer, methods=("gradcam",))
    targets = e.targets[:, 0]
    ref = captum_gradcam(m, layer, x, targets)
    assert e.raw["gradcam"].shape == ref.shape
    for i in range(2):
        assert pearson(e.raw["gradcam"][i], ref[i]) >= 0.995
    pgc = pgc_map(GradCAM, m, layer, x, targets)
    r_pgc = [pearson(pgc[i], e.maps["gradcam"][i]) for i in range(2)]
    if trap:  # pytorch-grad-cam keeps the output after the in-place op: the test can tell
        assert max(r_pgc) < 0.95, r_pgc
    else:
        assert min(r_pgc) >= 0.995, r_pgc


def test_resnet_block_trap_against_a_hand_written_forward():
    m, x = model("resnet18", 128), images(128)
    e = explain(m, x, layer="layer4.1.bn2", methods=("gradcam",))
    with torch.no_grad():
        h = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        skip = m.layer4[0](m.layer3(m.layer2(m.layer1(h))))
        blk = m.layer4[1]
        a = blk.bn2(blk.conv2(blk.relu(blk.bn1(blk.conv1(skip)))))
    a.requires_grad_(True)
    with torch.enable_grad():
        logits = m.fc(F.relu(a + skip).mean(dim=(2, 3)))  # no in-place op anywhere
        g, = torch.autograd.grad(logits.gather(1, e.targets).sum(), a)
    want = F.relu((gradcam_weights(g)[:, :, None, None] * a).sum(1)).detach()
    assert torch.allclose(e.raw["gradcam"], want, rtol=1e-4, atol=1e-5 * float(want.max()))


def test_densenet_trap_against_a_hand_written_forward():
    m, x = model("densenet121", 128), images(128)
    e = explain(m, x, layer="features", methods=("gradcam",))
    with torch.no_grad():
        a = m.features(x)
    a.requires_grad_(True)
    with torch.enable_grad():
        logits = m.classifier(F.relu(a).mean(dim=(2, 3)))
        g, = torch.autograd.grad(logits.gather(1, e.targets).sum(), a)
    want = F.relu((gradcam_weights(g)[:, :, None, None] * a).sum(1)).detach()
    assert torch.allclose(e.raw["gradcam"], want, rtol=1e-4, atol=1e-5 * float(want.max()))


@pytest.mark.parametrize("name, pgc_name", [
    ("gradcam", "GradCAM"), ("xgradcam", "XGradCAM"), ("hirescam", "HiResCAM"),
    ("layercam", "LayerCAM"),
])
def test_gradient_methods_agree_with_pgc_without_traps(name, pgc_name):
    import pytorch_grad_cam

    m, x = tiny(width=16), torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    e = explain(m, x, layer="features", methods=(name,), targets=[1, 4])
    pgc = pgc_map(getattr(pytorch_grad_cam, pgc_name), m, "features", x, e.targets[:, 0])
    for i in range(2):
        assert pearson(e.maps[name][i], pgc[i]) >= 0.99


def test_formulas_on_hand_made_tensors():
    a = torch.tensor([[[[1.0, 3.0]], [[2.0, -2.0]]]])         # (1, C=2, 1, 2)
    g = torch.tensor([[[[[0.5, -1.0]], [[1.0, 2.0]]]]])       # (1, K=1, 2, 1, 2)
    assert torch.allclose(gradcam_weights(g), torch.tensor([[[-0.25, 1.5]]]))
    # channel 0: (1*0.5 + 3*-1) / 4; channel 1 sums to 0 -> weight 0
    assert torch.allclose(xgradcam_weights(a, g), torch.tensor([[[-0.625, 0.0]]]))
    assert torch.allclose(hirescam_map(a, g), torch.tensor([[[[2.5, 0.0]]]]))  # 0.5+2, -3-4
    assert torch.allclose(layercam_map(a, g), torch.tensor([[[[2.5, 0.0]]]]))  # 0.5+2, 0-4
