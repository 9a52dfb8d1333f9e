"""Wall time and peak memory of a command and all its child processes (docs/testing.md).

    python benchmarks/suite_resources.py -- .venv/bin/python -m pytest -q

Samples the resident set size (RSS) of the command's whole process tree every 0.2 s from
/proc and prints the wall time, the peak of the tree's summed RSS and the peak of its largest
single process (pytest-xdist runs a controller and one process per worker).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from machine import header


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss(root: int) -> tuple[float, float]:
    """(sum, largest) RSS in MiB over ``root`` and its descendants."""
    tree, todo, sizes = children_of(), [root], []
    while todo:
        pid = todo.pop()
        sizes.append(rss_mib(pid))
        todo += tree.get(pid, [])
    return sum(sizes), max(sizes, default=0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("give the command to measure after --")
    print(header("benchmarks/suite_resources.py -- " + " ".join(cmd)), flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_sum = peak_one = 0.0
    while proc.poll() is None:
        total, one = tree_rss(proc.pid)
        peak_sum, peak_one = max(peak_sum, total), max(peak_one, one)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    print(f"\nexit {proc.returncode}; wall {wall:.0f} s; peak RSS of the process tree "
          f"{peak_sum / 1024:.2f} GiB (largest single process {peak_one / 1024:.2f} GiB)")
    return proc.returncode


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    raise SystemExit(main())
