"""Every command's `--help` starts without torch: its choices and defaults come from camviz.catalog."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from camviz.cli.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "cv2", "matplotlib", "gradio")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_imports_no_torch(command):
    code = ("import sys; from camviz.cli import main\n"
            f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit as e:\n    code = e.code\n"
            f"print('exit', code, sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}, check=True)
    assert done.stdout.strip().splitlines()[-1] == "exit 0 []", done.stdout[-500:] + done.stderr
    assert done.stdout.startswith(f"usage: camviz {command} ")


@pytest.mark.parametrize("argv", [["study", "configs/studies/lenet_fashion_mnist.yaml", "--dry-run"],
                                  ["models"]])
def test_output_into_a_closed_pipe_stops_quietly(argv):
    """`camviz ... | head`: the reader has gone before camviz writes; exit 141, no traceback
    (--help needs nothing: argparse drops a failed write itself)."""
    read, write = os.pipe()
    os.close(read)   # closed before camviz starts: its first write meets a broken pipe
    try:
        done = subprocess.run([sys.executable, "-c", "from camviz.cli import entry; entry()", *argv],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT,
                              check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr[-800:]
