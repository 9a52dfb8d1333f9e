"""`camviz models`, `camviz layers`, `camviz info`."""

from __future__ import annotations

import argparse
import json

from camviz.cli.commands import command_help
from camviz.cli.common import add_model_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help=command_help("models"),
                       description="List checkpoints (shipped and user), torchvision ImageNet models "
                                   "(weights cached or not) and zoo architectures (untrained). A name "
                                   "resolves in that order: checkpoint, ImageNet model, architecture.")
    p.add_argument("--checkpoints-dir", metavar="DIR", help="where named checkpoints live")
    p.set_defaults(func=run_models)

    p = sub.add_parser("layers", help=command_help("layers"),
                       description="List the named layers of a model with their output shapes for the "
                                   "model's input size; the default CAM layer is marked with *. Needs "
                                   "no weights for ImageNet models.")
    add_model_args(p)
    p.add_argument("--all", action="store_true", help="also list layers a CAM cannot use (no (C, h, w) map, channels-last map or transformer tokens)")
    p.add_argument("--rank", nargs="+", metavar="IMG",
                   help="instead of listing, rank layers x methods on these images (files or "
                        "folders) for the predicted classes: deletion/insertion AUC and the "
                        "randomisation sanity check; flagged rows last, the recommended row "
                        "marked * (see docs/transformers.md)")
    p.add_argument("--layer", action="append", metavar="L",
                   help="with --rank: a layer to rank, repeatable (default: the model's blocks)")
    p.add_argument("--method", action="append", metavar="M",
                   help="with --rank: a CAM method to rank, repeatable (default: gradcam)")
    p.add_argument("--steps", type=int, default=10, metavar="N",
                   help="with --rank: deletion/insertion steps (default: 10)")
    p.set_defaults(func=run_layers)

    p = sub.add_parser("info", help=command_help("info"),
                       description="Parameters, forward FLOPs per image (torch.utils.flop_counter: 2 per "
                                   "multiply-add of convolutions and linear layers), MACs per image "
                                   "(thop's convention, which papers and the lab reports call FLOPs: 1 "
                                   "per multiply-add, plus 4 per affine batch-norm element and "
                                   "average pooling), input size, classes and stored metrics. Needs no weights "
                                   "for ImageNet models.")
    add_model_args(p)
    p.add_argument("--input-size", type=int, metavar="PX",
                   help="count FLOPs/MACs for a PX x PX input (default: the model's input size); "
                        "e.g. --model resnet50 --input-size 196 for lab report 002's 3.51 G")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_info)


def run_models(args: argparse.Namespace) -> int:
    from camviz.hub import list_models
    rows = list_models(args.checkpoints_dir)
    width = max(len(r.name) for r in rows)
    swidth = max(len(r.source) for r in rows)
    for r in rows:
        print(f"{r.name:<{width}}  {r.source:<{swidth}}  {r.detail}")
    return 0


def run_layers(args: argparse.Namespace) -> int:
    if args.rank:
        return run_rank(args)
    from camviz.errors import ConfigError
    if args.layer or args.method:
        raise ConfigError("--layer and --method choose what --rank ranks; add --rank IMG...")
    from camviz.summary import layer_table
    loaded = load_from_args(args, pretrained=False)
    print(f"# {loaded.name}: input {loaded.in_channels}x{loaded.input_size}x{loaded.input_size}; "
          f"* = default CAM layer ({loaded.cam_layer})")
    for row in layer_table(loaded):
        # (C, h, w) maps, and token / channels-last outputs a CAM can be computed on
        spatial = row.spatial or (row.shape is not None and len(row.shape) == 3)
        if not (args.all or spatial or row.is_default):
            continue
        shape = "x".join(map(str, row.shape)) if row.shape else "-"
        print(f"{'*' if row.is_default else ' '} {row.name:<40} {row.kind:<22} {shape}")
    return 0


def run_rank(args: argparse.Namespace) -> int:
    from camviz.advisor import format_ranking, rank_images
    from camviz.images import list_images
    from camviz.metrics.faithfulness import check_steps
    check_steps(args.steps)   # before the model loads
    paths = list_images(args.rank)
    loaded = load_from_args(args)
    rows = rank_images(loaded, paths, layers=args.layer, methods=args.method or ("gradcam",),
                       steps=args.steps)
    print(f"# {loaded.name}: {len(paths)} image(s), predicted classes; * = recommended")
    print(format_ranking(rows))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from camviz.errors import ConfigError
    from camviz.summary import model_info
    if args.input_size is not None and args.input_size < 1:
        raise ConfigError(f"--input-size must be >= 1, got {args.input_size}; pass e.g. --input-size 224")
    from camviz.models import MODELS
    info = model_info(load_from_args(args, pretrained=False), args.input_size)
    if info["arch"] in MODELS:   # the settings `camviz train --model ARCH` uses unless told
        info["recipe"] = dict(MODELS.get(info["arch"]).recipe)
    if args.json:
        print(json.dumps(info))
        return 0
    for key in ("name", "source", "arch", "checkpoint", "dataset"):
        print(f"{key:<12} {info[key]}")
    print(f"{'params':<12} {info['params']:,}")
    print(f"{'flops':<12} {info['flops'] / 1e9:.4f} GFLOPs per image (torch.utils.flop_counter, "
          f"2 per multiply-add)")
    print(f"{'macs':<12} {info['macs'] / 1e9:.4f} GMACs per image (thop's convention, often "
          f"quoted as FLOPs)")
    print(f"{'input':<12} {'x'.join(map(str, info['input']))}")
    names = info["classes"]
    print(f"{'classes':<12} {len(names)}: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
    print(f"{'cam layer':<12} {info['cam_layer']}")
    if "recipe" in info:
        print(f"{'recipe':<12} " + ", ".join(f"{k}={v}" for k, v in info["recipe"].items())
              + " (camviz train's defaults for this architecture)")
    if info["metrics"]:
        print(f"{'metrics':<12} " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in info["metrics"].items()))
    return 0
