import json
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from camviz.checkpoint import load_checkpoint, read_meta, save_checkpoint
from camviz.cli import main
from camviz.errors import CheckpointError
from camviz.models import build_model


def _meta(arch="lenet5", **kw):
    kwargs = {"num_classes": 10, "in_channels": 1, "input_size": 28, **kw}
    return {"arch": arch, "arch_kwargs": kwargs, "classes": [f"c{i}" for i in range(kwargs["num_classes"])],
            "mean": [0.28], "std": [0.35], "dataset": "fashion-mnist", "metrics": {"test_accuracy": 0.5}}


@pytest.fixture
def lenet_ckpt(tmp_path):
    torch.manual_seed(0)
    model = build_model("lenet5", num_classes=10, in_channels=1, input_size=28)
    path = save_checkpoint(tmp_path / "lenet.safetensors", model, _meta())
    return model.eval(), path


@pytest.mark.parametrize("arch,kw", [("lenet5", {}),
                                     ("resnet18", {"in_channels": 3, "input_size": 32, "num_classes": 4})])
def test_round_trip_gives_identical_outputs(tmp_path, arch, kw):
    torch.manual_seed(1)
    meta = _meta(arch, **kw)
    model = build_model(arch, **meta["arch_kwargs"]).eval()
    x = torch.randn(3, meta["arch_kwargs"]["in_channels"], meta["arch_kwargs"]["input_size"],
                    meta["arch_kwargs"]["input_size"])
    path = save_checkpoint(tmp_path / "m.safetensors", model, meta)
    loaded = load_checkpoint(path)
    assert not loaded.model.training
    assert loaded.arch == arch and loaded.classes == meta["classes"]
    assert loaded.mean == tuple(meta["mean"]) and loaded.sha256 and len(loaded.sha256) == 64
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))


def test_half_checkpoint_is_smaller_and_close(tmp_path, lenet_ckpt):
    model, full = lenet_ckpt
    half = save_checkpoint(tmp_path / "half.safetensors", model, _meta(), half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert read_meta(half)["dtype"] == "float16"
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        out = load_checkpoint(half).model(x)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, model(x), atol=2e-2, rtol=2e-2)


def test_meta_holds_what_rebuilds_the_model(lenet_ckpt):
    _, path = lenet_ckpt
    meta = read_meta(path)
    for key in ("arch", "arch_kwargs", "classes", "mean", "std", "dataset", "metrics",
                "format_version", "camviz_version"):
        assert key in meta


def test_save_is_atomic_when_writing_fails(tmp_path, lenet_ckpt, monkeypatch):
    model, path = lenet_ckpt
    before = path.read_bytes()

    def boom(*a, **k):
        Path(a[1]).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("camviz.checkpoint.save_file", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, model, _meta())
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _expect_one_line(capsys, argv, *fragments):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert len(err.splitlines()) == 1 and err.startswith("camviz: error:")
    for frag in fragments:
        assert frag in err, err
    return err


def test_missing_checkpoint(tmp_path, capsys):
    _expect_one_line(capsys, ["info", "--checkpoint", str(tmp_path / "nope.safetensors")], "does not exist")


def test_empty_checkpoint(tmp_path, capsys):
    p = tmp_path / "empty.safetensors"
    p.write_bytes(b"")
    _expect_one_line(capsys, ["info", "--checkpoint", str(p)], "empty")


def test_truncated_checkpoint(tmp_path, capsys, lenet_ckpt):
    _, path = lenet_ckpt
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _expect_one_line(capsys, ["info", "--checkpoint", str(cut)], "truncated")


def test_corrupt_header(tmp_path, capsys):
    p = tmp_path / "junk.safetensors"
    p.write_bytes(struct.pack("<Q", 40) + b"{not json at all, surely not valid......}" + b"\0" * 64)
    _expect_one_line(capsys, ["info", "--checkpoint", str(p)], "not a readable safetensors file")


def test_torch_pt_file_is_refused(tmp_path, capsys, lenet_ckpt):
    model, _ = lenet_ckpt
    p = tmp_path / "weights.pt"
    torch.save(model.state_dict(), p)
    _expect_one_line(capsys, ["info", "--checkpoint", str(p)], "never unpickles")


class _Exploit:
    marker = None

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_does_not_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    _Exploit.marker = marker
    p = tmp_path / "evil.safetensors"
    p.write_bytes(pickle.dumps(_Exploit()))
    _expect_one_line(capsys, ["info", "--checkpoint", str(p)], "not a readable safetensors file")
    assert not marker.exists()


def test_safetensors_without_camviz_metadata(tmp_path, capsys):
    p = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(p))
    _expect_one_line(capsys, ["info", "--checkpoint", str(p)], "without camviz metadata")


def test_checkpoint_for_another_architecture(tmp_path, capsys, lenet_ckpt):
    model, _ = lenet_ckpt
    p = tmp_path / "wrong_arch.safetensors"
    save_checkpoint(p, model, _meta("vgg11"))
    _expect_one_line(capsys, ["info", "--checkpoint", str(p)], "do not fit", "another architecture")


@pytest.mark.parametrize("field,value", [("in_channels", 3), ("num_classes", 7)])
def test_checkpoint_with_incompatible_shape(tmp_path, capsys, lenet_ckpt, field, value):
    model, _ = lenet_ckpt
    meta = _meta(**{field: value})
    meta["classes"] = [f"c{i}" for i in range(meta["arch_kwargs"]["num_classes"])]
    p = tmp_path / "bad_shape.safetensors"
    save_checkpoint(p, model, meta)
    _expect_one_line(capsys, ["info", "--checkpoint", str(p)], "shape mismatch")


def test_debug_env_shows_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMVIZ_DEBUG", "1")
    with pytest.raises(CheckpointError):
        main(["info", "--checkpoint", str(tmp_path / "nope.safetensors")])


def test_newer_format_is_refused(tmp_path, lenet_ckpt):
    model, _ = lenet_ckpt
    p = tmp_path / "future.safetensors"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {**_meta(), "format_version": 99}
    save_file(state, str(p), metadata={"camviz": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="newer"):
        read_meta(p)


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_atomic_writes_get_the_umasks_mode_not_mkstemps_0600(tmp_path, mask):
    import os
    import stat

    from camviz.checkpoint import atomic_write
    old = os.umask(mask)
    try:
        path = atomic_write(tmp_path / "sub" / "f.txt", lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert not list(path.parent.glob(".*.tmp"))
