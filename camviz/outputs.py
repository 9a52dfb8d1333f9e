"""The outputs layer: explanations drawn and written — the one writer of explain files.

* :func:`explanation_grid` — one image by one or more models: rows = model × layer × class,
  columns = the input then each method, with a colour bar;
* :func:`write_outputs` — overlays, a grid, ``.npy`` maps and a JSON manifest per image,
  written into a hidden staging folder and moved into place only when everything
  succeeded, so an error never leaves half an output behind (``camviz explain``);
* :func:`write_request_files` — the overlays and raw maps of one explanation into a
  folder, on demand (the app's downloads).

Alpha and colour map are checked once, by :func:`camviz.viz.check_style`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from camviz.cam import METHODS
from camviz.explainer import ImageExplanation, safe_name
from camviz.fileio import atomic_write, check_output, file_sha256, make_parents, remove_empty
from camviz.handle import LoadedModel
from camviz.version import __version__
from camviz.viz import check_style, encode_png, grid, overlay

# ------------------------------------------------------------------------- grids

def explanation_grid(results: Sequence[ImageExplanation], *, alpha: float = 0.5,
                     colormap: str = "jet", title: str | None = None) -> np.ndarray:
    """One image explained by one or more models: rows = model × layer × class, columns =
    the input then each method; with a colour bar (uint8 RGB)."""
    if not results:
        raise ValueError("no explanations to draw")
    methods = list(dict.fromkeys(m for r in results for m in r.methods))
    cells, rows = [], []
    for r in results:
        for layer in r.layers:
            for k, (t, tname) in enumerate(zip(r.targets, r.target_names)):
                row: list[np.ndarray | None] = [r.rgb if not cells else None]
                row += [overlay_of(r, layer, m, k, alpha=alpha, colormap=colormap)
                        if (layer, m) in r.maps else None for m in methods]
                cells.append(row)
                rows.append(f"{r.model} · {layer}\n{tname} ({r.probs[t]:.2f})")
    top = results[0].predictions[0]
    titles = ["input"] + [METHODS.get(m).title for m in methods]
    return grid(cells, row_labels=rows, col_labels=titles, colormap=colormap,
                title=title if title is not None else
                f"{Path(results[0].source).name} — predicted {top[0]} ({top[1]:.2f})")


# ------------------------------------------------------------------------- files

def overlay_of(r: ImageExplanation, layer: str | None = None, method: str | None = None,
               k: int = 0, *, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """The map of ``(layer, method)`` for the k-th class blended over the display image."""
    return overlay(r.rgb, r.map(layer, method, k), alpha=alpha, colormap=colormap)


def model_view(r: ImageExplanation, size: int = 224) -> np.ndarray:
    """What the model saw (its input before normalisation), enlarged by whole pixels to about
    ``size`` so a 28×28 input is visible as such, as uint8 RGB."""
    seen = np.asarray(r.model_input)
    rgb = np.repeat(seen[..., None], 3, axis=2) if seen.ndim == 2 else seen
    k = max(1, size // max(rgb.shape[:2]))
    return np.ascontiguousarray(rgb.repeat(k, axis=0).repeat(k, axis=1))


def _file_key(layer: str, method: str, target: int | None) -> str:
    return f"{safe_name(layer)}_{method}" + ("" if target is None else f"_c{target}")


def manifest(r: ImageExplanation, loaded: LoadedModel, *, alpha: float, colormap: str,
             sha256: str | None, files: dict[str, Any]) -> dict[str, Any]:
    """The JSON record written beside one image's outputs."""
    record = {
        "camviz_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "image": {"source": r.source, "name": r.name, "width": r.size[0], "height": r.size[1]},
        "model": {"name": loaded.name, "source": loaded.source, "arch": loaded.arch,
                  "checkpoint": str(loaded.checkpoint) if loaded.checkpoint else None,
                  "sha256": sha256, "input_size": loaded.input_size,
                  "in_channels": loaded.in_channels, "num_classes": len(loaded.classes)},
        "layers": r.layers,
        "methods": r.methods,
        "score": r.score,
        "targets": [{"index": t, "name": n, "prob": float(r.probs[t])}
                    for t, n in zip(r.targets, r.target_names)],
        "predictions": [{"rank": i + 1, "index": c, "name": n, "prob": p}
                        for i, (c, (n, p)) in enumerate(zip(r.top_indices, r.predictions))],
        "overlay": {"alpha": alpha, "colormap": colormap},
        "files": files,
    }
    # what was differentiated, when it is not the target's own score
    if r.counterfactual:
        record["counterfactual"] = True
    if r.contrast is not None:
        record["contrast"] = {"index": r.contrast, "name": loaded.classes[r.contrast]}
    return record


def write_image_folder(r: ImageExplanation, folder: Path, loaded: LoadedModel, alpha: float,
                       colormap: str, sha256: str | None, *, with_grid: bool = True) -> None:
    """One image's files into the new folder ``folder`` (see :func:`write_outputs`);
    ``with_grid=False`` leaves out ``grid.png``, the one matplotlib figure (most of the cost)."""
    folder.mkdir()
    maps = []
    several = len(r.targets) > 1
    for layer in r.layers:
        for m in r.methods:
            key = _file_key(layer, m, None)
            np.save(folder / f"{key}.npy", r.maps[(layer, m)].astype(np.float32))
            np.save(folder / f"{key}.raw.npy", r.raw[(layer, m)].astype(np.float32))
            for k, t in enumerate(r.targets):
                png = _file_key(layer, m, t if several else None) + ".png"
                (folder / png).write_bytes(encode_png(overlay_of(r, layer, m, k, alpha=alpha,
                                                                 colormap=colormap)))
                maps.append({"layer": layer, "method": m, "target": t, "overlay": png,
                             "map": f"{key}.npy", "map_index": k, "raw": f"{key}.raw.npy"})
    files: dict[str, Any] = {"maps": maps}
    if with_grid:
        (folder / "grid.png").write_bytes(encode_png(explanation_grid([r], alpha=alpha,
                                                                      colormap=colormap)))
        files = {"grid": "grid.png", "maps": maps}
    text = json.dumps(manifest(r, loaded, alpha=alpha, colormap=colormap, sha256=sha256,
                               files=files), indent=2)
    (folder / "manifest.json").write_text(text + "\n")


def model_sha256(loaded: LoadedModel) -> str | None:
    """The checkpoint's SHA-256 for manifests (hashed from the file when not known)."""
    if loaded.sha256 is None and loaded.checkpoint is not None and Path(loaded.checkpoint).is_file():
        return file_sha256(loaded.checkpoint)
    return loaded.sha256


def write_outputs(results: Iterable[ImageExplanation], out_dir: str | os.PathLike, *,
                  loaded: LoadedModel, alpha: float = 0.5, colormap: str = "jet") -> list[Path]:
    """Write ``out_dir/<image name>/``: one overlay PNG per layer × method (× class),
    ``grid.png``, the maps (``<layer>_<method>.npy``, (K, S, S) in [0, 1]) and raw maps
    (``.raw.npy``, layer resolution), and ``manifest.json``. Returns the files written.

    ``results`` may be a lazy iterator (it is consumed here). Everything goes to a hidden
    staging folder beside ``out_dir`` first; only when all images succeeded are the image
    folders moved in (replacing earlier folders of the same name). On any error nothing
    new is left behind.
    """
    alpha, colormap = check_style(alpha, colormap)
    out_dir = check_output(out_dir)
    created = make_parents(out_dir.parent)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
    sha256 = model_sha256(loaded)
    done = False
    try:
        names = []
        for r in results:
            write_image_folder(r, stage / r.name, loaded, alpha, colormap, sha256)
            names.append(r.name)
        out_dir.mkdir(exist_ok=True)
        trash = stage / ".replaced"
        trash.mkdir()
        written: list[Path] = []
        for name in names:
            dest = out_dir / name
            if dest.exists():
                os.replace(dest, trash / name)
            os.replace(stage / name, dest)
            written += sorted(p for p in dest.iterdir() if p.is_file())
        done = True
        return written
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not done:
            remove_empty(created)


def write_comparison(groups: Iterable[Sequence[ImageExplanation]], out_dir: str | os.PathLike,
                     *, alpha: float = 0.5, colormap: str = "jet") -> list[Path]:
    """One PNG per image, ``out_dir/<image name>.png``: the image through several models ×
    methods in one labelled grid (each row names model, layer, class and probability).
    Written atomically, file by file; returns the files."""
    alpha, colormap = check_style(alpha, colormap)
    out_dir = check_output(out_dir)
    written = []
    for results in groups:
        first = results[0]
        same = len({r.target_names[0] for r in results}) == 1
        title = (f"{Path(first.source).name} — " + (f"class {first.target_names[0]} in every model"
                                                   if same else "each model's own top class"))
        png = encode_png(explanation_grid(results, alpha=alpha, colormap=colormap, title=title))
        path = out_dir / f"{first.name}.png"
        atomic_write(path, lambda tmp, data=png: tmp.write_bytes(data))
        written.append(path)
    return written


def write_request_files(r: ImageExplanation, folder: str | os.PathLike, *, alpha: float = 0.5,
                        colormap: str = "jet") -> tuple[list[Path], list[Path]]:
    """One explanation's overlays (``<image>_<method>_<layer>.png``) and raw maps
    (``<image>_<method>_<layer>.raw.npy``: unnormalised, layer resolution, as ``camviz
    explain`` writes them) for the first explained class, into ``folder``. Returns
    (PNG files, ``.npy`` files). The method leads each name, so a browser that cuts long
    names still shows which file is which."""
    alpha, colormap = check_style(alpha, colormap)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pngs, maps = [], []
    for layer in r.layers:
        for m in r.methods:
            key = f"{safe_name(r.name)}_{m}_{safe_name(layer)}"
            png, raw = folder / f"{key}.png", folder / f"{key}.raw.npy"
            png.write_bytes(encode_png(overlay_of(r, layer, m, alpha=alpha, colormap=colormap)))
            np.save(raw, r.raw[(layer, m)][0].astype(np.float32))
            pngs.append(png)
            maps.append(raw)
    return pngs, maps
