"""A study's tables: ``results.csv`` (one line per run), ``summary.csv`` and ``results.md``
(one line per row: mean +- std over its seeds), ``histories.csv`` (one line per epoch of every
run with curves: what ``--previous`` draws them from when the run dirs are gone). Diverged
runs have no accuracy and do not count in a mean; rows that did not run are listed with the
reason, never with a number.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from typing import Any

from camviz.models import MODELS
from camviz.study import charts
from camviz.study.config import Study, base_text, describe
from camviz.study.previous import HISTORIES, HISTORY_COLUMNS
from camviz.study.runner import CHANCE_FACTOR, PLATEAU, STATUSES, StudyResult
from camviz.train.artifacts import write_text

RUN_COLUMNS = ("run", "row", "seed", "changes", "status", "best_val_accuracy", "best_epoch",
               "test_accuracy", "train_seconds", "params", "epochs", "train_images", "note",
               "run_dir")
SUMMARY_COLUMNS = ("row", "changes", "seeds", "finished", "diverged", "test_accuracy_mean",
                   "test_accuracy_std", "best_val_accuracy_mean", "train_seconds_mean", "params",
                   "epochs", "status", "reference", "not_run")


@dataclass
class RowSummary:
    """One table row: the runs of one study row (its seeds) aggregated."""

    row: str
    changes: str
    runs: list[dict[str, Any]]
    reference: float | None = None
    not_run: str = ""

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["status"] != "diverged"]

    def mean(self, key: str) -> float | None:
        vals = [r[key] for r in self.ok if r[key] is not None]
        return statistics.fmean(vals) if vals else None

    def std(self, key: str) -> float | None:
        vals = [r[key] for r in self.ok if r[key] is not None]
        return statistics.stdev(vals) if len(vals) >= 2 else None

    @property
    def status(self) -> str:
        if self.not_run:
            return "not run"
        counts = {s: sum(r["status"] == s for r in self.runs) for s in STATUSES}
        return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def summarize(study: Study, result: StudyResult, not_run: dict[str, str] | None = None,
              reference: dict[str, float] | None = None) -> list[RowSummary]:
    """Rows in the study's order; ``not_run`` maps a row to why it has no runs."""
    out: dict[str, RowSummary] = {}
    done = {r["run"]: r for r in result.rows}
    for run in study.runs:
        s = out.setdefault(run.row, RowSummary(run.row, "", [], (reference or {}).get(run.row)))
        if not s.changes:
            s.changes = describe({k: v for k, v in run.changes.items() if k != "seed"})
        if run.name in done:
            s.runs.append(done[run.name])
            ran_with = done[run.name]["changes"].partition(" (ran with ")[2]
            if ran_with and "(ran with" not in s.changes:
                s.changes += f" (ran with {ran_with}"
    for name, s in out.items():
        if not s.runs:
            s.not_run = (not_run or {}).get(name, "not run")
    return list(out.values())


def context(study: Study, result: StudyResult) -> str:
    """Data set, training images, width and epochs of what ran: the line every table and
    chart carries."""
    rows = [r for r in result.rows]
    runs = {r.name: r for r in study.runs}
    datasets = sorted({str(runs[r["run"]].values.get("dataset")) for r in rows})
    images = sorted({r["train_images"] for r in rows if r["train_images"]})
    widths = sorted({_width(runs[r["run"]].values) for r in rows})
    epochs = sorted({r["epochs"] for r in rows})
    val0 = any(runs[r["run"]].values.get("val_fraction") == 0 for r in rows)
    return (f"{'/'.join(datasets) or '-'}, {'/'.join(f'{n:,}' for n in images) or '?'} training images"
            f"{' (validated on the test split)' if val0 else ''}, width "
            f"{'/'.join(f'{w:g}' for w in widths) or '-'}, {'/'.join(map(str, epochs)) or '-'} epochs")


def _width(values: dict[str, Any]) -> float:
    opts = values.get("model_options") or {}
    default = MODELS.get(values["model"]).options().get("width", 1.0)
    return float(opts.get("width", default))


def write_tables(study: Study, result: StudyResult, rows: list[RowSummary], *,
                 device: str | None = None) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RUN_COLUMNS)
    for row in result.rows:
        w.writerow(["" if row[c] is None else row[c] for c in RUN_COLUMNS])
    write_text(result.out / "results.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_COLUMNS)
    for s in rows:
        w.writerow([s.row, s.changes, len(s.runs), len(s.ok), len(s.runs) - len(s.ok),
                    *("" if v is None else v for v in (
                        s.mean("test_accuracy"), s.std("test_accuracy"),
                        s.mean("best_val_accuracy"), s.mean("train_seconds"))),
                    s.runs[0]["params"] if s.runs else "", s.runs[0]["epochs"] if s.runs else "",
                    s.status, "" if s.reference is None else s.reference, s.not_run])
    write_text(result.out / "summary.csv", buf.getvalue())
    write_text(result.out / HISTORIES, _histories_csv(result))
    write_text(result.out / "results.md", markdown(study, result, rows, device=device))


def _histories_csv(result: StudyResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_COLUMNS)
    for row in result.rows:
        for h in result.histories.get(row["run"], []):
            w.writerow([row["run"], *("" if h.get(c) is None else f"{h[c]:.6g}"
                                      for c in HISTORY_COLUMNS[1:])])
    return buf.getvalue()


def _fmt(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pm(s: RowSummary, key: str) -> str:
    mean, std = s.mean(key), s.std(key)
    if mean is None:
        return "n/a"
    return f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f}"


def markdown(study: Study, result: StudyResult, rows: list[RowSummary], *,
             device: str | None = None) -> str:
    base = base_text(study)
    has_ref = any(s.reference is not None for s in rows)
    lines = [f"# Study `{study.name}`", ""]
    if study.description:
        lines += [study.description, ""]
    lines += [f"- Data: {context(study, result)}", f"- Scale: {result.scale}", f"- Base: {base}"]
    if device:
        lines.append(f"- Device: {device}")
    if result.taken:
        bare = sum(name not in result.histories for name in result.taken)
        lines.append(f"- {len(result.taken)} of {len(result.rows)} runs taken from "
                     f"`{result.previous / 'results.csv'}` (published before; their run dirs were "
                     "not kept" + (f", so {bare} of them have no curves" if bare else
                                   f"; curves from its {HISTORIES}") + ")"
                     + (", the others from their run dirs" if len(result.taken) < len(result.rows) else ""))
    lines += [(
        "- Test accuracy is the mean ± sample std over a row's seeds that did not diverge "
        "(a single seed shows no ±). Status per run: *diverged* = non-finite loss or "
        f"validation accuracy below {CHANCE_FACTOR:g} / classes after epoch 1 (no accuracy shown, "
        f"not in any mean or chart); *converged* = last three epochs' validation accuracy within "
        f"{PLATEAU:g}; else *not converged* (rising or falling). Train time is the mean wall "
        "time per run."), ""]
    head = "| row | changed settings | seeds | test acc | " + \
        (f"{study.reference_label} | " if has_ref else "") + \
        "best val acc | status | train time s | params | epochs |"
    lines += [head, "|" + "---|" * 2 + "---:|" * (3 + has_ref) + "---|" + "---:|" * 3]
    for s in rows:
        ref = (f"{_fmt(s.reference, 3)} | " if s.reference is not None else "– | ") if has_ref else ""
        if s.not_run:
            lines.append(f"| {s.row} | {s.changes} | 0 | {s.not_run} | {ref}– | not run | – | – | – |")
            continue
        params = "n/a" if s.runs[0]["params"] is None else f"{s.runs[0]['params']:,}"
        lines.append(f"| {s.row} | {s.changes} | {len(s.runs)} | {_pm(s, 'test_accuracy')} | {ref}"
                     f"{_pm(s, 'best_val_accuracy')} | {s.status} | {_fmt(s.mean('train_seconds'), 1)}"
                     f" | {params} | {s.runs[0]['epochs']} |")
    lines += ["", "## Runs", "", "| run | status | best val acc | test acc | train time s | epochs |",
              "|---|---|---:|---:|---:|---:|"]
    for r in result.rows:
        status = r["status"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(f"| {r['run']} | {status} | {_fmt(r['best_val_accuracy'])} | "
                     f"{_fmt(r['test_accuracy'])} | {_fmt(r['train_seconds'], 1)} | {r['epochs']} |")
    lines += ["", "## Charts", ""] + [f"![{p.stem}]({p.name})" for p in result.charts] + [""]
    return "\n".join(lines)


def write_outputs(study: Study, result: StudyResult, *, device: str | None = None) -> None:
    """The tables and charts of ``result`` in ``result.out``; rows of ``study`` without a
    finished run are listed as not run (its ``skip`` reason, else "unfinished")."""
    result.out.mkdir(parents=True, exist_ok=True)
    not_run = {row: f"not run ({why})" for row, why in study.skip.items()}
    rows = summarize(study, result, {r.row: not_run.get(r.row, "not run (unfinished when this "
                                     "table was written)") for r in study.runs}, study.reference)
    for stale in [*result.out.glob("sweep_*.png"), result.out / "curves.png", result.out / "params.png",
                  result.out / "val_accuracy.png"]:
        stale.unlink(missing_ok=True)   # charts of an earlier layout or of rows that left
    subtitle = context(study, result)
    by_row = {s.row: s for s in rows}
    label = study.reference_label
    finished = [s for s in rows if s.ok]
    result.charts = []
    if any(r["run"] in result.histories for s in finished for r in s.ok):
        result.charts.append(charts.plot_curves(finished, result.histories, subtitle, result.out))
    for key, points in charts.sweeps(study).items():
        path = charts.plot_sweep(key, points, by_row, subtitle, result.out, label)
        if path:
            result.charts.append(path)
    result.charts += charts.plot_bars(rows, subtitle, result.out, label)
    write_tables(study, result, rows, device=device)
