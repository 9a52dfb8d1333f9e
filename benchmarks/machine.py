"""The header every benchmark prints first: when, on what CPU, under what load, on which code.

    python benchmarks/machine.py          # the header alone

Figures from a shared 2-core machine mean little without it: bf16 autocast is ~1.8x faster
than fp32 on CPUs with AVX512-BF16 and 5-10x slower on AVX2-only ones, and other processes
on the cores change absolute times (ratios measured within one run are what we report).
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu() -> tuple[str, list[str]]:
    model, flags = platform.processor() or "unknown", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "", "x86_64"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                flags = [f for f in FLAGS if f in present]
                break
    except OSError:
        pass
    return model, flags


def busy_processes(limit: int = 4) -> list[str]:
    """The other processes using CPU now (``ps``), so a figure says what shared the cores."""
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,pid,args", "--sort=-pcpu", "--no-headers"],
                             capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.splitlines():
        pcpu, pid, args = line.strip().split(None, 2)
        if int(pid) != os.getpid() and float(pcpu) >= 5.0:
            rows.append(f"{pcpu}% {args[:100]}")
    return rows[:limit]


def header(script: str) -> str:
    import torch
    model, flags = cpu()
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    others = busy_processes()
    lines = [
        f"# {script} - {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        (f"# cpu: {model}, {os.cpu_count()} cores; flags: {' '.join(flags) or 'none of ' + ', '.join(FLAGS)}"
         f" ({'has' if 'avx512_bf16' in flags else 'NO'} native bf16)"),
        f"# torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; code {commit}",
        f"# load average (1/5/15 min): {load}",
        "# other busy processes: " + ("; ".join(others) if others else "none (>= 5% CPU)"),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(header("machine.py"))
