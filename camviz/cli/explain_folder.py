"""`camviz explain` at folder scale: streamed, resumable, sharded under torchrun."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from camviz.cli.common import load_from_args

#: Up to this many images (and without --resume/--restart/torchrun) `camviz explain` keeps
#: its small-run behaviour: a table per image on stdout, all-or-nothing outputs with grids.
FEW_IMAGES = 16


def add_folder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true",
                   help="continue a folder run in --out: images recorded there as done are "
                        "skipped (re-running into the same --out does this anyway); also "
                        f"makes a run of {FEW_IMAGES} images or fewer a folder run")
    p.add_argument("--restart", action="store_true",
                   help="redo a folder run whose --out was made with other settings "
                        "(its records are dropped, its image folders replaced)")
    p.add_argument("--grid", action="store_true",
                   help="folder runs: also write grid.png per image (a matplotlib figure, "
                        "the slowest output; small runs always write it)")
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="folder runs: processes decoding images (0: the main one; default: 2)")


def is_folder_run(args: argparse.Namespace, n_images: int) -> bool:
    """Many images, --resume/--restart, or a torchrun job: stream into --out."""
    return (n_images > FEW_IMAGES or args.resume or args.restart
            or int(os.environ.get("WORLD_SIZE", "1")) > 1)


def run_folder(args: argparse.Namespace, paths: list[Path]) -> int:
    """Explain ``paths`` as a stream: each rank its share, written as it comes; rank 0
    merges OUT/summary.csv and summary.json. Bad files are listed, not fatal."""
    import torch.distributed as dist

    from camviz.cli.progress import Progress
    from camviz.folder_outputs import FolderWriter, merge_summary
    from camviz.outputs import model_sha256
    from camviz.streaming import Failure, output_names, shard, stream_explanations
    from camviz.train.runtime import start_distributed, stop_distributed
    info, device = start_distributed(args.device)
    try:
        args.device = str(device)
        loaded = load_from_args(args)
        names = output_names(paths)
        settings = {"model": loaded.name, "sha256": model_sha256(loaded), "layers": args.layer,
                    "methods": args.method, "classes": args.target, "topk": args.topk,
                    "counterfactual": args.counterfactual, "contrast": args.contrast,
                    "alpha": args.alpha, "colormap": args.colormap, "grid": args.grid}

        def open_writer():
            return FolderWriter(args.out, loaded=loaded, settings=settings, alpha=args.alpha,
                                colormap=args.colormap, grid=args.grid, rank=info.rank,
                                restart=args.restart)
        writer = open_writer() if info.is_main else None
        if info.enabled:
            dist.barrier()   # rank 0 has checked (or reset) the folder before the others open it
        writer = writer or open_writer()
        done = writer.done()
        mine = [(p, n) for p, n in shard(list(zip(paths, names)), info.rank, info.world_size)
                if n not in done]
        progress = Progress(len(mine), enabled=info.is_main)
        try:
            for item in stream_explanations(
                    loaded, [p for p, _ in mine], [n for _, n in mine], batch_size=args.batch_size,
                    workers=args.workers, layers=args.layer, methods=args.method,
                    target=args.target, topk=args.topk, predictions=max(5, args.topk),
                    counterfactual=args.counterfactual, contrast=args.contrast):
                if isinstance(item, Failure):
                    writer.fail(item)
                    progress.write(f"camviz: skipped {item.source}: {item.error}")
                else:
                    writer.write(item)
                progress.update()
        finally:
            writer.close()
            progress.close()
        if info.enabled:
            dist.barrier()   # every rank's records are complete
        if info.is_main:
            csv_path, json_path, rows = merge_summary(args.out, names)
            failed = [r for r in rows if r["status"] != "ok"]
            print(f"explained {len(rows) - len(failed)} of {len(paths)} image(s) into {args.out} "
                  f"({len(done & set(names))} done before this run, {progress.rate:.1f} images/s on rank 0); summary: "
                  f"{csv_path}, {json_path.name}")
            for r in failed:
                print(f"  failed: {r['file']}: {r['error']}")
        return 0
    finally:
        stop_distributed(info)
