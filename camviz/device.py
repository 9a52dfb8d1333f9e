"""Choosing the torch device from a user string."""

from __future__ import annotations

import torch

from camviz.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """Map "auto" | "cpu" | "cuda" | "cuda:N" | "mps" to a device that exists here."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' was asked for but CUDA is not available here; "
                              "use --device cpu or --device auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device '{name}' does not exist: this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
        return dev
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError("device 'mps' is not available here; use --device cpu")
        return torch.device("mps")
    raise ConfigError(f"unknown device '{name}' (valid: auto, cpu, cuda, cuda:N, mps)")
