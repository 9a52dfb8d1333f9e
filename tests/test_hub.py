import pytest
import torch
import torchvision

from camviz.checkpoint import save_checkpoint
from camviz.errors import ModelUnavailableError, UnknownNameError
from camviz.hub import IMAGENET, imagenet_cache_path, list_models, load_model
from camviz.models import MODELS, build_model


def _write_imagenet_weights(name, state=None):
    path = imagenet_cache_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if state is None:
        torch.manual_seed(0)
        state = torchvision.models.get_model(name, weights=None).state_dict()
    torch.save(state, path)
    return path, state


def test_cache_path_follows_torch_home(torch_home):
    assert imagenet_cache_path("resnet18").is_relative_to(torch_home)
    assert imagenet_cache_path("resnet18").name.startswith("resnet18-")


def test_imagenet_weights_load_offline_from_cache(torch_home, no_download):
    _, state = _write_imagenet_weights("resnet18")
    loaded = load_model("resnet18", checkpoints_dir=torch_home)
    assert loaded.source == "imagenet" and len(loaded.classes) == 1000
    assert loaded.classes[281] == "tabby"
    assert loaded.cam_layer == "layer4" and loaded.input_size == 224
    assert torch.equal(loaded.model.state_dict()["fc.weight"], state["fc.weight"])
    assert not loaded.model.training


def test_densenet_old_key_names_are_mapped(torch_home, no_download):
    torch.manual_seed(0)
    state = torchvision.models.densenet121(weights=None).state_dict()
    old = {k.replace("norm1", "norm.1").replace("conv2", "conv.2") if "denselayer" in k else k: v
           for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert old != state
    _write_imagenet_weights("densenet121", old)
    loaded = load_model("densenet121", checkpoints_dir=torch_home)
    assert torch.equal(loaded.model.state_dict()["features.denseblock1.denselayer1.norm1.weight"],
                       state["features.denseblock1.denselayer1.norm1.weight"])


def test_missing_weights_without_network_say_what_to_do(torch_home, no_download):
    with pytest.raises(ModelUnavailableError) as err:
        load_model("resnet50", checkpoints_dir=torch_home)
    msg = str(err.value)
    assert str(imagenet_cache_path("resnet50")) in msg
    assert "--checkpoint" in msg and "internet" in msg


def test_architecture_only_needs_no_weights(torch_home, no_download):
    loaded = load_model("resnet50", checkpoints_dir=torch_home, pretrained=False)
    assert loaded.source == "untrained" and len(loaded.classes) == 1000
    assert sum(p.numel() for p in loaded.model.parameters()) == 25_557_032


def test_checkpoint_name_wins_over_imagenet(tmp_path, torch_home, no_download):
    model = build_model("lenet5")
    meta = {"arch": "lenet5", "arch_kwargs": {"num_classes": 10, "in_channels": 1, "input_size": 28},
            "classes": list("abcdefghij"), "mean": [0.5], "std": [0.5]}
    save_checkpoint(tmp_path / "resnet50.safetensors", model, meta)
    loaded = load_model("resnet50", checkpoints_dir=tmp_path)
    assert loaded.source == "checkpoint" and loaded.arch == "lenet5" and loaded.name == "resnet50"


def test_zoo_name_gives_untrained_architecture(tmp_path):
    loaded = load_model("mobilenet_v1", checkpoints_dir=tmp_path)
    assert loaded.source == "untrained" and loaded.cam_layer == MODELS.get("mobilenet_v1").cam_layer


def test_unknown_model_suggests_close_names(tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'resnet50'"):
        load_model("resnt50", checkpoints_dir=tmp_path)


def test_list_models_shows_every_source(tmp_path, torch_home):
    _write_imagenet_weights("resnet18")
    model = build_model("lenet5")
    meta = {"arch": "lenet5", "arch_kwargs": {"num_classes": 10, "in_channels": 1, "input_size": 28},
            "classes": list("abcdefghij"), "mean": [0.5], "std": [0.5], "dataset": "fashion-mnist"}
    save_checkpoint(tmp_path / "mine.safetensors", model, meta)
    save_checkpoint(tmp_path / "ours.safetensors", model, meta)
    (tmp_path / "shipped.json").write_text('{"checkpoints": {"ours": {}}}')
    rows = {(r.name, r.source) for r in list_models(tmp_path)}
    assert ("mine", "user checkpoint") in rows and ("ours", "shipped checkpoint") in rows
    assert ("resnet18", "ImageNet weights (cached)") in rows
    assert ("resnet50", "ImageNet weights (not cached)") in rows
    for name in MODELS.names():
        assert (name, "architecture only, untrained") in rows
    assert {n for n, _ in rows} >= set(IMAGENET.names())


def test_download_can_be_forbidden(torch_home, monkeypatch):
    from camviz.hub import load_imagenet

    def must_not_run(url, dest):
        raise AssertionError("download attempted")

    monkeypatch.setattr("camviz.hub._download", must_not_run)
    with pytest.raises(ModelUnavailableError, match="not cached at"):
        load_imagenet("resnet18", download=False)
