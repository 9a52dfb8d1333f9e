"""Ship a trained run as a checkpoint and render the shipped-checkpoint tables.

Run from the repo root:

    python checkpoints/ship.py add runs/resnet18-fashion-mnist --note "..."   # ship one run
    python checkpoints/ship.py render                                         # tables only
    python checkpoints/ship.py refresh                                        # re-record hashes/checks

`add` copies the run's best checkpoint to checkpoints/<name>.safetensors (float16 when
`camviz evaluate` gives the same test accuracy as float32 within --fp16-tolerance, else
float32), measures test accuracy, params and FLOPs, rebuilds the exact `camviz train`
command from the run's config.yaml, and records everything in checkpoints/shipped.json,
with the file's SHA-256 (`camviz train` never replaces a file with a listed hash) and the
quick check: accuracy and mean loss on the first CHECK_IMAGES test images, which the
default test suite compares exactly (the full test split is the `full`-marked test).
`render` writes docs/checkpoints.md and the README table (between the
`shipped-checkpoints` markers) from shipped.json, so the tables are always its figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints" / "shipped.json"
DOC = ROOT / "docs" / "checkpoints.md"
README = ROOT / "README.md"
BEGIN, END = "<!-- shipped-checkpoints:begin -->", "<!-- shipped-checkpoints:end -->"
# config keys that are not part of how a run is trained (where it lives, what it is called)
#: the quick check of tests/test_shipped.py: the first this many test images, fp32
CHECK_IMAGES = 1000
NOT_IN_COMMAND = ("out", "name", "checkpoints_dir", "register", "overwrite", "workers", "data_dir")


# -- the command a run's config.yaml stands for ---------------------------------------
def train_command(config: dict[str, Any], name: str) -> str:
    """``camviz train`` flags for every setting that differs from what ``camviz train`` uses
    without them: the model's default recipe, then TrainConfig's defaults."""
    from camviz.models import MODELS
    from camviz.train.config import from_dict, with_recipe
    defaults = dataclasses.asdict(from_dict(with_recipe({"model": config["model"]})))
    parts = [f"camviz train --model {config['model']} --dataset {config['dataset']}"]
    for key, value in config.items():
        if key in NOT_IN_COMMAND + ("model", "dataset") or value == defaults.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        if key == "model_options":
            builder = MODELS.get(config["model"]).options()
            implied = defaults["model_options"]
            parts += [f"--opt {k}={v}" for k, v in value.items() if implied.get(k, builder.get(k)) != v]
            parts += [f"--opt {k}={builder[k]}" for k in implied if k not in value]
        elif key == "download":
            parts.append("--no-download")
        elif key == "channels_last":
            parts.append("--channels-last" if value else "--no-channels-last")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts + [f"--name {name}"])


def describe_model(meta: dict[str, Any]) -> str:
    """``resnet18 (width 0.25)``: the architecture and its non-default builder options."""
    skip = ("num_classes", "in_channels", "input_size")
    options = [f"{k.replace('_', ' ')} {v}" for k, v in meta["arch_kwargs"].items() if k not in skip]
    return meta["arch"] + (f" ({', '.join(options)})" if options else "")


# -- shipping one run -----------------------------------------------------------------
def quick_check(path: Path, dataset: str) -> dict[str, Any]:
    """Accuracy and mean cross-entropy of a checkpoint on the first CHECK_IMAGES test images."""
    from camviz.hub import load_model
    from camviz.train.accuracy import evaluate_model
    report = evaluate_model(load_model(str(path)), dataset, split="test", precision="fp32",
                            download=False, limit=CHECK_IMAGES)
    return {"images": report.n, "accuracy": report.accuracy, "loss": round(report.loss, 6)}


def identity(path: Path, dataset: str) -> dict[str, Any]:
    """What tests/test_shipped.py checks without the full test split: hash and quick check."""
    from camviz.checkpoint import file_sha256
    return {"sha256": file_sha256(path), "check": quick_check(path, dataset)}


def add(run_dir: Path, name: str | None, note: str, tolerance: float) -> dict[str, Any]:
    from camviz.checkpoint import load_checkpoint, read_meta, save_checkpoint
    from camviz.hub import load_model
    from camviz.summary import count_flops, count_params
    from camviz.train.accuracy import evaluate_model

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    name = name or config.get("name") or f"{config['model']}-{config['dataset']}"
    best = run_dir / "best.safetensors"
    meta = read_meta(best)

    def test_accuracy(path: Path) -> float:
        loaded = load_model(str(path))
        return evaluate_model(loaded, config["dataset"], precision="fp32", download=False).accuracy

    fp32 = test_accuracy(best)
    target = ROOT / "checkpoints" / f"{name}.safetensors"
    with tempfile.TemporaryDirectory() as tmp:
        half = Path(tmp) / f"{name}.safetensors"
        save_checkpoint(half, load_checkpoint(best).model, meta, half=True)
        fp16 = test_accuracy(half)
    use_half = abs(fp16 - fp32) <= tolerance
    loaded = load_checkpoint(best)
    save_checkpoint(target, loaded.model, meta, half=use_half)
    shipped = load_model(str(target))
    entry = {
        "model": describe_model(meta), "dataset": config["dataset"],
        "test_accuracy": round(fp16 if use_half else fp32, 4),
        "test_accuracy_float32": round(fp32, 4),
        "params": count_params(shipped.model), "flops": count_flops(shipped),
        "epochs": len(metrics["epochs"]), "best_epoch": metrics["best_epoch"],
        "train_wall_seconds": round(metrics["wall_seconds"]),
        "precision": metrics.get("precision"), "stored": "float16" if use_half else "float32",
        "size_bytes": target.stat().st_size, "note": note,
        "command": train_command(config, name),
        **identity(target, config["dataset"]),
    }
    data = json.loads(SHIPPED.read_text())
    data["checkpoints"][name] = entry
    SHIPPED.write_text(json.dumps(data, indent=2) + "\n")
    return entry


def refresh() -> None:
    """Re-record every entry's hash and quick check (after a deliberate change of a file or
    of the evaluation code: the tests compare against these figures exactly)."""
    data = json.loads(SHIPPED.read_text())
    for name, entry in data["checkpoints"].items():
        entry.update(identity(ROOT / "checkpoints" / f"{name}.safetensors", entry["dataset"]))
        print(f"{name}: {entry['check']}")
    SHIPPED.write_text(json.dumps(data, indent=2) + "\n")


# -- tables ---------------------------------------------------------------------------
def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


def _flops(flops: int | None) -> str:
    return "—" if flops is None else f"{flops / 1e6:,.1f} M"


def ordered(checkpoints: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Fashion-MNIST first, then by the zoo's order (by year: LeNet ... DenseNet)."""
    from camviz.models import MODELS
    order = {name: i for i, name in enumerate(MODELS.names())}
    return sorted(checkpoints.items(), key=lambda item: (item[1]["dataset"] != "fashion-mnist",
                                                         order.get(item[1]["model"].split()[0], 99)))


def table(checkpoints: dict[str, dict[str, Any]]) -> str:
    rows = [("| checkpoint | model | data set | test accuracy | params | FLOPs / image | epochs (best) "
            "| wall time | stored | command |"),
            "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | --- | --- |"]
    for name, e in ordered(checkpoints):
        best = f" ({e['best_epoch']})" if e.get("best_epoch") not in (None, e["epochs"]) else ""
        rows.append(
            f"| `{name}` | {e['model']} | {e['dataset']} | {e['test_accuracy']:.4f} | "
            f"{e['params']:,} | {_flops(e.get('flops'))} | {e['epochs']}{best} | "
            f"{_minutes(e['train_wall_seconds'])} | {e.get('stored', 'float32')}, "
            f"{e.get('size_bytes', 0) / 2**20:.1f} MiB | `{e['command']}` |")
    return "\n".join(rows)


def notes(checkpoints: dict[str, dict[str, Any]]) -> str:
    return "\n".join(f"- `{name}`: {e['note']}" for name, e in ordered(checkpoints) if e.get("note"))


def render_doc(data: dict[str, Any]) -> str:
    ckpts = data["checkpoints"]
    return "\n".join([
        "# Shipped checkpoints", "",
        ("Trained with `camviz train` on this machine (2 CPU cores, no GPU); test accuracy is "
        "`camviz evaluate` on the full test split of the stored (shipped) weights, and "
        "`tests/test_shipped.py` checks each file's SHA-256, its quick check (first 1,000 test "
        "images) exactly and, under `pytest -m full`, this accuracy to 1e-4. Written by "
        "`python checkpoints/ship.py "
        "render` from `checkpoints/shipped.json`."), "",
        table(ckpts), "", "How each was trained:", "", notes(ckpts), ""])


def render_readme(data: dict[str, Any], readme: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {BEGIN} ... {END} markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(data['checkpoints'])}\n{END}{tail}"


def render() -> None:
    data = json.loads(SHIPPED.read_text())
    DOC.write_text(render_doc(data))
    README.write_text(render_readme(data, README.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("add", help="ship a run's best checkpoint and re-render the tables")
    p.add_argument("run_dir", type=Path, help="a finished `camviz train` run directory")
    p.add_argument("--name", help="checkpoint name (default: the run's --name)")
    p.add_argument("--note", default="", help="how it was trained (machine load, why this width)")
    p.add_argument("--fp16-tolerance", type=float, default=0.001,
                   help="largest test-accuracy change that still ships float16 (default: 0.001)")
    sub.add_parser("render", help="write docs/checkpoints.md and the README table")
    sub.add_parser("refresh", help="re-record every checkpoint's SHA-256 and quick check")
    args = parser.parse_args(argv)
    if args.cmd == "add":
        metrics = args.run_dir / "metrics.json"
        if not metrics.is_file() or "test" not in json.loads(metrics.read_text()):
            raise SystemExit(f"{args.run_dir} is not a finished run (no test result in metrics.json)")
        entry = add(args.run_dir, args.name, args.note, args.fp16_tolerance)
        print(json.dumps(entry, indent=2))
    elif args.cmd == "refresh":
        refresh()
    render()
    return 0


if __name__ == "__main__":
    sys.exit(main())
