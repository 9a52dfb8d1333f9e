"""Writing a folder run as it goes, resumably — the outputs layer at folder scale.

Layout of ``OUT`` (``camviz explain`` with many images, ``--resume`` or under ``torchrun``)::

    OUT/<image>/              overlays, .npy maps, manifest.json (grid.png on request)
    OUT/summary.csv, .json    one row per image: predictions, targets, map statistics, warnings
    OUT/.camviz/run.json      the settings the images were explained with
    OUT/.camviz/done-rank<R>.jsonl   one line per finished image, appended by rank R

An image's files are written into ``OUT/.camviz/partial-rank<R>/<image>`` and moved into
place with one rename; only then is its line appended (flushed and fsynced) to the rank's
record. A run killed at any point (SIGTERM, SIGKILL, power) leaves complete image folders,
records that name only those, and at most one partial folder, which the next run into the
same ``OUT`` removes before it skips the recorded images. Nothing is written outside ``OUT``.
While a rank writes, it holds ``OUT/.camviz/lock-rank<R>`` (:class:`camviz.dirlock.FolderLock`):
a second process writing as the same rank into the same ``OUT`` (a ``--resume`` started while
the first still runs) is refused at once, where it would have removed the first's partial
folder and interleaved their records.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from camviz.dirlock import STATE_DIR, FolderLock
from camviz.errors import ConfigError
from camviz.explain_notes import notes
from camviz.explainer import ImageExplanation
from camviz.fileio import atomic_write
from camviz.handle import LoadedModel
from camviz.outputs import model_sha256, write_image_folder
from camviz.streaming import Failure
from camviz.viz import check_style

SUMMARY_FIELDS = ("file", "name", "status", "predicted", "probability", "top5", "targets",
                  "target_probs", "maps", "warnings", "error")


class FolderWriter:
    """Writes one rank's images into ``out_dir`` and records each when it is complete.

    ``settings``: what decides the outputs (model, layers, methods, classes, style); a
    folder holding records made with other settings is refused unless ``restart`` (then
    its records are dropped and its image folders replaced as images are rewritten).
    ``threads`` draw and encode images while the caller computes the next batch (OpenCV,
    numpy and file writes release the GIL); records are still appended in input order.
    """

    def __init__(self, out_dir: str | os.PathLike, *, loaded: LoadedModel,
                 settings: dict[str, Any], alpha: float = 0.5, colormap: str = "jet",
                 grid: bool = False, rank: int = 0, restart: bool = False,
                 threads: int = 1) -> None:
        self.alpha, self.colormap = check_style(alpha, colormap)
        self.out = Path(out_dir).expanduser()
        if self.out.exists() and not self.out.is_dir():
            raise ConfigError(f"output '{self.out}' exists and is not a directory; pass another --out")
        self.loaded, self.grid = loaded, grid
        self.state = self.out / STATE_DIR
        self.partial = self.state / f"partial-rank{rank}"
        self.record_path = self.state / f"done-rank{rank}.jsonl"
        self.sha256 = model_sha256(loaded)
        self._held = ExitStack()   # the lock, held until close()
        self._held.enter_context(FolderLock(
            self.out, f"{STATE_DIR}/lock-rank{rank}", what="output folder", doing="written",
            fix="wait for it to finish (or stop it and run again with --resume), or pick "
                "another --out"))
        try:
            self._open(settings, rank=rank, restart=restart)
        except BaseException:
            self._held.close()
            raise
        self.pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="camviz-write")
        self.pending: deque[Future] = deque()
        self.limit = 4 * max(1, threads)   # images in flight: memory stays bounded

    def _open(self, settings: dict[str, Any], *, rank: int, restart: bool) -> None:
        """Under the lock: clear a killed run's partial image, check or record the settings,
        open this rank's record."""
        shutil.rmtree(self.partial, ignore_errors=True)   # a killed run's unfinished image
        self.partial.mkdir()
        run_file = self.state / "run.json"
        settings = json.loads(json.dumps(settings))   # as it reads back
        if run_file.exists() and json.loads(run_file.read_text()) != settings:
            if not restart:
                raise ConfigError(f"'{self.out}' holds a run made with other settings (see "
                                  f"{run_file}); pass another --out, or --restart to redo it")
            for old in self.state.glob("done-rank*.jsonl"):
                old.unlink()
        if rank == 0:
            atomic_write(run_file, lambda tmp: tmp.write_text(json.dumps(settings, indent=1)))
        _repair(self.record_path)
        self.records = open(self.record_path, "a", encoding="utf-8")  # noqa: SIM115  closed in close()

    def done(self) -> set[str]:
        """Names of the images every rank has finished (failures are tried again)."""
        return {r["name"] for r in read_records(self.out) if r["status"] == "ok"}

    def write(self, r: ImageExplanation) -> None:
        """Queue one image: its folder is written and moved into place in a worker thread,
        then recorded here (in order) by a later :meth:`write` or :meth:`close`."""
        self.pending.append(self.pool.submit(self._files, r))
        while self.pending and (len(self.pending) > self.limit or self.pending[0].done()):
            self._record_first()

    def _record_first(self) -> None:
        # recorded before it leaves the queue: a signal in between records it twice (harmless:
        # the later record of an image replaces the earlier), never not at all
        self._append(self.pending[0].result())
        self.pending.popleft()

    def _files(self, r: ImageExplanation) -> dict[str, Any]:
        tmp, dest = self.partial / r.name, self.out / r.name
        write_image_folder(r, tmp, self.loaded, self.alpha, self.colormap, self.sha256,
                           with_grid=self.grid)
        if dest.exists():   # left by a killed run or an older one: not recorded, so redone
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        return summary_row(r, self.loaded)

    def fail(self, f: Failure) -> dict[str, Any]:
        return self._append({"file": f.source, "name": f.name, "status": "failed",
                             "error": f.error})

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        # flushed at once: a killed process loses nothing the OS has (fsync once, at close)
        self.records.write(json.dumps(record) + "\n")
        self.records.flush()
        return record

    def close(self) -> None:
        """Finish and record the queued images. On an error or a signal (even one that
        arrives while this waits) the images not started are dropped, and every image whose
        folder is in place is still recorded: records and complete folders stay equal."""
        try:
            while self.pending:
                self._record_first()
        finally:
            for f in self.pending:
                f.cancel()
            self.pool.shutdown(wait=True)
            for f in self.pending:
                if not f.cancelled() and f.exception() is None:
                    self._append(f.result())
            try:
                os.fsync(self.records.fileno())
                self.records.close()
                shutil.rmtree(self.partial, ignore_errors=True)
            finally:
                self._held.close()   # the lock goes last, once this rank's files are final


def _repair(path: Path) -> None:
    """Cut a line half-written by a killed run, so the next append starts on a new line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[:data.rfind(b"\n") + 1])


def read_records(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every rank's records (a later record of an image replaces an earlier one)."""
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(out_dir) / STATE_DIR).glob("done-rank*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue   # cut by a kill: that image is not done
            if record.get("status") == "ok" or latest.get(record["name"], {}).get("status") != "ok":
                latest[record["name"]] = record
    return list(latest.values())


def summary_row(r: ImageExplanation, loaded: LoadedModel) -> dict[str, Any]:
    """One image's line of the summary: predictions, explained classes, map statistics
    (per layer x method of the first class: mean, and the fraction of the map above 0.5)."""
    maps = {}
    for (layer, method), m in r.maps.items():
        a = np.asarray(m[0], dtype=np.float64)
        maps[f"{method}@{layer}"] = {"mean": round(float(a.mean()), 4),
                                     "area50": round(float((a > 0.5).mean()), 4)}
    return {"file": r.source, "name": r.name, "status": "ok",
            "predicted": r.predictions[0][0], "probability": round(r.predictions[0][1], 4),
            "top5": [[n, round(p, 4)] for n, p in r.predictions[:5]],
            "targets": list(r.target_names),
            "target_probs": [round(float(r.probs[t]), 4) for t in r.targets],
            "maps": maps, "warnings": notes(r, loaded)}


def merge_summary(out_dir: str | os.PathLike, names: Sequence[str]) -> tuple[Path, Path, list[dict]]:
    """Write ``summary.csv`` and ``summary.json`` from every rank's records, in the order of
    ``names`` (the inputs); returns both paths and the rows."""
    out = Path(out_dir)
    order = {n: i for i, n in enumerate(names)}
    rows = sorted((r for r in read_records(out) if r["name"] in order),
                  key=lambda r: order[r["name"]])
    text = io.StringIO()
    table = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    table.writeheader()
    for r in rows:
        table.writerow({k: _cell(r.get(k)) for k in SUMMARY_FIELDS})
    csv_path = atomic_write(out / "summary.csv", lambda tmp: tmp.write_text(text.getvalue()))
    json_path = atomic_write(out / "summary.json",
                             lambda tmp: tmp.write_text(json.dumps(rows, indent=1) + "\n"))
    return csv_path, json_path, rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):   # map statistics: "gradcam@layer4 mean=0.31 area50=0.22; ..."
        return "; ".join(f"{k} " + " ".join(f"{s}={v}" for s, v in stats.items())
                         for k, stats in value.items())
    if isinstance(value, list):
        return "; ".join(f"{v[0]} {v[1]}" if isinstance(v, list) else str(v) for v in value)
    return str(value)
