"""`camviz study`: a grid of training runs from one YAML file, with a table and charts."""

from __future__ import annotations

import argparse

from camviz.cli.commands import command_help


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study", help=command_help("study"),
        description="Train every run of a study config (base: train keys; runs: named overrides; "
                    "grid: key -> values; repeat/seeds; see configs/studies/ and camviz.study). "
                    "Writes OUT/runs/<run>/ per run, results.md, results.csv (per run), summary.csv "
                    "(per row: mean ± std over seeds), curves.png, sweep_<key>.png, test_accuracy.png, "
                    "train_time.png. Finished runs are reused and unfinished ones resumed, so "
                    "re-running an interrupted study completes it; runs start seed by seed.")
    p.add_argument("config", metavar="CONFIG.yaml", help="study config file")
    p.add_argument("--out", metavar="DIR", help="output directory (default: runs/studies/<name>)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="every run uses at most N images per split (recorded in results.md)")
    p.add_argument("--epochs", type=int, metavar="N", help="every run trains N epochs (recorded in results.md)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N for every run (default: the config's)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="train N runs at once in child processes, the torch threads split between "
                        "them (default: 1; same results for any N)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch threads for all jobs together (default: torch's, usually the cores)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: write the tables and charts of the runs finished so far "
                        "(the others listed as not run)")
    p.add_argument("--previous", metavar="FOLDER",
                   help="a published results folder of this study (results.csv + results.md, e.g. "
                        "docs/studies/NAME): its runs whose run dirs are gone are taken from its "
                        "table instead of trained again (same base, scale and settings required; "
                        "their curves come from its histories.csv, where it has one)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their settings, train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bars; print only the table path")
    p.set_defaults(func=run_study_cmd)


def run_study_cmd(args: argparse.Namespace) -> int:
    from camviz.study import describe, load_study, run_study
    from camviz.study.runner import check_scale
    check_scale(limit=args.limit, epochs=args.epochs, jobs=args.jobs, threads=args.threads)
    study = load_study(args.config)
    if args.dry_run:
        for run in study.runs:
            print(f"{run.name}: {describe(run.changes)}")
        return 0
    result = run_study(study, args.out, limit=args.limit, epochs=args.epochs, device=args.device,
                       quiet=args.quiet, jobs=args.jobs, threads=args.threads,
                       train=not args.report_only, previous=args.previous,
                       progress=None if args.quiet else print)
    reused = len(result.reused)
    taken = f", {len(result.taken)} taken from --previous" if result.taken else ""
    print(f"{len(result.rows)} runs ({len(result.trained)} trained, {reused} reused{taken}): "
          f"{result.out / 'results.md'}")
    return 0
