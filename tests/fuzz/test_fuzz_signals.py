"""Ctrl-C and SIGTERM in the middle of `camviz explain`: one line, no traceback, no staging
folder or half an output left. The signals are real (sent to this process from inside the
writer, in-process; and once to a child process end to end)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import run_cli

CAMVIZ = [sys.executable, "-c", "from camviz.cli import entry; entry()"]


def env_for(ws: Path) -> dict:
    env = dict(os.environ, CAMVIZ_CHECKPOINTS=str(ws / "ckpts"), TORCH_HOME=str(ws / "th"),
               OMP_NUM_THREADS="1", CAMVIZ_OFFLINE="1")
    env.pop("CAMVIZ_DEBUG", None)
    return env


SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


@pytest.mark.parametrize("sig,code,word", SIGNALS)
def test_signal_in_process(sig, code, word, ws, assets, monkeypatch):
    import camviz.outputs
    write_one, calls = camviz.outputs.write_image_folder, []

    def write_then_signal(*args, **kwargs):   # the second image's folder is half written
        calls.append(1)
        write_one(*args, **kwargs)
        if len(calls) == 2:
            os.kill(os.getpid(), sig)
            time.sleep(5)   # the handler raises here

    monkeypatch.setattr(camviz.outputs, "write_image_folder", write_then_signal)
    # SIGINT as a fresh `camviz` process has it: pytest-xdist reuses worker processes, and an
    # earlier test file's library (anyio's runner, Gradio's node server) may have left its own
    # SIGINT handler behind (one that exits 0); seen once in a full run under load
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    handler = signal.getsignal(signal.SIGTERM)
    out = ws / "outs" / "explained"
    try:
        res = run_cli(["explain", str(assets / "img" / "rgb.png"), str(assets / "img" / "gray.png"),
                       str(assets / "img" / "photo.jpg"), "--model", "tinyrgb", "--out", str(out)])
    finally:
        signal.signal(signal.SIGINT, previous_int)
    assert res.rc == code and res.err_lines == [f"camviz: {word}"], res.err
    assert len(calls) == 2 and not out.parent.exists()
    assert signal.getsignal(signal.SIGTERM) is handler   # main() restored it


def test_sigterm_to_a_child_process(ws, assets):
    """60 images make a folder run (issue 14): each image is recorded once its folder is in
    place, so SIGTERM leaves complete folders, their records and nothing half-written."""
    sig, code, word = SIGNALS[1]
    images = ws / "many"
    images.mkdir()
    for i in range(60):
        shutil.copy(assets / "img" / "rgb.png", images / f"{i:03d}.png")
    out = ws / "outs" / "explained"
    proc = subprocess.Popen([*CAMVIZ, "explain", str(images), "--model", "tinyrgb", "--batch-size",
                             "1", "--workers", "0", "--out", str(out)], env=env_for(ws), cwd=ws,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    records = out / ".camviz" / "done-rank0.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:   # wait until it is writing
        if records.is_file() and records.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()][-1] == f"camviz: {word}", err
    assert [p.name for p in out.parent.iterdir()] == ["explained"]   # nothing beside --out
    done = [line for line in records.read_text().splitlines() if line.strip()]
    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != ".camviz")
    assert 1 <= len(done) < 60 and len(folders) == len(done)   # recorded = complete, no half
    assert not any(p.name.startswith("partial") and any(p.iterdir())
                   for p in (out / ".camviz").iterdir() if p.is_dir())
