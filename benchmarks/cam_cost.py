"""What CAM + Grad-CAM + Grad-CAM++ cost on CPU, relative to one plain inference forward.

    python benchmarks/cam_cost.py [--quick] [--reps N]

Work: CAM, Grad-CAM and Grad-CAM++ at ``layer4`` for the top-1 and the top-5 classes of
every image, on random-weight (seeded) torchvision ResNet-50 (batch 8) and ResNet-18
(batch 1) at 224x224, eval mode. The same work is done with

* camviz: one ``explain(...)`` call (one forward, one batched backward to ``layer4``);
* pytorch-grad-cam: ``GradCAM`` and ``GradCAMPlusPlus``, one call per class (each a forward
  and a ``loss.backward()``); it has no plain CAM. For top-5 the classes are given (found
  once, outside the timing - an advantage to it);
* TorchCAM: ``CAM``, ``GradCAM`` and ``GradCAMpp`` extractors on one forward, one backward
  per extractor and class with ``retain_graph``.

Time is wall clock with one intra-op thread by default (``--threads``, see its help); all
configurations are run in turn, repetition after repetition, and
the median is reported (and the fastest run, the least disturbed by other processes), so
load on a shared CPU hits all alike.
Peak memory is the highest total size of live torch tensors during the call, replayed from
``torch.profiler``'s memory timeline (every CPU tensor allocation and free; numpy arrays,
which only pytorch-grad-cam's post-processing makes, are not seen); the profiler runs in
separate, untimed calls. Both are printed as ratios to one ``torch.no_grad()`` forward.

Score-CAM, ResNet-18 batch 1, every configuration warmed up once before timing: camviz
on all 512 channels against pytorch-grad-cam's ``ScoreCAM`` (all 512 channels) - the same
work - and camviz's approximation ``top_channels=64`` (masked forwards for the 64 most active
channels only) with the Pearson r of its map to the all-channel map.

Every output starts with benchmarks/machine.py's header (date, CPU flags, load, commit);
benchmarks/results/ keeps the raw outputs the README's figures come from.

Targets: top-1 <= 1.15x, top-5 <= 1.3x, peak memory <= 1.2x of a forward.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import warnings

import numpy as np
import torch
import torchvision
from machine import header

from camviz.cam import explain

METHODS = ("cam", "gradcam", "gradcampp")
TARGETS = {"top-1": 1.15, "top-5": 1.3, "memory": 1.2}
LABELS = {"camviz": "camviz (CAM + Grad-CAM + Grad-CAM++, one call)",
          "pytorch-grad-cam": "pytorch-grad-cam (Grad-CAM + Grad-CAM++; it has no CAM)",
          "torchcam": "TorchCAM (CAM + Grad-CAM + Grad-CAM++)"}


def build(arch: str, batch: int, size: int = 224) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    return model, x


# -- the work, per library -----------------------------------------------------------------

def plain(model, x, k, idx):
    with torch.no_grad():
        model(x)


def camviz(model, x, k, idx):
    explain(model, x, layer="layer4", methods=METHODS, topk=k if k > 1 else None)


def pgc(model, x, k, idx):
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with GradCAM(model, [model.layer4]) as gc, GradCAMPlusPlus(model, [model.layer4]) as pp:
        for j in range(k):
            targets = None if k == 1 else [ClassifierOutputTarget(int(c)) for c in idx[:, j]]
            gc(x, targets=targets)
            pp(x, targets=targets)
    model.zero_grad(set_to_none=True)  # it leaves parameter gradients behind


def torchcam(model, x, k, idx):
    from torchcam.methods import CAM, GradCAM, GradCAMpp

    with CAM(model, "layer4", fc_layer="fc") as c, GradCAM(model, "layer4") as g, \
            GradCAMpp(model, "layer4") as gp:
        out = model(x)
        top = out.topk(k, dim=1).indices
        for j in range(k):
            cls = top[:, j].tolist()
            c(cls, out)
            g(cls, out, retain_graph=True)
            gp(cls, out, retain_graph=j < k - 1)


LIBS = {"camviz": camviz, "pytorch-grad-cam": pgc, "torchcam": torchcam}


# -- measuring -----------------------------------------------------------------------------

def peak_bytes(fn) -> int:
    """Highest total size of live torch tensors created during ``fn()``."""
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import Action

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                 with_stack=True) as prof:
        fn()
    live = best = 0
    for _, action, _, size in sorted(prof._memory_profile().timeline, key=lambda r: r[0]):
        if action == Action.CREATE:
            live += size
        elif action == Action.DESTROY:
            live -= size
        best = max(best, live)
    return best


def quiet(fn):
    """Run fn without the libraries' progress bars, log lines and warnings."""
    def run():
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            fn()
    return run


def cost_table(cases, reps: int) -> list[tuple]:
    rows = []
    for arch, batch in cases:
        model, x = build(arch, batch)
        with torch.no_grad():
            idx = model(x).topk(5, dim=1).indices
        configs = {("forward", 1): quiet(lambda model=model, x=x, idx=idx: plain(model, x, 1, idx))}
        for k in (1, 5):
            for lib, fn in LIBS.items():
                configs[(lib, k)] = quiet(lambda fn=fn, k=k, model=model, x=x, idx=idx: fn(model, x, k, idx))
        for run in configs.values():  # warm-up
            run()
        times = {key: [] for key in configs}
        for _ in range(reps):
            for key, run in configs.items():
                t = time.perf_counter()
                run()
                times[key].append(time.perf_counter() - t)
        mem = {key: peak_bytes(run) for key, run in configs.items()}
        base = times[("forward", 1)]
        t0, f0, m0 = statistics.median(base), min(base), mem[("forward", 1)]
        for (lib, k), ts in times.items():
            if lib != "forward":
                rows.append((arch, batch, f"top-{k}", lib, statistics.median(ts) / t0,
                             min(ts) / f0, mem[(lib, k)] / m0))
        rows.append((arch, batch, "forward", "", f"{t0:.3f} s", f"{f0:.3f} s", m0 / 2 ** 20))
        print(f"  {arch} batch {batch}: done", flush=True)
    return rows


def scorecam(reps: int, top: int = 64) -> dict[str, float]:
    """Median seconds of camviz (all channels, top ``top``) and pytorch-grad-cam (all), and
    the maps' Pearson r: camviz-all vs pgc, camviz-top vs camviz-all."""
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, x = build("resnet18", 1)
    with torch.no_grad():
        cls = int(model(x).argmax(1))
    out = {}

    def ours(key, options):
        def run():
            out[key] = explain(model, x, layer="layer4", methods=("scorecam",), targets=[cls],
                               method_options={"scorecam": options}).maps["scorecam"][0].numpy()
        return run

    def theirs():
        with ScoreCAM(model, [model.layer4]) as cam:
            out["pgc"] = cam(x, targets=[ClassifierOutputTarget(cls)])[0]

    runs = {"camviz all": quiet(ours("camviz all", {})),
            f"camviz top {top}": quiet(ours(f"camviz top {top}", {"top_channels": top})),
            "pgc": quiet(theirs)}
    for run in runs.values():   # warm-up, every configuration alike
        run()
    times = {k: [] for k in runs}
    for _ in range(reps):
        for k, run in runs.items():
            t = time.perf_counter()
            run()
            times[k].append(time.perf_counter() - t)

    def r(a, b):
        return float(np.corrcoef(out[a].ravel(), out[b].ravel())[0, 1])

    med = {k: statistics.median(v) for k, v in times.items()}
    return {**med, "r_all_pgc": r("camviz all", "pgc"), "r_top_all": r(f"camviz top {top}", "camviz all")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="ResNet-18 only, 2 repetitions, Score-CAM once")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions (default 5)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1; 0 = torch's choice). On a shared CPU "
                         "a multi-threaded kernel waits for its slowest, descheduled thread and "
                         "run-to-run noise (50%% and more) swamps 10%% effects; one thread measures "
                         "the work itself")
    args = ap.parse_args(argv)
    reps = args.reps or (2 if args.quick else 5)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cases = [("resnet18", 1)] if args.quick else [("resnet50", 8), ("resnet18", 1)]
    print(header("benchmarks/cam_cost.py " + " ".join(argv if argv is not None else __import__("sys").argv[1:])))
    print(f"{reps} repetitions")

    rows = cost_table(cases, reps)
    print("\nCAM methods at layer4, ratio to one no-grad forward; library rows:")
    for lib, label in LABELS.items():
        print(f"  {lib}: {label}")
    print(f"{'model':<10} {'batch':>5} {'classes':<8} {'library':<17} {'time':>8} "
          f"{'(fastest)':>9} {'peak mem':>9}")
    for arch, batch, work, lib, t, fast, m in rows:
        if work == "forward":
            print(f"{arch:<10} {batch:>5} {'forward':<8} {'(one forward)':<17} {t:>8} "
                  f"{fast:>9} {m:>5.1f} MiB")
            continue
        flag = "" if lib != "camviz" else (
            "  ok" if t <= TARGETS[work] and m <= TARGETS["memory"] else "  MISSED TARGET")
        print(f"{arch:<10} {batch:>5} {work:<8} {lib:<17} {t:>7.2f}x {fast:>8.2f}x "
              f"{m:>8.2f}x{flag}")
    print("time: median of the repetitions over the median forward; (fastest): fastest over "
          "fastest, the least disturbed runs")
    print(f"targets for camviz: top-1 <= {TARGETS['top-1']}x, top-5 <= {TARGETS['top-5']}x, "
          f"peak memory <= {TARGETS['memory']}x")

    sc = scorecam(1 if args.quick else 2)
    print("\nScore-CAM, resnet18 batch 1, layer4, one class (median seconds after a warm-up run each):")
    print(f"  camviz, all 512 channels      {sc['camviz all']:7.2f} s")
    print(f"  pytorch-grad-cam, all 512     {sc['pgc']:7.2f} s   -> camviz {sc['pgc'] / sc['camviz all']:.2f}x "
          f"as fast on the same work, map r = {sc['r_all_pgc']:.3f}")
    print(f"  camviz, top 64 channels       {sc['camviz top 64']:7.2f} s   -> an approximation, "
          f"{sc['camviz all'] / sc['camviz top 64']:.1f}x faster than all channels, "
          f"map r = {sc['r_top_all']:.3f} to the all-channel map")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
