"""The default CAM layers of the ImageNet transformers (camviz.hub) carry non-zero maps."""

import warnings

import pytest
import torch
from torch import nn

from camviz.cam import explain
from camviz.hub import IMAGENET, load_model

NEW = ("vit_b_16", "swin_t", "convnext_tiny", "maxvit_t")  # tokens, channels last, NCHW, NCHW


@pytest.mark.parametrize("name", NEW)
def test_default_layer_gives_a_non_zero_map_on_the_7x7_or_14x14_grid(name):
    assert name in IMAGENET.names()
    torch.manual_seed(0)
    lm = load_model(name, pretrained=False)
    head = dict(lm.model.named_modules())[lm.classifier]
    assert isinstance(head, nn.Linear) and head.out_features == len(lm.classes) == 1000
    nn.init.normal_(head.weight, std=0.02)   # torchvision zero-initialises the ViT head
    x = torch.randn(1, 3, lm.input_size, lm.input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")         # no all-zero map warning
        e = explain(lm.model, x, layer=lm.cam_layer, methods=("gradcam",), topk=3)
    assert e.raw["gradcam"].shape[-2:] in {(7, 7), (14, 14)}
    assert (e.raw["gradcam"].flatten(2).amax(2) > 0).all()
    assert e.diagnostics == ()
