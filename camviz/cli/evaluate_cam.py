"""`camviz evaluate-cam`: which CAM method and layer to trust, by localisation, faithfulness
and sanity metrics next to a random and a centre-bias map."""

from __future__ import annotations

import argparse
import json
import sys

from camviz.catalog import (
    BASELINES,
    DATASETS,
    DEFAULT_METHODS,
    DEFAULT_N,
    GROUND_TRUTH,
    METHODS,
    METRICS,
    SANITY_THRESHOLD,
)
from camviz.cli.commands import command_help
from camviz.cli.common import add_device_arg, add_model_args, load_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate-cam", help=command_help("evaluate-cam"),
        description="Explain the true class of the first N images of a split with each method at "
                    "each layer and print one row per method x layer, then the same metrics for a "
                    "random map and a centred Gaussian (maps that ignore the model). Localisation "
                    "(pointing game, energy inside the mask, IoU) needs a data set with object "
                    f"masks ({', '.join(GROUND_TRUTH)}); faithfulness (deletion/insertion "
                    "AUC, average drop, increase in confidence) and the cascading-randomisation "
                    "sanity check work on any data set. See docs/cam_metrics.md. Under `torchrun "
                    "--nproc_per_node N -m camviz evaluate-cam ...` each process scores every "
                    "N-th image and rank 0 prints the table over all of them.")
    a = p.add_argument
    add_model_args(p)
    a("--dataset", metavar="NAME", help=f"{', '.join(DATASETS)} (default: the one the "
      "checkpoint was trained on)")
    a("--split", choices=("test", "val", "train"), default="test", help="(default: test)")
    a("--n", "--num-images", dest="n", type=int, metavar="N", help=f"score the first N images "
      f"(default: {DEFAULT_N}, or the whole split if smaller); under torchrun spell it "
      "--num-images (torchrun reads --n as its own --nnodes/--nproc_per_node)")
    a("--methods", nargs="+", metavar="M", help=f"{', '.join(METHODS)} (default: "
      f"{', '.join(DEFAULT_METHODS)}; cam is skipped, with a note, at layers not feeding a GAP -> linear head)")
    a("--layers", nargs="+", metavar="L", help="layers to explain (default: the model's CAM "
      "layer; `camviz layers --model X` lists them)")
    a("--metrics", nargs="+", metavar="NAME", help=f"{', '.join(METRICS)} (default: all "
      "that apply to the data set)")
    a("--steps", type=int, default=20, metavar="S",
      help="points of the deletion/insertion curves: pixels move in S equal parts (default: 20)")
    a("--deletion-baseline", default="zeros", metavar="B", help=f"what deleted pixels become: "
      f"{', '.join(BASELINES)} (default: zeros = the training mean colour)")
    a("--insertion-baseline", default="blur", metavar="B",
      help="what insertion starts from (default: blur, as RISE)")
    a("--tolerance", type=float, metavar="PX", help="pointing-game tolerance in pixels (default: "
      "15 px at 224 px as Zhang et al., scaled to the input size)")
    a("--iou-threshold", type=float, default=0.5, metavar="T",
      help="IoU: the [0, 1] map thresholded at T vs the mask (default: 0.5)")
    a("--sanity-threshold", type=float, default=SANITY_THRESHOLD, metavar="R",
      help="flag a method whose rank correlation stays above R once the explained layer is "
           f"randomised (default: {SANITY_THRESHOLD})")
    a("--batch-size", type=int, default=64, metavar="N", help="images per pass (default: 64)")
    a("--seed", type=int, default=0, help="seed of the random map and re-initialised weights (default: 0)")
    a("--data-dir", metavar="DIR", help="where data set files are (default: $CAMVIZ_DATA or ./data)")
    a("--no-download", dest="download", action="store_false", help="never download data")
    a("--json", action="store_true", help="print one JSON object: method -> layer -> metric, "
      "plus the reference maps under 'random' and 'center'")
    a("--out", metavar="DIR", help="also write evaluation.json, deletion_insertion.png, "
      "sanity.png; the scores so far are saved there after every batch "
      "(DIR/.camviz/evaluate-rank<R>.safetensors): run the same command again after a kill and "
      "it continues where it stopped")
    a("--restart", action="store_true", help="with --out: drop the scores saved there (by an "
      "earlier or killed run, with these or other settings) and its evaluation.json and plots, "
      "and start afresh")
    add_device_arg(p)
    p.set_defaults(func=run_evaluate_cam)


def run_evaluate_cam(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from camviz.errors import ConfigError
    from camviz.fileio import check_output
    from camviz.metrics import evaluate_cam
    from camviz.metrics.partial import EvalCheckpoint
    from camviz.metrics.report import clear_report, format_table, write_report
    from camviz.outputs import model_sha256
    from camviz.train.runtime import start_distributed, stop_distributed
    if args.restart and not args.out:
        raise ConfigError("--restart drops the scores saved in an --out folder; pass --out DIR "
                          "too, or drop --restart")
    if args.out:
        check_output(args.out)   # before the evaluation runs, not after
    info, device = start_distributed(args.device)   # under torchrun: each rank a share
    try:
        args.device = str(device)
        loaded = load_from_args(args)
        saved = EvalCheckpoint(args.out, model_sha256=model_sha256(loaded), rank=info.rank,
                               restart=args.restart) if args.out else nullcontext()
        with saved as checkpoint:
            if args.restart and info.is_main:   # the old result goes once the folder is held
                clear_report(args.out)
            ev = evaluate_cam(
                loaded, args.dataset, methods=args.methods, layers=args.layers,
                metrics=args.metrics, n=args.n, split=args.split, steps=args.steps,
                deletion_baseline=args.deletion_baseline,
                insertion_baseline=args.insertion_baseline, tolerance=args.tolerance,
                iou_threshold=args.iou_threshold, sanity_threshold=args.sanity_threshold,
                seed=args.seed, batch_size=args.batch_size, data_dir=args.data_dir,
                download=args.download, rank=info.rank, world_size=info.world_size,
                checkpoint=checkpoint)
            files = write_report(ev, args.out) if args.out and info.is_main else []
            if args.out and checkpoint.resumed:
                who = f"rank {info.rank} " if info.world_size > 1 else ""   # each rank its share
                print(f"camviz: {who}continued the evaluation saved in {args.out} "
                      f"({checkpoint.resumed} image(s) scored before this run)", file=sys.stderr)
        if not info.is_main:
            return 0
        print(json.dumps(ev.to_json()) if args.json else format_table(ev))
        if files and not args.json:
            print(f"wrote {', '.join(str(f) for f in files)}")
        return 0
    finally:
        stop_distributed(info)
