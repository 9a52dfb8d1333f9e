"""`camviz evaluate`: accuracy, loss and per-class accuracy of a model on a data set split."""

from __future__ import annotations

import argparse
import json

from camviz.catalog import DATASETS, PRECISIONS
from camviz.cli.commands import command_help
from camviz.cli.common import add_device_arg, add_model_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help=command_help("evaluate"),
                       description="Score a trained model on a split, preprocessed exactly as in its "
                                   "training (input size, channels, mean/std from the checkpoint).")
    add_model_args(p)
    p.add_argument("--dataset", metavar="NAME", help=f"{', '.join(DATASETS)} "
                   "(default: the one the checkpoint was trained on)")
    p.add_argument("--split", choices=("test", "val", "train"), default="test",
                   help="which split (val = the training run's seeded validation split; default: test)")
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="(default: 256)")
    p.add_argument("--data-dir", metavar="DIR", help="where data set files are (default: $CAMVIZ_DATA or ./data)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download; missing files are an error naming where to put them")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="as in training: auto uses bf16 where the hardware has it (default: auto)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images of the split")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_device_arg(p)
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from camviz.errors import DataError
    from camviz.hub import model_source
    from camviz.train import evaluate_model
    if not args.dataset and not args.checkpoint:   # decided before loading (and its warnings)
        kind, _ = model_source(args.model, checkpoints_dir=args.checkpoints_dir)
        if kind in ("imagenet", "zoo"):
            raise DataError(f"model '{args.model}' is not a camviz checkpoint, so it names no data "
                            "set to evaluate on; pass --dataset NAME (see `camviz evaluate --help`)")
    loaded = load_from_args(args)
    dataset = args.dataset or loaded.meta.get("dataset")
    if not dataset:
        raise DataError(f"model '{loaded.name}' does not say which data set it was trained on; "
                        "pass --dataset NAME")
    report = evaluate_model(loaded, dataset, split=args.split, batch_size=args.batch_size,
                            data_dir=args.data_dir, download=args.download,
                            precision=args.precision, limit=args.limit)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(f"{report.model} on {report.dataset} {report.split} ({report.n} images): "
          f"accuracy {report.accuracy:.4f}, loss {report.loss:.4f}")
    width = max(len(c) for c in report.per_class)
    for name, acc in report.per_class.items():
        print(f"  {name:<{width}}  {'-' if acc is None else f'{acc:.4f}'}")
    return 0
