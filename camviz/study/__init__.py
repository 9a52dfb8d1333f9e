"""Studies: a grid of training runs, one table and its charts — ``camviz study``.

:mod:`~camviz.study.config` reads a study YAML into runs, :mod:`~camviz.study.runner`
trains them (``jobs`` in parallel, finished runs reused, interrupted ones resumed) and
:mod:`~camviz.study.report` / :mod:`~camviz.study.charts` write ``results.md``,
``results.csv`` (per run), ``summary.csv`` (per row, mean ± std over seeds) and the charts.
"""

from __future__ import annotations

from pathlib import Path

from camviz.study.config import Study, StudyRun, describe, load_study, parse_study
from camviz.study.report import write_outputs
from camviz.study.runner import MARKER, StudyResult, execute, scale_text


def run_study(study: Study, out: str | Path | None = None, **options) -> StudyResult:
    """Train every run of ``study`` (see :func:`~camviz.study.runner.execute` for the
    options), then write its tables and charts."""
    result = execute(study, out, **options)
    write_outputs(study, result, device=options.get("device"))
    return result


__all__ = ["MARKER", "Study", "StudyResult", "StudyRun", "describe", "execute", "load_study",
           "parse_study", "run_study", "scale_text", "write_outputs"]
