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
