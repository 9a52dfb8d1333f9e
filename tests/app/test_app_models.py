"""The app's model list and cache, and `camviz app`, without a server."""

from __future__ import annotations

import os
import threading

import gradio as gr
import pytest
import torch

from camviz.app import ModelCache, _class_names, model_options
from camviz.cli import COMMAND_MODULES, main
from camviz.errors import CamvizError, UnknownNameError


@pytest.fixture
def ckpts(tmp_path, torch_home, save_tiny):
    folder = tmp_path / "checkpoints"
    save_tiny(folder, "lenet5-tiny", "lenet5", {}, 0)
    return folder


def test_options_are_checkpoints_and_imagenet_models_never_untrained_architectures(ckpts, save_tiny):
    save_tiny(ckpts, "resnet18", "lenet5", {}, 1)  # a checkpoint named like an ImageNet model
    opts = model_options(ckpts)
    assert list(opts)[:2] == ["lenet5-tiny", "resnet18"]
    assert opts["resnet18"].kind == "checkpoint" and opts["resnet18"].label == "resnet18"
    assert opts["resnet50"].kind == "imagenet" and not opts["resnet50"].available
    assert opts["resnet50"].label == "resnet50 (weights not cached; offline)"
    online = model_options(ckpts, offline=False)["resnet50"]
    assert online.available and online.label == "resnet50 (ImageNet, downloaded when chosen)"
    assert "lenet5" not in opts and "vgg11" not in opts
    cached = opts["densenet121"].path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # present in the cache → offered as usable
    assert model_options(ckpts)["densenet121"].label == "densenet121 (ImageNet)"


def test_repeated_class_names_stay_distinct_and_reachable():
    labels, values = _class_names(["crane", "cat", "crane"])
    assert labels == ["crane (#0)", "cat", "crane (#2)"]
    assert values == ["0", "cat", "2"]


def test_a_model_is_loaded_once_for_concurrent_requests(ckpts, monkeypatch):
    cache = ModelCache(ckpts, torch.device("cpu"))
    calls = []
    real = ModelCache._load

    def counting(self, opt, stamp):
        calls.append(opt.name)
        return real(self, opt, stamp)

    monkeypatch.setattr(ModelCache, "_load", counting)
    start = threading.Barrier(8)
    got = []

    def worker():
        start.wait()
        got.append(cache.get("lenet5-tiny"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["lenet5-tiny"] and len(got) == 8 and all(e is got[0] for e in got)
    # a checkpoint replaced on disk is loaded again
    path = ckpts / "lenet5-tiny.safetensors"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache.get("lenet5-tiny") is not got[0] and calls == ["lenet5-tiny"] * 2


def test_the_cache_refuses_names_outside_the_list(ckpts):
    cache = ModelCache(ckpts, torch.device("cpu"))
    for bad in (str(ckpts / "lenet5-tiny.safetensors"), "../checkpoints/lenet5-tiny", "lenet5"):
        with pytest.raises(UnknownNameError, match="unknown model"):
            cache.get(bad)
    for nothing in (None, ""):
        with pytest.raises(CamvizError, match="no model chosen; choose one from the Model list"):
            cache.get(nothing)


def test_cli_app_builds_and_launches_with_the_options(ckpts, monkeypatch, tmp_path):
    assert "app" in COMMAND_MODULES
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    seen = {}

    def fake_launch(demo, **kwargs):
        seen.update(kwargs, demo=demo)

    monkeypatch.setattr("camviz.app.launch", fake_launch)
    code = main(["app", "--checkpoints-dir", str(ckpts), "--host", "127.0.0.1", "--port", "7999",
                 "--device", "cpu"])
    assert code == 0 and isinstance(seen["demo"], gr.Blocks)
    assert (seen["host"], seen["port"], seen["share"]) == ("127.0.0.1", 7999, False)
    model = next(b for b in seen["demo"].blocks.values() if getattr(b, "elem_id", None) == "explain-model")
    assert model.value == "lenet5-tiny"   # the quick-start checkpoint is not there: the first
    main(["app", "--checkpoints-dir", str(ckpts), "--model", "resnet50", "--device", "cpu"])
    model = next(b for b in seen["demo"].blocks.values() if getattr(b, "elem_id", None) == "explain-model")
    assert model.value == "lenet5-tiny"   # not cached: cannot be opened, so not chosen


def test_the_default_model_is_the_quick_start_checkpoint(ckpts, save_tiny, monkeypatch, tmp_path):
    """Issue 13: the alphabetically first checkpoint (alexnet, whose CAM layer cannot do CAM)
    used to open; the README's quick-start checkpoint does, or the one `--model` names."""
    from camviz.app import DEFAULT_MODEL, build_app
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    save_tiny(ckpts, "alexnet-tiny", "lenet5", {}, 2)
    save_tiny(ckpts, DEFAULT_MODEL, "resnet14", {"width": 0.25}, 3)

    def chosen(demo):
        return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "explain-model").value

    assert chosen(build_app(ckpts)) == DEFAULT_MODEL == "resnet18-fashion-mnist"
    assert chosen(build_app(ckpts, model="lenet5-tiny")) == "lenet5-tiny"
    with pytest.raises(CamvizError, match="unknown model 'lenet9'"):
        build_app(ckpts, model="lenet9")


def test_cli_app_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["app", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    for option in ("--host", "--port", "--checkpoints-dir", "--share", "--device"):
        assert option in out


def test_a_cached_imagenet_model_is_offered_and_loaded_from_the_cache(ckpts, no_download):
    import torchvision
    opt = model_options(ckpts)["resnet18"]
    opt.path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), opt.path)
    assert model_options(ckpts)["resnet18"].label == "resnet18 (ImageNet)"
    entry = ModelCache(ckpts, torch.device("cpu")).get("resnet18")
    assert entry.loaded.source == "imagenet" and entry.loaded.cam_layer == "layer4"
    assert "layer4" in entry.layer_names
    assert "fc" not in entry.layer_names and "avgpool" not in entry.layer_names  # not spatial
    categories = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    assert entry.class_labels == entry.class_values == categories  # all distinct already


def test_samples_are_captioned_and_masks_are_not_samples():
    from pathlib import Path

    from camviz.app import sample_images
    from camviz.app.uploads import sample_caption
    samples = sample_images(Path(__file__).resolve().parents[2] / "samples")
    assert samples and not [p for p in samples if ".mask." in p.name]
    captions = {p.name: sample_caption(p) for p in samples}
    assert captions["9-ankle-boot-test0.png"] == "ankle boot (fashion-mnist)"
    assert captions["3-star.png"] == "star (shapes)" and captions["cat.jpg"] == "cat"
