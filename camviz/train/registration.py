"""Where a finished run registers its best checkpoint, and what it may never replace.

A run registers as ``<dir>/<name>.safetensors`` where ``<dir>`` is ``--checkpoints-dir``,
else ``$CAMVIZ_CHECKPOINTS``, else ``./checkpoints`` of the working directory (created if
missing). Reading falls back further (see :mod:`camviz.hub`), writing never does: a run
started outside the repository cannot reach the repository's shipped checkpoints.

An existing file is replaced only with ``--overwrite``. A file whose SHA-256 is listed in a
``shipped.json`` beside it (the repository's shipped checkpoints) is never replaced.
The check runs before training starts, so a refused run costs nothing, and again just
before the copy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from camviz.checkpoint import file_sha256
from camviz.errors import ConfigError
from camviz.fileio import check_file_name, check_output

SHIPPED_LIST = "shipped.json"


def registration_dir(checkpoints_dir: str | os.PathLike | None) -> Path:
    """``checkpoints_dir``, else ``$CAMVIZ_CHECKPOINTS``, else ``./checkpoints``."""
    if checkpoints_dir:
        return Path(checkpoints_dir)
    env = os.environ.get("CAMVIZ_CHECKPOINTS")
    return Path(env) if env else Path.cwd() / "checkpoints"


def check_name(name: str) -> None:
    """A checkpoint name is one file name: ``--model NAME`` must find it again."""
    check_file_name(name, "--name", "lenet5-run2")


def shipped_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 -> name of every checkpoint listed in ``directory/shipped.json``."""
    listing = directory / SHIPPED_LIST
    if not listing.is_file():
        return {}
    try:
        entries = json.loads(listing.read_text())["checkpoints"]
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"'{listing}' is not a shipped-checkpoint list ({err}); fix or remove it, "
                          "or register into another --checkpoints-dir") from None
    return {e["sha256"]: name for name, e in entries.items() if isinstance(e, dict) and e.get("sha256")}


def registration_target(name: str, checkpoints_dir: str | os.PathLike | None, *,
                        overwrite: bool) -> Path:
    """The file a run named ``name`` registers as; raises if it may not be written."""
    check_name(name)
    directory = check_output(registration_dir(checkpoints_dir), "--checkpoints-dir")
    dest = directory / f"{name}.safetensors"
    if not dest.exists():
        return dest
    shipped = shipped_hashes(directory).get(file_sha256(dest)) if dest.is_file() else None
    if shipped:
        raise ConfigError(f"'{dest}' is the shipped checkpoint '{shipped}' and is never replaced; "
                          f"pass another --name or --checkpoints-dir (or --no-register)")
    if not overwrite:
        raise ConfigError(f"checkpoint '{dest}' already exists; pass --overwrite to replace it, "
                          f"or another --name (or --no-register)")
    return dest
