"""Studies: a grid of training runs, one table and a few charts — ``camviz study``.

A study config is YAML::

    name: lenet_fashion_mnist         # output folder name (default: the file's stem)
    description: free text            # optional, copied into results.md
    base:                             # train config keys, as in `camviz train --config` files
      model: lenet5
      dataset: fashion-mnist
      model_options: {activation: sigmoid}
    runs:                             # explicit runs: a name plus the keys that differ from base
      - {name: default}
      - {name: relu, model_options: {activation: relu}}
    grid:                             # and/or a cartesian product, key -> list of values
      lr: [0.3, 0.9, 1.5]             # model options as model_options.KEY (dotted)
    repeat: 3                         # optional: every run 3 times with seeds base.seed + 0, 1, 2
    seeds: [0, 1, 2]                  # or: these seeds (not both)

``runs`` come first in the order written, then the grid points (named ``key=value,...``;
``model_options`` merge with the base's); with two or more seeds each run becomes
``<run>-seed<N>``. Every run is validated (train keys, model option names) before any trains. ``out`` is set by the study (one run dir per run
under ``<out>/runs/<run>``) and ``register`` defaults to false so a study does not fill
``checkpoints/``. ``limit``/``epochs``/``device`` given to :func:`run_study` override every
run and are written into results.md's header, so a table always says its scale.

Outputs in ``out``: ``results.csv``, ``results.md``, ``val_accuracy.png`` (validation
accuracy per epoch, all runs), and bar charts ``test_accuracy.png``, ``train_time.png``,
``params.png``. A run dir whose ``study.json`` marks it finished (with the same config) is
reused; one with a ``state.pt`` is resumed, so an interrupted study picks up where it stopped.
A run whose loss turns NaN is recorded as diverged (a row with its metrics so far), not fatal.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camviz.errors import ConfigError, did_you_mean
from camviz.train.config import TrainConfig, from_dict, load_yaml, with_recipe

log = logging.getLogger(__name__)

STUDY_KEYS = ("name", "description", "base", "runs", "grid", "repeat", "seeds")
#: Keys the study owns: each run gets its own directory.
RESERVED = ("out",)
#: Keys that may differ between a stored run and the study without retraining it.
IGNORED_ON_REUSE = ("device", "workers", "checkpoints_dir", "register", "overwrite", "out")
MARKER = "study.json"
#: Run key: ``false`` starts the run's model_options empty instead of the base's.
INHERIT = "inherit_options"
CSV_COLUMNS = ("run", "changes", "best_val_accuracy", "best_epoch", "test_accuracy",
               "train_seconds", "params", "epochs", "run_dir")


@dataclass(frozen=True)
class StudyRun:
    """One run: its name, what differs from ``base`` and the full train config values."""

    name: str
    changes: dict[str, Any]
    values: dict[str, Any]


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    base: dict[str, Any]
    runs: tuple[StudyRun, ...]


def _train_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def _check_keys(where: str, mapping: dict[str, Any]) -> dict[str, Any]:
    """Normalise dashes; unknown or reserved keys are one-line errors naming ``where``."""
    keys = _train_keys()
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = str(key).replace("-", "_")
        top = name.split(".", 1)[0]
        if top in RESERVED:
            raise ConfigError(f"{where}: '{key}' is set by the study (one run dir per run under "
                              "--out); remove it")
        if top not in keys:
            raise ConfigError(f"{where}: unknown config key '{key}'{did_you_mean(name, keys)}; "
                              "see `camviz train --help` for the keys")
        if "." in name and top != "model_options":
            raise ConfigError(f"{where}: '{key}' is not a config key; only model_options.OPTION "
                              "may be dotted")
        out[name] = value
    return out


def _merge(base: dict[str, Any], changes: dict[str, Any], inherit: bool = True) -> dict[str, Any]:
    """``base`` with ``changes`` on top; ``model_options`` (and ``model_options.X``) merge
    unless ``inherit`` is false (a run of another architecture: the base's options are not its)."""
    values = {**base, "model_options": dict(base.get("model_options") or {}) if inherit else {}}
    for key, value in changes.items():
        if key == "model_options":
            if not isinstance(value, dict):
                raise ConfigError(f"model_options must be a mapping of option: value, got {value!r}")
            values["model_options"].update(value)
        elif key.startswith("model_options."):
            values["model_options"][key.split(".", 1)[1]] = value
        else:
            values[key] = value
    return values


def _flat(changes: dict[str, Any]) -> dict[str, Any]:
    """``{"model_options": {"a": 1}, "lr": 2}`` -> ``{"a": 1, "lr": 2}`` for names and tables."""
    flat: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "model_options" and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key.removeprefix("model_options.")] = value
    return flat


def describe(changes: dict[str, Any]) -> str:
    """``lr=1.2, activation=relu`` (``base`` when nothing changes)."""
    return ", ".join(f"{k}={v}" for k, v in _flat(changes).items()) or "base"


def parse_study(data: dict[str, Any], *, default_name: str = "study") -> Study:
    """Validate a study mapping and expand it into its runs (see the module docstring)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a study config must be a mapping with {', '.join(STUDY_KEYS)}, "
                          f"not {type(data).__name__}")
    for key in data:
        if key not in STUDY_KEYS:
            raise ConfigError(f"unknown study key '{key}'{did_you_mean(str(key), STUDY_KEYS)} "
                              f"(valid: {', '.join(STUDY_KEYS)})")
    name = str(data.get("name") or default_name)
    base = _check_keys("base", data.get("base") or {})
    base.setdefault("register", False)
    runs_in, grid = data.get("runs"), data.get("grid")
    if runs_in is None and grid is None:
        raise ConfigError(f"study '{name}' has neither runs: nor grid:; add a list of runs or a "
                          "grid of key: [values]")
    expanded: list[tuple[str, dict[str, Any]]] = []
    no_inherit: set[str] = set()
    if runs_in is not None:
        if not isinstance(runs_in, list) or not runs_in:
            raise ConfigError(f"runs: must be a non-empty list of {{name: ..., key: value}}, got {runs_in!r}")
        for i, item in enumerate(runs_in, start=1):
            if not isinstance(item, dict) or not item.get("name"):
                raise ConfigError(f"run #{i} must be a mapping with a name, got {item!r}; write "
                                  "e.g. {name: relu, model_options: {activation: relu}}")
            rest = {k: v for k, v in item.items() if k not in ("name", INHERIT)}
            if not isinstance(item.get(INHERIT, True), bool):
                raise ConfigError(f"run '{item['name']}': {INHERIT} must be true or false, got "
                                  f"{item[INHERIT]!r}")
            if item.get(INHERIT, True) is False:
                no_inherit.add(str(item["name"]))
            expanded.append((str(item["name"]), _check_keys(f"run '{item['name']}'", rest)))
    if grid is not None:
        if not isinstance(grid, dict) or not grid:
            raise ConfigError(f"grid: must map keys to non-empty lists of values, got {grid!r}")
        grid = _check_keys("grid", grid)
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"grid key '{key}' has no values ({values!r}); give a non-empty "
                                  f"list, e.g. {key}: [a, b]")
        for combo in itertools.product(*grid.values()):
            changes = dict(zip(grid, combo))
            expanded.append((",".join(f"{k}={v}" for k, v in _flat(changes).items()), changes))
    expanded = [(n, c, n not in no_inherit) for n, c in expanded]
    expanded = _with_seeds(expanded, data, base)
    seen: set[str] = set()
    for run_name, *_ in expanded:
        if run_name in seen:
            raise ConfigError(f"duplicate run name '{run_name}' in study '{name}'; give each run "
                              "its own name")
        if "/" in run_name or run_name in (".", ".."):
            raise ConfigError(f"run name '{run_name}' cannot be a directory name; drop the '/'")
        seen.add(run_name)
    runs = []
    for run_name, changes, inherit in expanded:
        values = with_recipe(_merge(base, changes, inherit))
        try:   # every run is valid before any of them trains
            _check_options(from_dict(values))
        except ConfigError as err:
            raise ConfigError(f"run '{run_name}': {err}") from None
        runs.append(StudyRun(run_name, changes, values))
    return Study(name, str(data.get("description") or "").strip(), base, tuple(runs))


def _check_options(config: TrainConfig) -> None:
    """Model option names must be the builder's keyword options (values are checked at build)."""
    import inspect

    from camviz.models import MODELS
    build = MODELS.get(config.model).build
    valid = [n for n, p in inspect.signature(build).parameters.items() if p.kind is p.KEYWORD_ONLY]
    for key in config.model_options:
        if key not in valid:
            raise ConfigError(f"unknown {config.model} option '{key}'{did_you_mean(key, valid)} "
                              f"(valid: {', '.join(valid)})")


def _with_seeds(runs: list[tuple[str, dict, bool]], data: dict,
                base: dict) -> list[tuple[str, dict, bool]]:
    repeat, seeds = data.get("repeat"), data.get("seeds")
    if repeat is not None and seeds is not None:
        raise ConfigError("give repeat: N or seeds: [..], not both")
    if repeat is not None:
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ConfigError(f"repeat must be an integer >= 1, got {repeat!r}")
        seeds = [int(base.get("seed", 0)) + k for k in range(repeat)]
    if seeds is None:
        return runs
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    if len(seeds) == 1:
        return [(n, {**c, "seed": seeds[0]}, i) for n, c, i in runs]
    return [(f"{n}-seed{s}", {**c, "seed": s}, i) for n, c, i in runs for s in seeds]


def load_study(path: str | Path) -> Study:
    """Read and expand a study YAML file."""
    return parse_study(load_yaml(path), default_name=Path(path).stem)


# -- running ---------------------------------------------------------------------------
@dataclass
class StudyResult:
    out: Path
    rows: list[dict[str, Any]]
    histories: dict[str, list[dict[str, Any]]]
    trained: list[str]          # runs trained or resumed by this call (the rest were reused)
    scale: str


def scale_text(limit: int | None, epochs: int | None) -> str:
    parts = ([f"--limit {limit} (<= {limit} images per split)"] if limit else []) \
        + ([f"--epochs {epochs}"] if epochs else [])
    return ("reduced: " + ", ".join(parts)) if parts else "full (as configured)"


def run_study(study: Study, out: str | Path | None = None, *, limit: int | None = None,
              epochs: int | None = None, device: str | None = None, quiet: bool = False,
              progress: Callable[[str], None] | None = None) -> StudyResult:
    """Train every run of ``study`` (skipping finished ones) and write the table and charts."""
    out = Path(out) if out else Path("runs") / "studies" / study.name
    scale = {k: v for k, v in (("limit", limit), ("epochs", epochs), ("device", device)) if v}
    rows, histories, trained = [], {}, []
    for i, run in enumerate(study.runs, start=1):
        run_dir = out / "runs" / run.name
        config = from_dict({**run.values, **scale, "out": str(run_dir)})
        if progress:
            progress(f"[{i}/{len(study.runs)}] {run.name} ({describe(run.changes)})")
        if not _finished(run_dir, config):
            _train(config, run_dir, quiet)
            trained.append(run.name)
        row, history = _row(run, run_dir, scale)
        rows.append(row)
        histories[run.name] = history
    result = StudyResult(out, rows, histories, trained, scale_text(limit, epochs))
    write_outputs(study, result, device=device)
    return result


def _comparable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in IGNORED_ON_REUSE}


def _finished(run_dir: Path, config: TrainConfig) -> bool:
    marker = run_dir / MARKER
    if not marker.is_file():
        return False
    stored = json.loads(marker.read_text()).get("config", {})
    return _comparable(stored) == _comparable(json.loads(json.dumps(config.to_dict())))


def _train(config: TrainConfig, run_dir: Path, quiet: bool) -> None:
    """Train (or resume) one run and mark its dir finished; a diverged run is a result too."""
    from camviz.train import TrainingDivergedError, resume_config, train
    from camviz.train.artifacts import write_text
    from camviz.train.state import STATE_FILE
    diverged = None
    try:
        if (run_dir / STATE_FILE).is_file():
            log.info("resuming %s", run_dir)
            values = {k: v for k, v in config.to_dict().items() if k != "out"}
            try:   # every key is passed so that a changed setting is an error, not ignored
                config = resume_config(run_dir, **values)
            except ConfigError as err:
                raise ConfigError(f"{err} (the study's run dir '{run_dir}' was made with other "
                                  "settings; delete it or pick another --out)") from None
            result = train(config, quiet=quiet, resume=True)
        else:
            result = train(config, quiet=quiet)
        if not result.finished:
            raise ConfigError(f"run {run_dir} stopped before its last epoch; run the study again "
                              "to resume it")
    except TrainingDivergedError as err:
        log.warning("%s: %s", run_dir.name, err)
        diverged = str(err)
    write_text(run_dir / MARKER, json.dumps({"finished": True, "diverged": diverged,
                                             "params": _params(run_dir),
                                             "config": config.to_dict()}, indent=2))


def _params(run_dir: Path) -> int | None:
    """Parameter count of the run's model, rebuilt from its checkpoint's metadata."""
    from camviz.checkpoint import read_meta
    from camviz.models import build_model
    ckpt = run_dir / "best.safetensors"
    if not ckpt.is_file():   # diverged in the first epoch
        return None
    meta = read_meta(ckpt)
    return sum(p.numel() for p in build_model(meta["arch"], **meta["arch_kwargs"]).parameters())


def _row(run: StudyRun, run_dir: Path,
         scale: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    marker = json.loads((run_dir / MARKER).read_text())
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {"epochs": []}
    test = metrics.get("test")
    changes = describe(run.changes)
    clobbered = [f"{k}={v}" for k, v in scale.items() if k in run.changes and run.changes[k] != v]
    if clobbered:   # the run's own setting lost to a study-wide --limit/--epochs
        changes += f" (ran with {', '.join(clobbered)})"
    if marker.get("diverged"):
        changes += " (diverged)"
    row = {"run": run.name, "changes": changes,
           "best_val_accuracy": metrics.get("best_val_accuracy"),
           "best_epoch": metrics.get("best_epoch"),
           "test_accuracy": test["accuracy"] if test else None,
           "train_seconds": metrics.get("wall_seconds"), "params": marker.get("params"),
           "epochs": len(metrics["epochs"]), "run_dir": str(run_dir)}
    return row, metrics["epochs"]


# -- outputs (I/O edge) ----------------------------------------------------------------
def write_outputs(study: Study, result: StudyResult, *, device: str | None = None) -> None:
    """``results.csv``, ``results.md`` and the four charts in ``result.out``."""
    from camviz.train.artifacts import write_text
    out = result.out
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for row in result.rows:
        w.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    write_text(out / "results.csv", buf.getvalue())
    write_text(out / "results.md", markdown(study, result, device=device))
    plot_study(result)


def _fmt(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(study: Study, result: StudyResult, *, device: str | None = None) -> str:
    base = ", ".join(f"{k}={v}" for k, v in _flat(study.base).items() if k != "register")
    lines = [f"# Study `{study.name}`", ""]
    if study.description:
        lines += [study.description, ""]
    lines += [f"- Scale: {result.scale}", f"- Base: {base}"]
    if device:
        lines.append(f"- Device: {device}")
    lines += [("- Train time is the run's wall time (training, validation and the test pass); a "
               "diverged run (NaN loss) shows its metrics up to its last good epoch, no test accuracy."),
              "",
              "| run | changed settings | best val acc | test acc | train time s | params | epochs |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for r in result.rows:
        params = "n/a" if r["params"] is None else f"{r['params']:,}"
        lines.append(f"| {r['run']} | {r['changes']} | {_fmt(r['best_val_accuracy'])} | "
                     f"{_fmt(r['test_accuracy'])} | {_fmt(r['train_seconds'], 1)} | {params} | "
                     f"{r['epochs']} |")
    lines += ["", "![validation accuracy](val_accuracy.png)", "",
              "![test accuracy](test_accuracy.png) ![train time](train_time.png) ![params](params.png)", ""]
    return "\n".join(lines)


def plot_study(result: StudyResult) -> None:
    from camviz.train.artifacts import _pyplot, _save_figure
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    colors = plt.get_cmap("tab10" if len(result.histories) <= 10 else "tab20").colors
    for i, (name, history) in enumerate(result.histories.items()):
        ax.plot([h["epoch"] for h in history], [h["val_accuracy"] for h in history], marker="o", ms=3,
                label=name, color=colors[i % len(colors)], ls="-" if i < len(colors) else "--")
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy per epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"scale: {result.scale}", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))   # beside, not over, the curves
    _save_figure(fig, result.out / "val_accuracy.png")
    for key, label, fname in (("test_accuracy", "test accuracy", "test_accuracy.png"),
                              ("train_seconds", "train time (s)", "train_time.png"),
                              ("params", "parameters", "params.png")):
        names = [r["run"] for r in result.rows]
        values = [r[key] if r[key] is not None else 0.0 for r in result.rows]
        fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(names) + 2), 4), layout="constrained")
        bars = ax.bar(range(len(names)), values, color="tab:blue")
        ax.bar_label(bars, labels=["n/a" if r[key] is None else
                                   (f"{r[key]:.3f}" if key == "test_accuracy" else
                                    f"{r[key]:,.0f}") for r in result.rows], fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set(ylabel=label, title=label)
        fig.suptitle(f"scale: {result.scale}", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        _save_figure(fig, result.out / fname)
