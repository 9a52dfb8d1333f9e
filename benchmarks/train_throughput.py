"""Training throughput of camviz's input pipeline and how much of the CPU's matmul rate
the training step reaches.

    python benchmarks/train_throughput.py [--quick] [--reps N] [--threads N]

1. Input pipeline, LeNet-5 on the real Fashion-MNIST train split, batch 256, full training
   steps (forward, backward, AdamW step), for the zoo's default LeNet (sigmoid, average
   pooling, as in lab report 003) and the ReLU/max-pool variant:

   * baseline: torchvision's ``FashionMNIST`` item path (a PIL image per item, then
     ``ToTensor()`` + ``Normalize``), batched by a shuffling ``DataLoader`` in the main
     process - the per-item pipeline of the lab reports;
   * camviz: the split as one uint8 tensor on the device, indexed by a seeded permutation,
     scaled and normalised per batch (``camviz.data.make_loader``) - fp32 contiguous, then
     with ``channels_last``, then with bf16 autocast (what ``--precision auto`` picks on
     CPUs with AVX512-BF16/AMX).

   Also the data alone (batches per second without a model), to show the pipeline's own cost.

2. Achieved FLOP/s: forward FLOPs per image from ``torch.utils.flop_counter.FlopCounterMode``,
   x3 for a training step (forward + backward ~ 2x forward), times images/s; as a fraction
   of the measured rate of a large square ``torch.mm`` in the same dtype. LeNet-5 and
   ResNet-18 (camviz zoo, small stem) on 1x28x28 inputs, fp32 and bf16, channels_last.

Every configuration runs in turn, repetition after repetition, and the median is reported,
so load from other processes on the shared CPU hits all alike. Target: camviz >= 3x the
per-item pipeline for LeNet; bf16 ~2x fp32 for ResNet-18 on this CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from camviz.data import Preprocess, load_dataset, make_loader
from camviz.models import build_model
from camviz.train.runtime import Precision

TARGET_PIPELINE = 3.0


def per_item_dataset(images: torch.Tensor, labels: torch.Tensor, transform):
    """torchvision's own FashionMNIST class, filled from memory (its ``__getitem__`` is the
    per-item path: ``Image.fromarray(img.numpy(), mode="L")``, then the transform)."""
    from torchvision.datasets import FashionMNIST
    ds = FashionMNIST.__new__(FashionMNIST)
    ds.data, ds.targets = images[:, 0].contiguous(), labels
    ds.transform, ds.target_transform = transform, None
    return ds


LENETS = {"lenet5 default (sigmoid, avg pool)": {},
          "lenet5 (ReLU, max pool)": {"activation": "relu", "pooling": "max"}}


def lenet(channels_last: bool, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_model("lenet5", num_classes=10, in_channels=1, input_size=28, **options)
    return m.to(memory_format=torch.channels_last) if channels_last else m


def run_steps(model, batches, precision: Precision, steps: int) -> float:
    """Images/s over ``steps`` training steps drawn from ``batches`` (an iterator factory)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n, it = 0, iter(batches())
    start = time.perf_counter()
    for _ in range(steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(batches())
            x, y = next(it)
        with precision.autocast():
            loss = loss_fn(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += y.shape[0]
    return n / (time.perf_counter() - start)


def pipeline_configs(batch: int):
    from torchvision import transforms
    src = load_dataset("fashion-mnist", download=False)
    train = src.split("train")
    mean, std = 0.2860, 0.3530
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    per_item = DataLoader(per_item_dataset(train.images, train.labels, tf), batch_size=batch,
                          shuffle=True, num_workers=0)
    pre = Preprocess(28, 1, (mean,), (std,))
    cpu = torch.device("cpu")

    def resident(cl: bool):
        loader = make_loader(train, pre, batch_size=batch, device=cpu, shuffle=True, train=True,
                             channels_last=cl)
        return lambda: ((b.x, b.y) for b in loader)

    fp32, bf16 = Precision("fp32", "cpu"), Precision("bf16", "cpu")
    return {
        "per-item ToTensor DataLoader (fp32)": (lambda: per_item, False, fp32),
        "camviz resident (fp32)": (resident(False), False, fp32),
        "camviz resident (fp32, channels_last)": (resident(True), True, fp32),
        "camviz resident (bf16, channels_last)": (resident(True), True, bf16),
    }


def matmul_rate(dtype: torch.dtype, n: int, reps: int) -> float:
    """The best of ``reps`` timings: the peak this CPU reaches now."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / min(times)


def data_rate(batches, steps: int) -> float:
    """Batches alone: images/s of the pipeline without a model."""
    n, it = 0, iter(batches())
    start = time.perf_counter()
    for _ in range(steps):
        try:
            _, y = next(it)
        except StopIteration:
            it = iter(batches())
            _, y = next(it)
        n += y.shape[0]
    return n / (time.perf_counter() - start)


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // x.shape[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repetitions")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per configuration")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reps = args.reps or (3 if args.quick else 5)
    steps = 15 if args.quick else 60
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'quick, ' if args.quick else ''}median of {reps} repetitions")

    # 1. input pipeline
    configs = pipeline_configs(args.batch_size)
    base_name = next(iter(configs))
    data = {name: [] for name in (base_name, "camviz resident (fp32)")}
    rates = {(m, c): [] for m in LENETS for c in configs}
    for (m, c) in rates:                                    # warm-up (kernels, page cache)
        batches, cl, prec = configs[c]
        run_steps(lenet(cl, **LENETS[m]), batches, prec, 2)
    for _ in range(reps):
        for name, r in data.items():
            r.append(data_rate(configs[name][0], steps))
        for (m, c), r in rates.items():
            batches, cl, prec = configs[c]
            r.append(run_steps(lenet(cl, **LENETS[m]), batches, prec, steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\nFashion-MNIST train, batch {args.batch_size}")
    d0, d1 = (statistics.median(v) for v in data.values())
    print(f"  data only: per-item {d0:,.0f} img/s, camviz {d1:,.0f} img/s ({d1 / d0:.1f}x)")
    best = 0.0
    for m in LENETS:
        base = med[(m, base_name)]
        print(f"  {m}, training steps:")
        for c in configs:
            print(f"    {c:<40} {med[(m, c)]:>9,.0f} img/s   {med[(m, c)] / base:5.2f}x")
        same = med[(m, "camviz resident (fp32)")] / base
        top = max(med[(m, c)] for c in configs) / base
        best = max(best, top)
        print(f"    speed-up: {same:.2f}x same precision and layout, {top:.2f}x with channels_last+bf16")
    print(f"  target >= {TARGET_PIPELINE:.0f}x: {'met' if best >= TARGET_PIPELINE else 'NOT met'} "
          f"(best {best:.2f}x)")

    # 2. FLOP/s
    n = 1024 if args.quick else 2048
    peak = {"fp32": matmul_rate(torch.float32, n, reps), "bf16": matmul_rate(torch.bfloat16, n, reps)}
    print(f"\nmatmul {n}x{n} (best of {reps}): fp32 {peak['fp32'] / 1e9:,.1f} GFLOP/s, bf16 {peak['bf16'] / 1e9:,.1f} GFLOP/s")
    g = torch.Generator().manual_seed(0)
    models = {
        "lenet5": (lambda: lenet(True, activation="relu", pooling="max"), args.batch_size),
        "resnet18": (lambda: build_model("resnet18", num_classes=10, in_channels=1, input_size=28)
                     .to(memory_format=torch.channels_last), 64),
    }
    for arch, (make, batch) in models.items():
        x = torch.randn(batch, 1, 28, 28, generator=g).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (batch,), generator=g)
        flops = 3 * forward_flops(make().eval(), x)
        res: dict[str, list[float]] = {"fp32": [], "bf16": []}
        k = max(3, steps // (6 if arch == "resnet18" else 1))
        def one_batch(x=x, y=y):
            return [(x, y)]
        for prec in res:
            run_steps(make(), one_batch, Precision(prec, "cpu"), 2)
        for _ in range(reps):
            for prec, r in res.items():
                torch.manual_seed(0)
                r.append(run_steps(make(), one_batch, Precision(prec, "cpu"), k))
        print(f"{arch} (1x28x28, batch {batch}, channels_last): {flops / 1e6:,.1f} MFLOP per "
              f"training image (3x forward)")
        for prec, r in res.items():
            ips = statistics.median(r)
            achieved = ips * flops
            print(f"  {prec}: {ips:>9,.0f} img/s  {achieved / 1e9:7.1f} GFLOP/s = "
                  f"{achieved / peak[prec]:6.1%} of {prec} matmul")
        print(f"  bf16 / fp32 throughput: {statistics.median(res['bf16']) / statistics.median(res['fp32']):.2f}x")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
