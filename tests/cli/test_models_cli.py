import json

import pytest

from camviz.cli import main
from camviz.hub import IMAGENET
from camviz.models import MODELS


def test_models_lists_every_zoo_name(capsys, tmp_path, torch_home):
    assert main(["models", "--checkpoints-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    names = {line.split()[0] for line in out.splitlines()}
    assert set(MODELS.names()) <= names
    assert "efficientnet_b0" in names


def test_layers_marks_layer4_for_resnet50(capsys, tmp_path, torch_home, no_download):
    assert main(["layers", "--model", "resnet50", "--checkpoints-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 1 and marked[0].split()[1] == "layer4"
    assert "2048x7x7" in marked[0]


@pytest.mark.parametrize("name, token_layer, shape", [
    ("vit_b_16", "encoder.layers.encoder_layer_11.ln_1", "197x768"),  # CLS + 14x14 tokens
    ("swin_t", "norm", "7x7x768"),                                    # channels-last map
])
def test_layers_lists_transformer_token_layers(capsys, tmp_path, torch_home, no_download,
                                               name, token_layer, shape):
    assert main(["layers", "--model", name, "--checkpoints-dir", str(tmp_path)]) == 0
    rows = {line[2:].split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows[token_layer].startswith("*") and rows[token_layer].split()[-1] == shape
    # not only the default: every block's token output is offered, the dropouts are not hidden
    # by a 3-D shape rule any more, and a 1-D output (the logits head) still is not listed
    assert sum(line.split()[-1] == shape for line in rows.values()) > 5
    assert not any(len(line.split()[-1].split("x")) == 1 for line in rows.values())


@pytest.mark.parametrize("name", MODELS.names())
def test_layers_works_for_every_zoo_architecture(capsys, tmp_path, name):
    assert main(["layers", "--model", name, "--checkpoints-dir", str(tmp_path)]) == 0
    marked = [line for line in capsys.readouterr().out.splitlines() if line.startswith("*")]
    # a name torchvision also has resolves to the ImageNet model (see camviz.hub)
    expected = IMAGENET.get(name).cam_layer if name in IMAGENET else MODELS.get(name).cam_layer
    assert [m.split()[1] for m in marked] == [expected]


def test_info_counts_resnet50_params_and_flops(capsys, tmp_path, torch_home, no_download):
    assert main(["info", "--model", "resnet50", "--json", "--checkpoints-dir", str(tmp_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == 25_557_032
    # torchvision documents 4.09 GMACs for ResNet-50 at 224; the counter reports FLOPs = 2 x MACs
    assert 8.0e9 < info["flops"] < 8.4e9
    assert info["input"] == [3, 224, 224]


def _loaded(model, size, channels=3):
    from camviz.hub import LoadedModel
    return LoadedModel(model=model.eval(), name="hand", source="untrained", arch="hand",
                       classes=[str(i) for i in range(5)], input_size=size, in_channels=channels,
                       mean=(0.5,) * channels, std=(0.5,) * channels, cam_layer=None, classifier=None)


def test_macs_and_flops_of_a_hand_counted_model():
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    from camviz.summary import count_flops, count_macs
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2, bias=False), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    loaded = _loaded(net, 20)
    conv1 = 8 * 20 * 20 * (3 * 9)             # out elements x (in/groups x k x k)
    bn = 4 * 8 * 20 * 20                      # thop 0.1: 2 per element, doubled with affine
    conv2 = 16 * 10 * 10 * (4 * 9)
    pool = 16 * (10 * 10 + 1)                 # thop: adaptive pool kernel + 1 per output
    fc = 5 * 16
    assert count_macs(loaded) == conv1 + bn + conv2 + pool + fc
    # torch's counter: 2 per multiply-add of the convolutions and the linear layer only
    assert count_flops(loaded) == 2 * (conv1 + conv2 + fc)
    # at another input size both follow the new shapes (and agree with torch at that size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, 3, 32, 32))
    assert count_flops(loaded, 32) == counter.get_total_flops() == 2 * (
        8 * 32 * 32 * 27 + 16 * 16 * 16 * 36 + 80)


@pytest.mark.parametrize("arch", ["lenet5", "resnet18"])
def test_flop_counter_is_twice_the_conv_and_linear_macs_of_zoo_models(arch):
    import torch

    from camviz.models import build_model
    from camviz.summary import _macs, count_flops
    model = build_model(arch, num_classes=10, in_channels=1, input_size=28).eval()
    loaded = _loaded(model, 28, channels=1)
    conv_linear = 0

    def hook(m, i, o):
        nonlocal conv_linear
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            conv_linear += _macs(m, i, o)
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in handles:
        h.remove()
    assert count_flops(loaded) == 2 * conv_linear > 0


def test_info_input_size_gives_report_002s_resnet50_figure(capsys, tmp_path, torch_home, no_download):
    assert main(["info", "--model", "resnet50", "--input-size", "196", "--checkpoints-dir",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "25,557,032" in out
    assert "input        3x196x196" in out
    macs = float(next(line.split()[1] for line in out.splitlines() if line.startswith("macs")))
    assert round(macs, 2) == 3.51   # the report's thop figure, printed by thop as "3.51G"


def test_info_input_size_a_fixed_classifier_cannot_take(capsys, tmp_path):
    assert main(["info", "--model", "lenet5", "--input-size", "64", "--checkpoints-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot take a 64x64 input" in err and "omit --input-size" in err


def test_unknown_model_one_line_with_suggestion(capsys, tmp_path):
    assert main(["layers", "--model", "resnt50", "--checkpoints-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown model 'resnt50'" in err and "did you mean 'resnet50'" in err and "camviz models" in err
