"""`camviz explain` writes the same bytes as before the explain-path redesign (issue 13).

``explain_golden.json`` holds, for each command below, the SHA-256 of every file written
(``.npy`` maps, overlay PNGs, grid) and of the manifest with its run-specific fields (time,
paths) removed. It was generated from the code *before* the redesign with
``python tests/cli/test_explain_golden.py``; re-run that only when a change of the maps or
pictures is intended, and say so in the commit.

Float bits depend on the CPU's instruction set (oneDNN picks kernels by ISA) and PNG/grid
bytes on the numeric and drawing libraries, so the file also records the platform it was made
on (``PLATFORM_KEY``); on another platform the test skips and says how to regenerate there.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

import pytest
import torch

from camviz.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("explain_golden.json")
SAMPLES = "samples"

#: The README's quick start, then the options the explain path branches on: several images
#: and top-k, an explicit class and several layers, CAM dropped by default where it cannot
#: apply, a colour photo into a grey 28-px model and into an RGB model, alpha and colour map.
COMMANDS = {
    "quickstart": [f"{SAMPLES}/fashion-mnist/9-ankle-boot-test0.png",
                   "--model", "resnet18-fashion-mnist"],
    "folder_topk": [f"{SAMPLES}/fashion-mnist", "--model", "lenet5-fashion-mnist", "--topk", "2",
                    "--method", "gradcam", "--method", "gradcampp"],
    "class_layers": [f"{SAMPLES}/shapes/3-star.png", "--model", "resnet14-shapes", "--layer",
                     "layer3", "--layer", "layer4", "--method", "gradcam", "--method", "xgradcam",
                     "--class", "circle"],
    "cam_skipped": [f"{SAMPLES}/fashion-mnist/8-bag-test18.png", "--model",
                    "alexnet-fashion-mnist"],
    "photo_grey": [f"{SAMPLES}/cat.jpg", "--model", "resnet18-fashion-mnist",
                   "--alpha", "0.3", "--colormap", "viridis"],
    "photo_rgb": [f"{SAMPLES}/astronaut.jpg", "--model", "resnet14-shapes", "--method",
                  "layercam", "--method", "eigencam"],
}


PLATFORM_KEY = "_platform"
_LIBRARIES = ("torch", "numpy", "pillow", "matplotlib", "opencv-python-headless")
_ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve")


def platform_signature() -> dict[str, str]:
    """What the digests depend on besides camviz: library versions and the CPU's vector ISA."""
    sig = {"machine": platform.machine()}
    for lib in _LIBRARIES:
        try:
            sig[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            sig[lib] = "absent"
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        words = set()
    sig["isa"] = " ".join(f for f in _ISA_FLAGS if f in words)
    return sig


def _manifest_digest(path: Path) -> str:
    m = json.loads(path.read_text())
    m.pop("created_at", None)
    m.pop("camviz_version", None)
    m["image"].pop("source", None)
    m["model"].pop("checkpoint", None)
    return hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest()


def digest(out: Path) -> dict[str, str]:
    """``relative path -> sha256`` of everything ``camviz explain`` wrote under ``out``."""
    result = {}
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        key = f.relative_to(out).as_posix()
        result[key] = (_manifest_digest(f) if f.name == "manifest.json"
                       else hashlib.sha256(f.read_bytes()).hexdigest())
    return result


def run_command(name: str, out_root: Path) -> dict[str, str]:
    out = out_root / name
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same reduction order as when the digests were made
    try:
        code = main(["explain", *COMMANDS[name], "--out", str(out),
                     "--checkpoints-dir", str(ROOT / "checkpoints"), "--device", "cpu"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return digest(out)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_explain_outputs_unchanged(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    table = json.loads(GOLDEN.read_text())
    made_on, here = table[PLATFORM_KEY], platform_signature()
    if made_on != here:
        diff = {k: (made_on.get(k), here.get(k)) for k in here if made_on.get(k) != here.get(k)}
        pytest.skip(f"digests were made on another platform {diff}; regenerate here with "
                    f"`python tests/cli/test_explain_golden.py` from the pre-change code")
    golden = table[name]
    got = run_command(name, tmp_path)
    printed = capsys.readouterr().out
    assert got == golden["files"]
    assert hashlib.sha256(_table(printed).encode()).hexdigest() == golden["table"]


def _table(printed: str) -> str:
    """The printed predictions, without the output folder's path."""
    return "\n".join(line for line in printed.splitlines() if not line.startswith("wrote "))


if __name__ == "__main__":  # regenerate explain_golden.json (see the module docstring)
    import contextlib
    import io
    import os
    import tempfile
    os.chdir(ROOT)
    table = {PLATFORM_KEY: platform_signature()}
    with tempfile.TemporaryDirectory() as tmp:
        for name in COMMANDS:
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                files = run_command(name, Path(tmp))
            table[name] = {"files": files,
                           "table": hashlib.sha256(_table(buf.getvalue()).encode()).hexdigest()}
            print(name, len(files), "files", file=sys.stderr)
    GOLDEN.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
