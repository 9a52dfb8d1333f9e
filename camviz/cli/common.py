"""Arguments shared by several commands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model stack is imported when a command runs, not to build --help
    from camviz.handle import LoadedModel


def add_model_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--model NAME | --checkpoint PATH, and --checkpoints-dir."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--model", metavar="NAME",
                       help="a checkpoint name in the checkpoints dir, a torchvision ImageNet model "
                            "(resnet50, ...) or a zoo architecture (untrained); see `camviz models`")
    group.add_argument("--checkpoint", metavar="PATH",
                       help="a camviz .safetensors checkpoint file")
    parser.add_argument("--checkpoints-dir", metavar="DIR",
                        help="where named checkpoints live (default: $CAMVIZ_CHECKPOINTS, "
                             "else ./checkpoints)")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N (default: auto)")


def load_from_args(args: argparse.Namespace, pretrained: bool = True) -> LoadedModel:
    """Load the model named by --model/--checkpoint on --device (if the command has one)."""
    from camviz.device import resolve_device
    from camviz.hub import load_model
    device = resolve_device(getattr(args, "device", "cpu"))
    target = args.checkpoint if getattr(args, "checkpoint", None) else args.model
    if getattr(args, "checkpoint", None):
        from camviz.checkpoint import load_checkpoint
        return load_checkpoint(target, device=device)
    return load_model(target, checkpoints_dir=args.checkpoints_dir, device=device,
                      pretrained=pretrained)
