"""The top-level API the README promises."""

import torch
import torchvision

import camviz


def test_explain_on_any_module_returns_maps_per_method():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    images = torch.randn(2, 3, 64, 64)
    result = camviz.explain(model, images, layer="layer4", methods=("cam", "gradcam", "gradcampp"), topk=3)
    assert result.layer == "layer4"
    for method in ("cam", "gradcam", "gradcampp"):
        maps = result.maps[method]
        assert maps.shape == (2, 3, 64, 64)
        assert maps.min() >= 0 and maps.max() <= 1
    assert result.probs.shape == (2, 1000)
    assert torch.equal(result.targets, result.probs.topk(3, dim=1).indices)


def test_import_registers_models_and_methods():
    assert "resnet50" in camviz.MODELS and "gradcampp" in camviz.METHODS
    assert callable(camviz.explain) and callable(camviz.explain_images)
