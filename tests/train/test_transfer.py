"""`--init` (a checkpoint or ImageNet weights), `--freeze backbone` and `--backbone-lr`."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from camviz.checkpoint import read_meta
from camviz.cli import main
from camviz.errors import ConfigError
from camviz.train import train


def colour_folder(root, classes=("red", "green", "blue"), n=8, size=32):
    """An image folder whose classes differ from digits' ten."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k, cls in enumerate(classes):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
                arr[..., k] += 180
                Image.fromarray(arr).save(d / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A LeNet trained one epoch on digits (gray, 10 classes), registered as 'src'."""
    from camviz.train import TrainConfig
    root = tmp_path_factory.mktemp("src")
    cfg = TrainConfig(model="lenet5", dataset="digits", epochs=1, batch_size=64, lr=3e-3, limit=256,
                      model_options={"activation": "relu", "pooling": "max"}, input_size=28,
                      out=str(root / "run"), checkpoints_dir=str(root / "ckpts"), name="src",
                      download=False)
    r = train(cfg, quiet=True)
    return r.registered


def test_init_from_a_checkpoint_frozen_backbone_equals_the_source_head_rebuilt(tiny, tmp_path, source):
    folder = colour_folder(tmp_path / "colours")
    r = train(tiny(dataset=f"folder:{folder}", channels=1, input_size=28, limit=None, batch_size=8,
                   init=str(source), freeze="backbone", lr=1e-2, workers=0, epochs=2,
                   register=False), quiet=True)
    src = load_file(str(source))
    out = load_file(str(r.last_checkpoint))
    head = [k for k in out if k.startswith(_head())]
    assert head and all(out[k].shape[0] == 3 for k in head if k.endswith("weight"))
    for key, value in out.items():
        if key.startswith(_head()):
            continue
        # frozen for two epochs: every backbone parameter is the source's (BN-free LeNet)
        assert torch.equal(value.float(), src[key].float()), key
    meta = read_meta(r.last_checkpoint)
    assert meta["init"]["source"].startswith("checkpoint:") and meta["init"]["head_rebuilt"]
    assert meta["init"]["copied"] == len(out) - len(head)
    assert meta["classes"] == ["blue", "green", "red"]
    # the head did train
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"] * 1.5


def _head() -> str:
    from camviz.models import MODELS
    return MODELS.get("lenet5").classifier


def test_init_unfrozen_starts_from_the_source_then_trains_every_parameter(tiny, tmp_path, source):
    from camviz.models import build_model
    from camviz.train import transfer
    cfg = tiny(init=str(source), input_size=28)
    model = build_model("lenet5", num_classes=10, in_channels=1, input_size=28,
                        activation="relu", pooling="max")
    from camviz.data import load_dataset
    classes = load_dataset("digits").classes
    report = transfer.initialise(model, cfg, classes)
    src = load_file(str(source))
    state = model.state_dict()
    assert not report.head_rebuilt                     # same ten classes: the head is kept too
    assert all(torch.equal(state[k].float(), src[k].float()) for k in state)
    groups = transfer.param_groups(model, cfg.replace(backbone_lr=1e-4))
    assert [g.get("lr") for g in groups] == [1e-4, None]     # backbone at its own lr, head at --lr
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    r = train(tiny(init=str(source), input_size=28, backbone_lr=1e-3, register=False), quiet=True)
    out = load_file(str(r.last_checkpoint))
    first_conv = next(k for k in out if k.endswith("weight") and out[k].dim() == 4)
    assert not torch.equal(out[first_conv].float(), src[first_conv].float())   # the backbone trained


def test_init_imagenet_from_a_weights_file_in_torch_home(tmp_path, torch_home, no_download, tiny):
    import torchvision

    from camviz.hub import imagenet_cache_path
    cache = imagenet_cache_path("resnet18")
    cache.parent.mkdir(parents=True)
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(reference, cache)
    folder = colour_folder(tmp_path / "colours", size=32)
    r = train(tiny(model="resnet18", model_options={"stem": "imagenet", "width": 1.0},
                   dataset=f"folder:{folder}", input_size=32, limit=None, batch_size=8,
                   init="imagenet", freeze="backbone", workers=0, register=False), quiet=True)
    out = load_file(str(r.last_checkpoint))
    assert out["fc.weight"].shape == (3, 512)
    for key, value in out.items():
        if key.startswith("fc.") or "running_" in key or "num_batches" in key:
            continue          # batch-norm statistics follow the new data in train mode
        assert torch.equal(value, reference[key]), key
    assert read_meta(r.last_checkpoint)["init"]["source"] == "imagenet:ResNet18_Weights.IMAGENET1K_V1"


def test_init_imagenet_offline_without_the_file_is_one_line(tmp_path, torch_home, no_download, capsys):
    code = main(["train", "--model", "resnet18", "--dataset", "digits", "--init", "imagenet",
                 "--no-download", "--epochs", "1", "--out", str(tmp_path / "run"), "--no-register"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "not cached at" in err
    assert "resnet18-f37072fd.pth" in err


@pytest.mark.parametrize("changes, match", [
    ({"freeze": "backbone"}, "without --init"),
    ({"freeze": "all", "init": "x"}, "freeze must be none or backbone"),
    ({"backbone_lr": 0.0, "init": "x"}, "backbone_lr must be in"),
    ({"init": "x", "freeze": "backbone", "backbone_lr": 1e-3}, "no effect with --freeze"),
])
def test_bad_transfer_options_are_one_line_errors(tiny, changes, match):
    with pytest.raises(ConfigError, match=match):
        tiny(**changes)


def test_init_from_another_architecture_is_refused(tiny, source):
    with pytest.raises(ConfigError, match="is a lenet5, but this run trains a resnet18"):
        train(tiny(model="resnet18", model_options={}, init=str(source), register=False), quiet=True)
