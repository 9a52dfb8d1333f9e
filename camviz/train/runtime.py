"""The process around a run: seeds, deterministic kernels, mixed precision, DDP ranks."""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from camviz.device import resolve_device

log = logging.getLogger(__name__)


def seed_all(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic kernels where that is cheap; the previous settings come back after.

    ``warn_only`` keeps ops without a deterministic kernel running (torch warns once).
    """
    prev = (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[2], prev[3]


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 matrix maths natively (AVX512-BF16 or AMX)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


@dataclass(frozen=True)
class Precision:
    """How forward passes run: ``fp32``, or autocast to ``bf16``/``fp16`` (fp16 needs a
    gradient scaler and is used on CUDA devices without bf16)."""

    name: str
    device_type: str

    @property
    def dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler | None:
        return torch.amp.GradScaler(self.device_type) if self.name == "fp16" else None


def resolve_precision(name: str, device: torch.device) -> Precision:
    """``auto``: bf16 autocast where the hardware runs it natively (CUDA with bf16, CPUs with
    AVX512-BF16/AMX: about 2x ResNet-18 throughput, see benchmarks/train_throughput.py),
    fp16 + gradient scaling on older CUDA GPUs, fp32 elsewhere."""
    dev = device.type
    if name == "fp32":
        return Precision("fp32", dev)
    if name == "bf16":
        return Precision("bf16", dev)
    if dev == "cuda":
        return Precision("bf16" if torch.cuda.is_bf16_supported() else "fp16", dev)
    if dev == "cpu" and cpu_has_bf16():
        return Precision("bf16", dev)
    return Precision("fp32", dev)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def start_distributed(device_name: str) -> tuple[DistInfo, torch.device]:
    """Join the torchrun job described by the environment (gloo on CPU, nccl on CUDA) and
    pick this rank's device; without torchrun just resolve the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world <= 1:
        return DistInfo(), device
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    log.debug("rank %d/%d on %s", info.rank, world, device)
    return info, device


def stop_distributed(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum numbers over ranks (identity without DDP)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_sum_tensor(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        t = t.clone()
        dist.all_reduce(t)
    return t


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def rng_state() -> dict:
    """The RNG states of this process as plain tensors/lists (loadable with weights_only)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(gauss)))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
