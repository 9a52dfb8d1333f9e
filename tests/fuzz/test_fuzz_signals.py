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
    write_one, calls = camviz.outputs._write_one, []

    def write_then_signal(*args, **kwargs):   # the second image's folder is half written
        calls.append(1)
        write_one(*args, **kwargs)
        if len(calls) == 2:
            os.kill(os.getpid(), sig)
            time.sleep(5)   # the handler raises here

    monkeypatch.setattr(camviz.outputs, "_write_one", write_then_signal)
    handler = signal.getsignal(signal.SIGTERM)
    out = ws / "outs" / "explained"
    res = run_cli(["explain", str(assets / "img" / "rgb.png"), str(assets / "img" / "gray.png"),
                   str(assets / "img" / "photo.jpg"), "--model", "tinyrgb", "--out", str(out)])
    assert res.rc == code and res.err_lines == [f"camviz: {word}"], res.err
    assert len(calls) == 2 and not out.parent.exists()
    assert signal.getsignal(signal.SIGTERM) is handler   # main() restored it


def test_sigterm_to_a_child_process(ws, assets):
    sig, code, word = SIGNALS[1]
    images = ws / "many"
    images.mkdir()
    for i in range(60):
        shutil.copy(assets / "img" / "rgb.png", images / f"{i:03d}.png")
    out = ws / "outs" / "explained"
    proc = subprocess.Popen([*CAMVIZ, "explain", str(images), "--model", "tinyrgb", "--batch-size",
                             "1", "--out", str(out)], env=env_for(ws), cwd=ws,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    staging = []
    while time.monotonic() < deadline and proc.poll() is None:   # wait until it is writing
        staging = list(out.parent.glob(".explained.staging-*/*")) if out.parent.exists() else []
        if staging:
            break
        time.sleep(0.05)
    assert staging, "explain never started writing"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()][-1] == f"camviz: {word}", err
    assert not out.parent.exists()   # no staging folder, no half an output, not even outs/
