"""Start-up of `camviz --help` and of every command's `--help`: this code vs an older commit.

    python benchmarks/cli_startup.py [--before REF] [--reps 5]

Each case is a fresh ``python -m camviz [COMMAND] --help`` (as a user's shell runs it), its
wall time measured from outside; the two trees alternate rep by rep so the same load hits
both (after one untimed warm-up each), and the median of ``--reps`` is printed with the before/after ratio. ``--before`` is a
git ref whose ``camviz/`` is exported (``git archive``) to a temporary folder; the default,
8fa4bbc, is the last commit before camviz.catalog, when explain, train, evaluate and
evaluate-cam imported torch to list their choices. For scale: a bare ``python -c pass`` and
``python -c "import torch"``, measured the same way.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from machine import ROOT, header


def export(ref: str, dest: Path) -> Path:
    """``camviz/`` of ``ref`` under ``dest`` (no checkout, no worktree)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "camviz"], capture_output=True,
                         check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(dest, filter="data")
    return dest


def wall(argv: list[str], root: Path | None) -> float:
    env = {**os.environ, "COLUMNS": "100"}
    if root is not None:
        env["PYTHONPATH"] = str(root)
    t = time.perf_counter()
    subprocess.run(argv, env=env, cwd=root or ROOT, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="8fa4bbc", help="git ref of the old code (default: 8fa4bbc)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from camviz.cli.commands import COMMANDS

    print(header("cli_startup.py"))
    print(f"# median of {args.reps} fresh processes each; before = {args.before}, after = this tree")
    py = [sys.executable]
    for label, argv in (("python -c pass", py + ["-c", "pass"]),
                        ("python -c 'import torch'", py + ["-c", "import torch"])):
        print(f"{label:<28} {statistics.median(wall(argv, None) for _ in range(args.reps)):6.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        old = export(args.before, Path(tmp))
        print(f"{'command':<28} {'before':>8} {'after':>8} {'before/after':>13}")
        worst = 0.0
        for cmd in ["", *COMMANDS]:
            argv = py + ["-m", "camviz", *([cmd] if cmd else []), "--help"]
            wall(argv, old), wall(argv, ROOT)   # warm-up: byte-code written, files cached
            times: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.reps):
                times["before"].append(wall(argv, old))
                times["after"].append(wall(argv, ROOT))
            b, a = statistics.median(times["before"]), statistics.median(times["after"])
            worst = max(worst, a)
            name = f"camviz {cmd + ' ' if cmd else ''}--help"
            print(f"{name:<28} {b:7.2f}s {a:7.2f}s {b / a:12.1f}x")
        print(f"slowest --help now: {worst:.2f} s")


if __name__ == "__main__":
    main()
