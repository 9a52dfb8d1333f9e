"""`camviz explain` over a folder of Fashion-MNIST test PNGs: images/s and peak memory.

    python benchmarks/explain_folder.py [--n 1000] [--small 100] [--old 50] [--pgc 200]
                                        [--eval-n 16 64] [--threads 1]

Work: the shipped ``resnet18-fashion-mnist`` explains the first N test images of
Fashion-MNIST (written as PNGs to a temporary folder from /usr/share/datasets/fashion-mnist)
with its default outputs: CAM, Grad-CAM and Grad-CAM++ at layer4 for the predicted class,
an overlay PNG (320 px) and the maps as .npy per method, manifest.json, summary.csv/json.

Measured in one run, one after the other (so the same load hits all):

* ``camviz explain`` (a subprocess, as a user runs it) on ``--small`` and on ``--n`` images:
  wall-clock images/s including start-up, the steady rate it prints, and peak RSS of the
  main process (GNU time's %M; the decoding workers are separate, smaller processes);
* the code before issue 14 (``--old-root``, default /work/main if it still has the
  all-or-nothing path) on ``--old`` images: the baseline the 10x target refers to;
* pytorch-grad-cam's per-image loop as its README's ``cam.py`` runs it (a ``GradCAM`` /
  ``GradCAMPlusPlus`` context per image, ``show_cam_on_image``, ``cv2.imwrite`` and
  ``np.save`` per method), in this process after its imports (start-up not counted: an
  advantage to it); it has no plain CAM, so it does two of camviz's three maps;
* ``camviz evaluate-cam`` (subprocess) on two ``--eval-n`` sizes: the images/s between them
  (start-up cancels) and including start-up.

``--threads N`` sets OMP_NUM_THREADS for every run (and torch's threads for the in-process
loop). On a shared, oversubscribed CPU use 1: with 2 intra-op threads on 2 busy cores
OpenMP's waiting made a 28-px ResNet-18 Grad-CAM call 20-40x slower here (measured
2026-11-30 at load 9-11: 1.8-2.6 s vs 0.02-0.11 s per call).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import header
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
THREADS: dict[str, str] = {}   # OMP_NUM_THREADS for the subprocesses, from --threads
FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def write_pngs(folder: Path, n: int) -> Path:
    with gzip.open(FASHION) as f:
        raw = f.read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    folder.mkdir(parents=True)
    for i, a in enumerate(images):
        Image.fromarray(a).save(folder / f"fm{i:05d}.png")
    return folder


def timed(cmd: list[str], root: Path) -> tuple[float, int, str]:
    """(wall s, peak RSS MiB, stdout) of a command run under GNU time."""
    env = {**os.environ, "PYTHONPATH": str(root), **THREADS}
    t = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "PEAK_KB %M", *cmd], env=env, cwd=root,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    peak = int(re.search(r"PEAK_KB (\d+)", done.stderr).group(1)) // 1024
    return wall, peak, done.stdout


def camviz_explain(root: Path, folder: Path, out: Path, *extra: str) -> tuple[float, int, str]:
    return timed([sys.executable, "-m", "camviz", "explain", str(folder), "--model",
                  "resnet18-fashion-mnist", "--checkpoints-dir", str(ROOT / "checkpoints"),
                  "--out", str(out), "--device", "cpu", *extra], root)


def pgc_loop(folder: Path, out: Path, n: int) -> float:
    """pytorch-grad-cam the way its README runs it, one image at a time; returns images/s."""
    import cv2
    import torch
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.image import show_cam_on_image

    from camviz.hub import load_model
    loaded = load_model("resnet18-fashion-mnist", checkpoints_dir=ROOT / "checkpoints",
                        device="cpu")
    model, layer = loaded.model.eval(), [loaded.model.get_submodule(loaded.cam_layer)]
    mean, std = np.float32(loaded.mean[0]), np.float32(loaded.std[0])
    out.mkdir(parents=True)
    paths = sorted(folder.iterdir())[:n]
    t = time.perf_counter()
    for path in paths:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        x = torch.from_numpy((grey.astype(np.float32) / 255 - mean) / std)[None, None]
        rgb = cv2.resize(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), (320, 320),
                         interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
        for name, method in (("gradcam", GradCAM), ("gradcampp", GradCAMPlusPlus)):
            with method(model=model, target_layers=layer) as cam:
                grey_cam = cam(input_tensor=x, targets=None)[0]
            np.save(out / f"{path.stem}_{name}.npy", grey_cam)
            vis = show_cam_on_image(rgb, cv2.resize(grey_cam, (320, 320)), use_rgb=True)
            cv2.imwrite(str(out / f"{path.stem}_{name}.png"), cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))
    return len(paths) / (time.perf_counter() - t)


def evaluate_cam(root: Path, n: int) -> float:
    wall, _, _ = timed([sys.executable, "-m", "camviz", "evaluate-cam", "--model",
                        "resnet18-fashion-mnist", "--checkpoints-dir", str(ROOT / "checkpoints"),
                        "--n", str(n), "--no-download", "--device", "cpu"], root)
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--old", type=int, default=50, help="images for the old code (0: skip)")
    ap.add_argument("--old-root", default="/work/main")
    ap.add_argument("--pgc", type=int, default=200, help="images for pytorch-grad-cam (0: skip)")
    ap.add_argument("--eval-n", type=int, nargs=2, default=(16, 64))
    ap.add_argument("--threads", type=int, help="intra-op threads of every run (default: "
                    "torch's choice)")
    args = ap.parse_args()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
        THREADS["OMP_NUM_THREADS"] = str(args.threads)
    print(header("explain_folder.py"), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="camviz-bench-"))
    try:
        big = write_pngs(tmp / "big", args.n)
        small = write_pngs(tmp / "small", args.small)
        rows = []
        for label, folder, n in (("small", small, args.small), ("big", big, args.n)):
            wall, peak, out = camviz_explain(ROOT, folder, tmp / f"out-{label}")
            rate = float(re.search(r"([0-9.]+) images/s", out).group(1))
            rows.append((n, wall, peak))
            print(f"camviz explain, {n:5d} images: {n / wall:6.1f} images/s with start-up "
                  f"({wall:.1f} s), {rate:.1f} images/s steady; peak RSS {peak} MiB", flush=True)
        (n1, _, p1), (n2, _, p2) = rows
        print(f"peak RSS {n2} vs {n1} images: {p2 / p1:.3f}x (target: within 10 %)")
        new_rate = rows[-1][0] / rows[-1][1]
        if args.old and (Path(args.old_root) / "camviz").is_dir():
            old_dir = write_pngs(tmp / "old", args.old)
            wall, peak, _ = camviz_explain(Path(args.old_root), old_dir, tmp / "out-old")
            print(f"before issue 14 ({args.old_root}), {args.old} images: {args.old / wall:.2f} "
                  f"images/s with start-up, peak RSS {peak} MiB; {args.n} images now: "
                  f"{new_rate / (args.old / wall):.1f}x (target: 10x)", flush=True)
        if args.pgc:
            rate = pgc_loop(big, tmp / "out-pgc", args.pgc)
            print(f"pytorch-grad-cam per-image loop, {args.pgc} images, 2 methods, no start-up: "
                  f"{rate:.2f} images/s; camviz {args.n} images (3 methods, with start-up) is "
                  f"{new_rate / rate:.1f}x", flush=True)
        a, b = args.eval_n
        ta, tb = evaluate_cam(ROOT, a), evaluate_cam(ROOT, b)
        print(f"camviz evaluate-cam (all metrics, 3 methods): {a} images {ta:.1f} s, {b} images "
              f"{tb:.1f} s: {(b - a) / (tb - ta):.2f} images/s without start-up, "
              f"{b / tb:.2f} with", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
