"""Study configs: a YAML mapping expanded into named training runs.

A study config is YAML::

    name: lenet_fashion_mnist         # output folder name (default: the file's stem)
    description: free text            # optional, copied into results.md
    base:                             # train config keys, as in `camviz train --config` files
      model: lenet5
      dataset: fashion-mnist
      model_options: {activation: sigmoid}
    runs:                             # explicit runs: a name plus the keys that differ from base
      - {name: default}
      - {name: relu, model_options: {activation: relu}, seeds: [0, 1]}   # this run's own seeds
      - {name: resnet, model: resnet18, inherit_options: false}   # options start empty
    grid:                             # and/or a cartesian product, key -> list of values
      lr: [0.3, 0.9, 1.5]             # model options as model_options.KEY (dotted)
    repeat: 3                         # optional: every run 3 times with seeds base.seed + 0, 1, 2
    seeds: [0, 1, 2]                  # or: these seeds (not both)
    skip: {resnet: "10 h on 2 CPU cores"}   # rows listed as not run, with the reason
    reference: {default: 0.809}       # the figure a row is compared with (e.g. the report's)
    reference_label: report 003       # its name in tables and charts

``runs`` come first in the order written, then the grid points (named ``key=value,...``;
``model_options`` merge with the base's unless the run says ``inherit_options: false``);
with two or more seeds each run becomes ``<run>-seed<N>`` and the seeds of one run form a
row *group* (mean +- std in the table). Each run starts from its model's default recipe
(:func:`camviz.train.config.with_recipe`), so a study that must not change when a recipe
does sets every recipe key in ``base``. Every run is validated (train keys, model option
names) before any trains. ``out`` is set by the study and ``register`` defaults to false.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camviz.errors import ConfigError, did_you_mean
from camviz.fileio import check_file_name
from camviz.models import MODELS
from camviz.train.config import TrainConfig, from_dict, load_yaml, with_recipe

STUDY_KEYS = ("name", "description", "base", "runs", "grid", "repeat", "seeds", "skip", "reference",
              "reference_label")
#: Keys the study owns: each run gets its own directory.
RESERVED = ("out",)
#: Run key: ``false`` starts the run's model_options empty instead of the base's.
INHERIT = "inherit_options"


@dataclass(frozen=True)
class StudyRun:
    """One run: its name, what differs from ``base`` and the full train config values."""

    name: str
    changes: dict[str, Any]
    values: dict[str, Any]
    group: str = ""                  # the run's name without its -seed<N> (its table row)

    @property
    def row(self) -> str:
        return self.group or self.name


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    base: dict[str, Any]
    runs: tuple[StudyRun, ...]
    skip: dict[str, str] = dataclasses.field(default_factory=dict)         # row -> why not run
    reference: dict[str, float] = dataclasses.field(default_factory=dict)  # row -> figure
    reference_label: str = "reference"


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


def base_text(study: Study) -> str:
    """The base settings as ``results.md`` states them (``- Base:``)."""
    return ", ".join(f"{k}={v}" for k, v in _flat(study.base).items() if k != "register")


def parse_study(data: dict[str, Any], *, default_name: str = "study") -> Study:
    """Validate a study mapping and expand it into its runs (see the module docstring)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a study config must be a mapping with {', '.join(STUDY_KEYS)}, "
                          f"not {type(data).__name__}")
    for key in data:
        if key not in STUDY_KEYS:
            raise ConfigError(f"unknown study key '{key}'{did_you_mean(str(key), STUDY_KEYS)} "
                              f"(valid: {', '.join(STUDY_KEYS)})")
    name = check_file_name(str(data.get("name") or default_name), "study name",
                           "lenet_fashion_mnist")   # it names the folder runs/studies/<name>
    base = _check_keys("base", data.get("base") or {})
    base.setdefault("register", False)
    runs_in, grid = data.get("runs"), data.get("grid")
    if runs_in is None and grid is None:
        raise ConfigError(f"study '{name}' has neither runs: nor grid:; add a list of runs or a "
                          "grid of key: [values]")
    expanded: list[tuple[str, dict[str, Any]]] = []
    no_inherit: set[str] = set()
    run_seeds: dict[str, list[int]] = {}   # a run's own seeds: instead of the study's
    if runs_in is not None:
        if not isinstance(runs_in, list) or not runs_in:
            raise ConfigError(f"runs: must be a non-empty list of {{name: ..., key: value}}, got {runs_in!r}")
        for i, item in enumerate(runs_in, start=1):
            if not isinstance(item, dict) or not item.get("name"):
                raise ConfigError(f"run #{i} must be a mapping with a name, got {item!r}; write "
                                  "e.g. {name: relu, model_options: {activation: relu}}")
            rest = {k: v for k, v in item.items() if k not in ("name", INHERIT, "seeds")}
            if "seeds" in item:
                run_seeds[str(item["name"])] = _seed_list(item["seeds"])
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
    expanded = [(n, c, n not in no_inherit, n) for n, c in expanded]
    expanded = _with_seeds(expanded, data, base, run_seeds)
    seen: set[str] = set()
    for run_name, *_ in expanded:
        if run_name in seen:
            raise ConfigError(f"duplicate run name '{run_name}' in study '{name}'; give each run "
                              "its own name")
        if "/" in run_name or run_name in (".", ".."):
            raise ConfigError(f"run name '{run_name}' cannot be a directory name; drop the '/'")
        seen.add(run_name)
    runs = []
    for run_name, changes, inherit, group in expanded:
        values = with_recipe(_merge(base, changes, inherit))
        try:   # every run is valid before any of them trains
            _check_options(from_dict(values))
        except ConfigError as err:
            raise ConfigError(f"run '{run_name}': {err}") from None
        runs.append(StudyRun(run_name, changes, values, group))
    rows = {r.row for r in runs}
    extra = {str(k): v for k, v in {**(data.get("skip") or {}), **(data.get("reference") or {})}.items()}
    for key, value in extra.items():
        if key not in rows:
            raise ConfigError(f"skip/reference name '{key}' is no row of study '{name}'"
                              f"{did_you_mean(key, sorted(rows))}; use a run's name without -seed<N>")
    for key, value in (data.get("reference") or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"reference '{key}' must be a number, got {value!r}")
    return Study(name, str(data.get("description") or "").strip(), base, tuple(runs),
                 {str(k): str(v) for k, v in (data.get("skip") or {}).items()},
                 {str(k): float(v) for k, v in (data.get("reference") or {}).items()},
                 str(data.get("reference_label") or "reference"))


def _check_options(config: TrainConfig) -> None:
    """Model option names must be the builder's keyword options (values are checked at build)."""
    build = MODELS.get(config.model).build
    valid = [n for n, p in inspect.signature(build).parameters.items() if p.kind is p.KEYWORD_ONLY]
    for key in config.model_options:
        if key not in valid:
            raise ConfigError(f"unknown {config.model} option '{key}'{did_you_mean(key, valid)} "
                              f"(valid: {', '.join(valid)})")


def _seed_list(seeds: Any) -> list[int]:
    if not isinstance(seeds, list) or not seeds or \
            not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    return seeds


def _with_seeds(runs: list[tuple[str, dict, bool, str]], data: dict, base: dict,
                run_seeds: dict[str, list[int]]) -> list[tuple[str, dict, bool, str]]:
    repeat, seeds = data.get("repeat"), data.get("seeds")
    if repeat is not None and seeds is not None:
        raise ConfigError("give repeat: N or seeds: [..], not both")
    if repeat is not None:
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ConfigError(f"repeat must be an integer >= 1, got {repeat!r}")
        seeds = [int(base.get("seed", 0)) + k for k in range(repeat)]
    if seeds is not None:
        seeds = _seed_list(seeds)
    out = []
    for n, c, i, _ in runs:
        mine = run_seeds.get(n, seeds)
        if mine is None:
            out.append((n, c, i, n))
        elif len(mine) == 1:
            out.append((n, {**c, "seed": mine[0]}, i, n))
        else:
            out += [(f"{n}-seed{s}", {**c, "seed": s}, i, n) for s in mine]
    return out


def load_study(path: str | Path) -> Study:
    """Read and expand a study YAML file."""
    return parse_study(load_yaml(path), default_name=Path(path).stem)
