"""``camviz evaluate-cam --out DIR``: the scores so far, saved after every batch.

An evaluation of a few hundred images takes minutes to hours (deletion and insertion run
the model ``2 x steps`` times per map, the sanity check re-explains every image once per
randomised block). With an ``--out`` folder, rank R's per-image values are written after
each batch to ``OUT/.camviz/evaluate-rank<R>.safetensors`` (atomically: a kill leaves the
previous batch's file), with what decides them (model weights' hash, data set, split,
image count, settings, world size) in its header. The same command run again starts from
there: the batches already scored are skipped, and the result equals an uninterrupted
run's. A file made with other settings is refused unless ``restart``. The folder is held by
one process per rank (:class:`~camviz.dirlock.FolderLock`) while it runs.
"""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from camviz.dirlock import STATE_DIR, FolderLock
from camviz.errors import ConfigError
from camviz.fileio import atomic_write

_HEADER = "camviz_evaluation"


class EvalCheckpoint:
    """``with EvalCheckpoint(out, model_sha256=..., rank=R) as ck: evaluate_cam(..., checkpoint=ck)``.

    :meth:`begin` returns the saved state for this fingerprint (or None), :meth:`save` writes
    one after a batch."""

    def __init__(self, out_dir: str | os.PathLike, *, model_sha256: str, rank: int = 0,
                 restart: bool = False) -> None:
        self.out = Path(out_dir).expanduser()
        self.path = self.out / STATE_DIR / f"evaluate-rank{rank}.safetensors"
        self.model_sha256, self.rank, self.restart = model_sha256, rank, restart
        self.fingerprint: dict[str, Any] = {}
        self.resumed = 0   # images scored before this run (read by begin)
        self._held = ExitStack()

    def __enter__(self) -> EvalCheckpoint:  # noqa: PYI034 - typing.Self is 3.11+
        self._held.enter_context(FolderLock(
            self.out, f"{STATE_DIR}/evaluate-lock-rank{self.rank}", what="output folder",
            doing="evaluated into", fix="wait for it to finish (or stop it and run the same "
            "command again to continue), or pick another --out"))
        return self

    def __exit__(self, *exc: object) -> None:
        self._held.close()

    def begin(self, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        """The state saved for ``fingerprint`` (the model's hash is added), or None to start
        afresh; a state saved with another fingerprint is refused unless ``restart``."""
        self.fingerprint = json.loads(json.dumps({**fingerprint, "sha256": self.model_sha256}))
        if self.restart or not self.path.exists():   # restart: the first save replaces it
            return None
        try:
            with safe_open(self.path, "pt") as f:   # one read: header and tensors
                meta = json.loads((f.metadata() or {})[_HEADER])
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
        except (SafetensorError, OSError, ValueError, KeyError) as err:
            raise ConfigError(f"cannot read the saved evaluation '{self.path}' ({err}); "
                              "delete it, or pass --restart") from None
        if meta["fingerprint"] != self.fingerprint:
            changed = sorted(k for k in self.fingerprint
                             if meta["fingerprint"].get(k) != self.fingerprint[k])
            raise ConfigError(f"'{self.out}' holds an evaluation made with other settings "
                              f"(differing: {', '.join(changed)}; see {self.path}); pass another "
                              "--out, or --restart to redo it")
        keys = [tuple(k) for k in meta["keys"]]
        self.resumed = len(tensors["index"])
        return {"values": {k: tensors[f"v{i}"] for i, k in enumerate(keys)},
                "index": tensors["index"], "correct": meta["correct"],
                "zero": {(m, layer): c for m, layer, c in meta["zero"]},
                "skipped": meta["skipped"], "layer_methods": meta["layer_methods"]}

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` (a :func:`~camviz.metrics.shards.snapshot`) in place of the last."""
        keys = list(state["values"])
        tensors = {f"v{i}": state["values"][k].contiguous() for i, k in enumerate(keys)}
        tensors["index"] = state["index"].to(torch.long).contiguous()
        meta = {"fingerprint": self.fingerprint, "keys": [list(k) for k in keys],
                "correct": state["correct"],
                "zero": [[m, layer, c] for (m, layer), c in state["zero"].items()],
                "skipped": state["skipped"], "layer_methods": state["layer_methods"]}
        atomic_write(self.path, lambda tmp: save_file(
            tensors, str(tmp), metadata={_HEADER: json.dumps(meta)}))
