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


def test_unknown_model_one_line_with_suggestion(capsys, tmp_path):
    assert main(["layers", "--model", "resnt50", "--checkpoints-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown model 'resnt50'" in err and "did you mean 'resnet50'" in err and "camviz models" in err
