"""Images in, class activation maps and predictions out: the one call shared by CLI and app.

Split in two so the app can show results without touching the disk:

* :func:`explain_images` / :func:`iter_explanations` — decode and check every image, run
  the CAM engine (:func:`camviz.cam.explain`) in batches, return one
  :class:`ImageExplanation` per image (display RGB, top-k predictions, explained classes,
  maps per ``(layer, method)``);
* :func:`write_outputs` — overlays, a grid, ``.npy`` maps and a JSON manifest per image,
  written into a hidden staging folder and moved into place only when everything
  succeeded, so an error never leaves half an output behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from camviz.errors import CamvizError, ConfigError, unknown
from camviz.hub import LoadedModel
from camviz.images import ImageSource, as_rgb_image, display_image, preprocess
from camviz.viz import COLORMAPS, check_alpha, encode_png, grid, overlay

log = logging.getLogger(__name__)

#: Methods run when none are asked for; ``cam`` is dropped (with an info log) for models
#: whose target layer does not feed a GAP → linear head.
DEFAULT_METHODS = ("cam", "gradcam", "gradcampp")
DISPLAY_SIZE = 320  # longest side of the display image, in pixels


@dataclass
class ImageExplanation:
    """Everything computed for one image; arrays are numpy, on the CPU."""

    name: str                                  # unique, file-safe stem for outputs
    source: str                                # path, or a label for in-memory images
    size: tuple[int, int]                      # (width, height) after EXIF orientation
    rgb: np.ndarray                            # display image, uint8 HxWx3 (aspect kept)
    model: str                                 # LoadedModel.name
    layers: list[str]
    methods: list[str]
    score: str                                 # "logit" or "softmax": what was differentiated
    probs: np.ndarray                          # (classes,) float32 softmax
    predictions: list[tuple[str, float]]       # top-k (class name, prob), best first
    top_indices: list[int]                     # class indices of ``predictions``
    targets: list[int]                         # the K classes explained
    target_names: list[str]
    maps: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (K, S, S) in [0, 1]
    raw: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)   # (K, h, w) unnormalised

    def map(self, layer: str | None = None, method: str | None = None, k: int = 0) -> np.ndarray:
        """One (S, S) map; layer/method default to the first computed."""
        return self.maps[(layer or self.layers[0], method or self.methods[0])][k]

    def overlay(self, layer: str | None = None, method: str | None = None, k: int = 0, *,
                alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
        """The map blended over :attr:`rgb` (uint8 HxWx3)."""
        return overlay(self.rgb, self.map(layer, method, k), alpha=alpha, colormap=colormap)


# ------------------------------------------------------------------------- validation

def resolve_class(loaded: LoadedModel, value: int | str) -> int:
    """A class name (exact, then case-insensitive) or index → a checked class index."""
    classes = loaded.classes
    n = len(classes)
    if isinstance(value, str):
        text = value.strip()
        for same in (lambda c: c == text, lambda c: c.lower() == text.lower()):
            hits = [i for i, c in enumerate(classes) if same(c)]
            if hits:
                return hits[0]
        if not re.fullmatch(r"[+-]?\d+", text):
            few = "" if n <= 12 else f"e.g. {', '.join(classes[:5])}, ... ({n} classes); "
            raise unknown("class", text, classes,
                          f"{few}pass a class name or an index 0..{n - 1} "
                          f"(`camviz info --model {loaded.name}` lists them)")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"class must be a name or an index, got {value!r}")
    if not 0 <= int(value) < n:
        raise ConfigError(f"class index {int(value)} is out of range for model '{loaded.name}' "
                          f"with {n} classes; pass 0..{n - 1} or a class name")
    return int(value)


def resolve_methods(methods: Sequence[str] | str | None) -> tuple[list[str], bool]:
    """Method names checked against the engine's registry; and whether they were explicit."""
    from camviz.cam import METHODS
    if methods is None:
        return list(DEFAULT_METHODS), False
    if isinstance(methods, str):
        methods = [methods]
    names = list(dict.fromkeys(methods))
    if not names:
        raise ConfigError(f"no CAM method given; pass one of {', '.join(METHODS.names())}")
    for m in names:
        METHODS.get(m)  # unknown → did-you-mean error
    return names, True


def resolve_layer_names(loaded: LoadedModel, layers: Sequence[str] | str | None) -> list[str]:
    """Layer names (default: the model's CAM layer), checked against the model."""
    from camviz.cam.hooks import resolve_layers
    if layers is None or (not isinstance(layers, str) and len(layers) == 0):
        if not loaded.cam_layer:
            raise ConfigError(f"model '{loaded.name}' has no default CAM layer; pass --layer "
                              f"(`camviz layers --model {loaded.name}` lists them)")
        layers = [loaded.cam_layer]
    elif isinstance(layers, str):
        layers = [layers]
    return list(resolve_layers(loaded.model, list(dict.fromkeys(layers))))


def _targets(loaded: LoadedModel, target, topk: int) -> list[int] | None:
    n = len(loaded.classes)
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or not 1 <= topk <= n:
        raise ConfigError(f"topk {topk!r} must be between 1 and {n} (the number of classes)")
    if target is None:
        return None
    if topk > 1:
        raise ConfigError("pass either a class to explain or topk > 1, not both")
    values = [target] if isinstance(target, (str, int, np.integer)) else list(target)
    if not values:
        raise ConfigError("an empty list of classes was given; pass at least one class")
    return list(dict.fromkeys(resolve_class(loaded, v) for v in values))


# ------------------------------------------------------------------------- compute

def explain_images(loaded: LoadedModel, images: Sequence[ImageSource], **kwargs) -> list[ImageExplanation]:
    """Explain every image; see :func:`iter_explanations` for the arguments."""
    return list(iter_explanations(loaded, images, **kwargs))


def iter_explanations(
    loaded: LoadedModel,
    images: Sequence[ImageSource],
    *,
    layers: Sequence[str] | str | None = None,
    methods: Sequence[str] | str | None = None,
    target: int | str | Sequence[int | str] | None = None,
    topk: int = 1,
    predictions: int = 5,
    batch_size: int = 16,
    score: str = "logit",
    display_size: int = DISPLAY_SIZE,
    names: Sequence[str] | None = None,
    max_pixels: int | None = None,
) -> Iterator[ImageExplanation]:
    """Explain images one batch at a time, yielding one :class:`ImageExplanation` each.

    ``images``: paths, bytes, PIL images or uint8 arrays. ``layers``: names (default
    ``loaded.cam_layer``). ``methods``: names from ``camviz.cam.METHODS`` (default
    :data:`DEFAULT_METHODS`). ``target``: ``None`` (the predicted class), a class index or
    name, or a list of them; ``topk=K`` explains the K best classes instead. ``predictions``:
    how many (class, prob) pairs to report. ``names``: output stems (default: file stems).

    Arguments are checked at once; the first ``next()`` decodes every image (so a bad file
    fails before any model work) and then runs the batches.
    """
    from camviz.cam.targets import check_score

    method_names, explicit = resolve_methods(methods)
    layer_names = resolve_layer_names(loaded, layers)
    classes = _targets(loaded, target, topk)
    check_score(score)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size {batch_size!r} must be a positive integer")
    if not isinstance(predictions, int) or predictions < 1:
        raise ConfigError(f"predictions {predictions!r} must be a positive integer")
    sources = list(images)
    if not sources:
        raise ConfigError("no images given")
    if names is not None and len(names) != len(sources):
        raise ConfigError(f"{len(names)} names for {len(sources)} images")
    stems = unique_names([str(n) for n in names] if names is not None
                         else [_default_stem(s, i) for i, s in enumerate(sources)])
    labels = [_label(s, i) for i, s in enumerate(sources)]
    return _run(loaded, sources, labels, stems, layer_names, method_names, explicit, classes,
                topk, min(predictions, len(loaded.classes)), batch_size, score, display_size,
                max_pixels)


def _run(loaded, sources, labels, stems, layers, methods, explicit, classes, topk, npred,
         batch_size, score, display_size, max_pixels) -> Iterator[ImageExplanation]:
    for src, label in zip(sources, labels):  # decode everything first: fail before computing
        as_rgb_image(src, max_pixels=max_pixels, name=label)
    for start in range(0, len(sources), batch_size):
        idx = range(start, min(start + batch_size, len(sources)))
        pils = [as_rgb_image(sources[i], max_pixels=max_pixels, name=labels[i]) for i in idx]
        x = preprocess(pils, loaded)
        out, methods = _engine(loaded, x, layers, methods, explicit, classes, topk, score)
        first = out[layers[0]]
        probs = first.probs.detach().float().cpu().numpy()
        chosen = first.targets.detach().cpu().numpy().reshape(len(pils), -1)
        per_key = {}
        for layer in layers:
            for m in methods:
                per_key[(layer, m)] = (_as_nk(out[layer].maps[m], len(pils)),
                                       _as_nk(out[layer].raw[m], len(pils)))
        for j, i in enumerate(idx):
            p = probs[j]
            order = np.argsort(-p, kind="stable")[:npred]
            tgt = [int(t) for t in chosen[j]]
            yield ImageExplanation(
                name=stems[i], source=labels[i], size=pils[j].size,
                rgb=display_image(pils[j], display_size), model=loaded.name,
                layers=list(layers), methods=list(methods), score=score, probs=p.astype(np.float32),
                predictions=[(loaded.classes[c], float(p[c])) for c in order],
                top_indices=[int(c) for c in order], targets=tgt,
                target_names=[loaded.classes[t] for t in tgt],
                maps={k: v[0][j].copy() for k, v in per_key.items()},  # free the batch
                raw={k: v[1][j].copy() for k, v in per_key.items()})


def _engine(loaded, x, layers, methods, explicit, classes, topk, score):
    """One engine call; with the default methods, retry without ``cam`` where it cannot apply."""
    from camviz.cam import explain as cam_explain

    if classes is None:
        targets = None
    elif len(classes) == 1:
        targets = classes[0]
    else:
        targets = [list(classes)] * x.shape[0]

    def call(ms):
        # CAM reads the classifier named in the model's spec, not a guess.
        fc = loaded.classifier if "cam" in ms else None
        return cam_explain(loaded.model, x, layer=list(layers), methods=tuple(ms), targets=targets,
                           topk=topk if topk > 1 else None, score=score, classifier=fc)

    if explicit or "cam" not in methods:
        return call(methods), methods
    try:
        return call(methods), methods
    except CamvizError as err:
        rest = [m for m in methods if m != "cam"]
        out = call(rest)  # if the problem was not CAM's, this raises it again
        log.info("skipping 'cam' for model '%s': %s", loaded.name, err)
        return out, rest


def _as_nk(t, n: int) -> np.ndarray:
    """(N, H, W) or (N, K, H, W) tensor → float32 numpy (N, K, H, W)."""
    a = t.detach().float().cpu().numpy()
    return a[:, None] if a.ndim == 3 else a.reshape(n, -1, *a.shape[-2:])


def _default_stem(src: ImageSource, i: int) -> str:
    if isinstance(src, (str, os.PathLike)):
        return Path(src).stem
    return f"image{i + 1:03d}"


def _label(src: ImageSource, i: int) -> str:
    return str(src) if isinstance(src, (str, os.PathLike)) else f"image {i + 1}"


def unique_names(stems: Sequence[str]) -> list[str]:
    """File-safe, unique stems: odd characters → '_', repeats get '-2', '-3', ..."""
    out, seen = [], set()
    for s in stems:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("._") or "image"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}-{k}", k + 1
        seen.add(name)
        out.append(name)
    return out


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
                row += [r.overlay(layer, m, k, alpha=alpha, colormap=colormap)
                        if (layer, m) in r.maps else None for m in methods]
                cells.append(row)
                rows.append(f"{r.model} · {layer}\n{tname} ({r.probs[t]:.2f})")
    from camviz.cam import METHODS
    top = results[0].predictions[0]
    titles = ["input"] + [METHODS.get(m).title for m in methods]
    return grid(cells, row_labels=rows, col_labels=titles, colormap=colormap,
                title=title if title is not None else
                f"{Path(results[0].source).name} — predicted {top[0]} ({top[1]:.2f})")


# ------------------------------------------------------------------------- files

def _file_key(layer: str, method: str, target: int | None) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", layer)
    return f"{safe}_{method}" + ("" if target is None else f"_c{target}")


def manifest(r: ImageExplanation, loaded: LoadedModel, *, alpha: float, colormap: str,
             sha256: str | None, files: dict[str, Any]) -> dict[str, Any]:
    """The JSON record written beside one image's outputs."""
    from camviz import __version__
    return {
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


def _write_one(r: ImageExplanation, folder: Path, loaded: LoadedModel, alpha: float,
               colormap: str, sha256: str | None) -> None:
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
                (folder / png).write_bytes(encode_png(r.overlay(layer, m, k, alpha=alpha,
                                                                colormap=colormap)))
                maps.append({"layer": layer, "method": m, "target": t, "overlay": png,
                             "map": f"{key}.npy", "map_index": k, "raw": f"{key}.raw.npy"})
    (folder / "grid.png").write_bytes(encode_png(explanation_grid([r], alpha=alpha, colormap=colormap)))
    files = {"grid": "grid.png", "maps": maps}
    text = json.dumps(manifest(r, loaded, alpha=alpha, colormap=colormap, sha256=sha256,
                               files=files), indent=2)
    (folder / "manifest.json").write_text(text + "\n")


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
    alpha = check_alpha(alpha)
    COLORMAPS.get(colormap)
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"output '{out_dir}' exists and is not a directory; pass another --out")
    created = _make_parents(out_dir.parent)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
    sha256 = loaded.sha256
    if sha256 is None and loaded.checkpoint is not None and Path(loaded.checkpoint).is_file():
        from camviz.checkpoint import file_sha256
        sha256 = file_sha256(loaded.checkpoint)
    done = False
    try:
        names = []
        for r in results:
            _write_one(r, stage / r.name, loaded, alpha, colormap, sha256)
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
            for d in reversed(created):
                try:
                    d.rmdir()
                except OSError:
                    break


def _make_parents(path: Path) -> list[Path]:
    """mkdir -p, returning the folders it created (outermost first)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))
