"""Runs taken from a study's published tables when their run dirs were not kept.

A study folder that was committed (``results.csv`` + ``results.md``, e.g.
``docs/studies/NAME``) records every finished run's figures but not its run dir, which holds
the checkpoint and curves and is never committed. When the run dirs are lost (another
machine, a wiped disk), ``camviz study CONFIG --previous FOLDER`` takes the runs listed there
instead of training them again, so new seeds or rows add to the published ones. A run is
taken only when the folder was made with the same base settings and scale (the ``- Base:``
and ``- Scale:`` lines of its ``results.md``) and the same changed settings (its row in
``results.csv``); a finished run dir of the same run wins over the table. Taken runs say
where they came from; their curves come from the folder's ``histories.csv`` (every run's
epochs, written beside the tables since it was added), else they have none (their epoch
histories were in the lost run dirs).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from camviz.errors import ConfigError
from camviz.study.config import Study, describe

INTS = ("seed", "best_epoch", "params", "epochs", "train_images")
FLOATS = ("best_val_accuracy", "test_accuracy", "train_seconds")
KEPT_NOT = "run dir not kept"
HISTORIES = "histories.csv"   # every run's epochs, one line each: the curves survive the run dirs
#: Status labels of earlier camviz versions -> today's (the rule is the same).
OLD_STATUS = {"still improving": "not converged"}
HISTORY_COLUMNS = ("run", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


def _line(md: str, prefix: str) -> str | None:
    return next((line[len(prefix):] for line in md.splitlines() if line.startswith(prefix)), None)


def _value(key: str, text: str) -> Any:
    if text == "":
        return None
    return int(text) if key in INTS else float(text) if key in FLOATS else text


def load_previous(folder: str | Path, study: Study, base: str, scale: str
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Run name -> table row of each run of ``study`` listed in ``folder``'s ``results.csv``,
    and run name -> epoch history of those of them in its ``histories.csv``; ``base``/``scale``
    are the study's ``- Base:``/``- Scale:`` text, which the folder's ``results.md`` must
    repeat."""
    folder = Path(folder)
    csv_path, md_path = folder / "results.csv", folder / "results.md"
    for path in (csv_path, md_path):
        if not path.is_file():
            raise ConfigError(f"--previous '{folder}' has no {path.name}; pass a folder written by "
                              "`camviz study` (results.csv and results.md)")
    md = md_path.read_text(encoding="utf-8")
    for prefix, want in (("- Base: ", base), ("- Scale: ", scale)):
        have = _line(md, prefix)
        if have != want:
            raise ConfigError(f"--previous '{folder}' was made with {prefix[2:-2].lower()} '{have}', "
                              f"this study has '{want}'; its runs are not this study's (drop "
                              "--previous or pass the matching folder)")
    runs = {run.name: run for run in study.runs}
    taken: dict[str, dict[str, Any]] = {}
    with csv_path.open(newline="", encoding="utf-8") as f:
        for line, raw in enumerate(csv.DictReader(f), start=2):
            run = runs.get(raw.get("run", ""))
            if run is None:
                continue   # a row the study no longer has
            if raw.get("changes") != describe(run.changes):
                raise ConfigError(f"{csv_path}:{line}: run '{run.name}' was made with "
                                  f"'{raw.get('changes')}', this study's is "
                                  f"'{describe(run.changes)}'; fix the config or drop --previous")
            try:
                row = {key: _value(key, text) for key, text in raw.items()}
            except (TypeError, ValueError):
                raise ConfigError(f"{csv_path}:{line}: run '{run.name}' has a value that is not a "
                                  "number; pass an unedited results.csv") from None
            row["status"] = OLD_STATUS.get(row.get("status"), row.get("status"))
            taken[run.name] = row
    histories = _histories(folder / HISTORIES, set(taken))
    for name, row in taken.items():
        note = f"from {csv_path}, {KEPT_NOT}" + ("" if name in histories else ": no curves")
        if KEPT_NOT not in (row.get("note") or ""):   # taken before: its note says so
            row["note"] = f"{row['note']}; {note}" if row.get("note") else note
    return taken, histories


def _histories(path: Path, runs: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Run name -> its epochs in ``histories.csv`` (absent file: none), for ``runs`` only."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not path.is_file():
        return out
    with path.open(newline="", encoding="utf-8") as f:
        for line, raw in enumerate(csv.DictReader(f), start=2):
            name = raw.pop("run", "")
            if name not in runs:
                continue
            try:
                out.setdefault(name, []).append(
                    {k: int(v) if k == "epoch" else float(v) for k, v in raw.items() if v != ""})
            except (TypeError, ValueError):
                raise ConfigError(f"{path}:{line}: run '{name}' has a value that is not a number; "
                                  "pass an unedited histories.csv") from None
    return out
