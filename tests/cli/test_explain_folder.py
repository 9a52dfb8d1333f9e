"""`camviz explain` at folder scale: bad files listed, kill + resume, torchrun shards, light --help."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from zoo_checkpoints import make_checkpoint

from camviz.cli import main
from camviz.dirlock import STATE_DIR

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "import sys; from camviz.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.safetensors", arch="lenet5")


def _images(folder: Path, n: int, bad: dict[str, bytes] | None = None) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"im{i:03d}.png")
    for name, data in (bad or {}).items():
        (folder / name).write_bytes(data)
    return folder


def digest(out: Path) -> dict[str, str]:
    """relative path -> sha256 of every output file; manifests without their time stamp."""
    result = {}
    for f in sorted(p for p in out.rglob("*") if p.is_file() and STATE_DIR not in p.parts):
        data = f.read_bytes()
        if f.name == "manifest.json":
            m = json.loads(data)
            m.pop("created_at")
            data = json.dumps(m, sort_keys=True).encode()
        result[f.relative_to(out).as_posix()] = hashlib.sha256(data).hexdigest()
    return result


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _cli(*argv) -> list[str]:
    return [sys.executable, "-c", ENTRY, "explain", *map(str, argv)]


def test_bad_files_are_listed_and_skipped(tmp_path, ckpt, capsys):
    src = _images(tmp_path / "in", 18, {"empty.png": b"", "junk.png": b"not a png"})
    whole = (src / "im000.png").read_bytes()
    (src / "cut.png").write_bytes(whole[:len(whole) // 2])   # truncated
    out = tmp_path / "out"
    code = main(["explain", str(src), "--checkpoint", str(ckpt), "--out", str(out),
                 "--method", "gradcam", "--workers", "0", "--device", "cpu"])
    printed = capsys.readouterr()
    assert code == 0
    rows = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in rows if r["status"] == "failed"] == ["cut", "empty", "junk"]
    assert sum(r["status"] == "ok" for r in rows) == 18
    for name in ("cut.png", "empty.png", "junk.png"):
        assert f"failed: {src / name}" in printed.out
    assert (out / "summary.csv").read_text().count("\n") == 1 + 21
    good = next(r for r in rows if r["name"] == "im017")
    assert good["name"] == "im017" and good["predicted"] == good["top5"][0][0]
    m = np.load(next((out / "im017").glob("*_gradcam.npy")))
    assert m.shape[-2:] == (28, 28) and 0.0 <= m.min() and m.max() <= 1.0
    assert not (out / "im017" / "grid.png").exists()   # no grid unless --grid
    assert {p.name for p in tmp_path.iterdir()} == {"in", "out"}


def test_folder_maps_equal_small_run_maps(tmp_path, ckpt):
    """The streamed path writes the same maps and overlays as the all-or-nothing one."""
    src = _images(tmp_path / "in", 3)
    args = [str(src), "--checkpoint", str(ckpt), "--method", "gradcam", "--batch-size", "1",
            "--device", "cpu"]
    assert main(["explain", *args, "--out", str(tmp_path / "small")]) == 0
    assert main(["explain", *args, "--out", str(tmp_path / "folder"), "--resume", "--grid",
                 "--workers", "0"]) == 0
    small, folder = digest(tmp_path / "small"), digest(tmp_path / "folder")
    assert {k: v for k, v in folder.items() if not k.startswith("summary.")} == small


KILL_ARGS = ["--method", "gradcam", "--batch-size", "1", "--workers", "0", "--device", "cpu"]
N_KILL = 40


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, ckpt, one_torch_thread):
    """N_KILL images and their outputs from one uninterrupted run (one torch thread, as the
    subprocesses below with OMP_NUM_THREADS=1)."""
    src = _images(tmp_path_factory.mktemp("kill") / "in", N_KILL)
    out = src.parent / "whole"
    assert main(["explain", str(src), "--checkpoint", str(ckpt), *KILL_ARGS, "--out", str(out)]) == 0
    return src, digest(out)


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGTERM, marks=pytest.mark.slow),
                                 signal.SIGKILL])   # both die at once: SIGKILL is the test
def test_kill_then_resume_gives_the_uninterrupted_outputs(tmp_path, ckpt, sig, uninterrupted):
    src, whole = uninterrupted
    args = [src, "--checkpoint", ckpt, *KILL_ARGS]
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli(*args, "--out", out), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    records = out / STATE_DIR / "done-rank0.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if records.exists() and records.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    done_before = records.read_text().count("\n")
    assert done_before < N_KILL
    assert {p.name for p in tmp_path.iterdir()} == {"out"}   # nothing beside --out

    resumed = subprocess.run(_cli(*args, "--out", out, "--resume"), env=_env(),
                             capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{done_before} done before this run" in resumed.stdout
    assert digest(out) == whole
    assert sorted(p.name for p in (out / STATE_DIR).iterdir()) == ["done-rank0.jsonl", "run.json"]
    assert {p.name for p in tmp_path.iterdir()} == {"out"}


def test_other_settings_in_the_same_out_are_refused(tmp_path, ckpt, capsys):
    src = _images(tmp_path / "in", 2)
    base = ["explain", str(src), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o"),
            "--resume", "--workers", "0", "--device", "cpu"]
    assert main([*base, "--method", "gradcam"]) == 0
    capsys.readouterr()
    assert main([*base, "--method", "gradcampp"]) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "--restart" in err and err.count("\n") == 1
    assert main([*base, "--method", "gradcampp", "--restart"]) == 0
    assert any((tmp_path / "o" / "im000").glob("*_gradcampp.png"))


@pytest.mark.slow
def test_torchrun_two_ranks_match_one_process(tmp_path, ckpt):
    src = _images(tmp_path / "in", 7, {"junk.png": b"junk"})
    args = [src, "--checkpoint", ckpt, "--batch-size", "2", "--workers", "0", "--resume",
            "--device", "cpu"]
    script = tmp_path / "entry.py"
    script.write_text(ENTRY + "\n")
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", str(script), "explain",
                          *map(str, args), "--out", str(tmp_path / "two")],
                         env=_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         check=False)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("explained 7 of 8 image(s)") == 1   # rank 0 reports once
    one = subprocess.run(_cli(*args, "--out", tmp_path / "one"), env=_env(), capture_output=True,
                         text=True, timeout=300, check=False)
    assert one.returncode == 0, one.stderr[-2000:]
    assert sorted((tmp_path / "two" / STATE_DIR).glob("done-rank*.jsonl")) != []
    a = json.loads((tmp_path / "one" / "summary.json").read_text())
    b = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert [r["name"] for r in a] == [r["name"] for r in b]
    for ra, rb in zip(a, b):
        assert ra["status"] == rb["status"] and ra.get("predicted") == rb.get("predicted")
        assert ra.get("probability") == pytest.approx(rb.get("probability"), abs=2e-4)
    for f in sorted((tmp_path / "one").glob("*/*.npy")):
        np.testing.assert_allclose(np.load(f), np.load(tmp_path / "two" / f.relative_to(tmp_path / "one")),
                                   rtol=1e-4, atol=1e-4)   # other batch partners: float rounding


def test_help_imports_no_torch():
    code = ("import sys; from camviz.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'cv2', 'matplotlib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "explain" in done.stdout and "evaluate-cam" in done.stdout


def test_sigterm_in_a_small_run_leaves_nothing(tmp_path, ckpt):
    """A few images are written all or nothing: SIGTERM unwinds like Ctrl-C and removes the
    staging folder instead of leaving `.out.staging-XXXX` beside --out."""
    src = _images(tmp_path / "in", 4)
    proc = subprocess.Popen(_cli(*sorted(src.iterdir()), "--checkpoint", ckpt, "--out",
                                 tmp_path / "out", "--device", "cpu"),
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(".out.staging-") for p in tmp_path.iterdir()):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "camviz: terminated" in err   # 128 + SIGTERM
    assert {p.name for p in tmp_path.iterdir()} == {"in"}


def test_a_signal_while_close_waits_still_records_every_finished_folder(tmp_path, ckpt, monkeypatch):
    """The race CI once hit: SIGTERM arrives while ``close`` waits for a queued image; the image
    then finishes in its thread and its folder lands in place — it must be recorded too."""
    import threading
    import types

    import camviz.folder_outputs as fo
    from camviz.checkpoint import load_checkpoint

    started = threading.Event()

    def slow_write(r, folder, *args, **kwargs):
        folder.mkdir()
        (folder / "map.npy").write_bytes(b"x")
        if r.name == "b":
            started.set()
            time.sleep(0.6)   # still writing when the signal arrives

    monkeypatch.setattr(fo, "write_image_folder", slow_write)
    monkeypatch.setattr(fo, "summary_row", lambda r, loaded: {"name": r.name, "status": "ok"})

    class Stop(Exception):
        pass

    def raise_stop(signum, frame):
        raise Stop

    writer = fo.FolderWriter(tmp_path / "out", loaded=load_checkpoint(ckpt), settings={})
    writer.write(types.SimpleNamespace(name="a"))
    writer.write(types.SimpleNamespace(name="b"))
    assert started.wait(5)
    old = signal.signal(signal.SIGALRM, raise_stop)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)   # fires while close() waits for "b"
        with pytest.raises(Stop):
            writer.close()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    folders = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != STATE_DIR)
    assert folders == ["a", "b"]
    assert sorted(r["name"] for r in fo.read_records(tmp_path / "out")) == folders


HOLD_WRITER = """
import sys, time
from camviz.checkpoint import load_checkpoint
from camviz.folder_outputs import FolderWriter
writer = FolderWriter(sys.argv[1], loaded=load_checkpoint(sys.argv[2]), settings={})
(writer.partial / "half-written").mkdir()   # an image it is writing
print("writing", flush=True)
time.sleep(120)
"""


def test_a_second_explain_into_an_out_being_written_is_refused_and_touches_nothing(
        tmp_path, ckpt, capsys):
    src, out = _images(tmp_path / "in", 2), tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", HOLD_WRITER, str(out), str(ckpt)],
                             env=_env(), stdout=subprocess.PIPE, text=True)
    args = ["explain", str(src), "--checkpoint", str(ckpt), "--out", str(out), "--resume",
            *KILL_ARGS]
    try:
        assert child.stdout.readline().strip() == "writing"
        before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
        assert main(args) == 1
        err = capsys.readouterr().err
        assert f"output folder '{out}' is being written by another process (pid {child.pid})" in err
        assert "--resume" in err and err.count("\n") == 1
        # the holder's unfinished image and its record were left alone
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
        assert (out / STATE_DIR / "partial-rank0" / "half-written").is_dir()
    finally:
        child.kill()
        child.wait()
    # killed: its lock went with it (its settings, {}, are not these: hence --restart)
    assert main([*args, "--restart"]) == 0
    assert len(list((out / STATE_DIR).glob("done-rank0.jsonl"))) == 1
    assert sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != STATE_DIR) == ["im000", "im001"]
    assert not list((out / STATE_DIR).glob("lock-*"))
