"""The functions behind the app's events (also its API): thin calls into the explain and
outputs layers, user errors turned into one-line messages in the page."""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from camviz.app.models import CAM_LAYER, PREDICTED, ModelCache
from camviz.app.uploads import _uploaded, check_upload
from camviz.cam import METHODS
from camviz.errors import CamvizError, ModelUnavailableError
from camviz.explain_notes import notes
from camviz.explainer import explain_images, resolve_methods, safe_name, shared_classes
from camviz.images import load_image
from camviz.metrics.on_image import RANDOM, image_faithfulness
from camviz.outputs import explanation_grid, model_view, overlay_of, write_request_files
from camviz.viz import check_style, curve_panels

log = logging.getLogger(__name__)

TOP_K = 5                      # predictions shown beside the overlays
MAX_COMPARE = 6                # models in one comparison
KEEP_SECONDS = 3600            # request outputs and uploads are deleted after this


def _user_errors(fn: Callable) -> Callable:
    """CamvizError (bad image, layer, class, ...) → ``gr.Error`` with its one-line message."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CamvizError as err:
            log.info("refused: %s", err)
            raise gr.Error(str(err), print_exception=False) from None
    return wrapper


def _download_bar(progress: gr.Progress, name: str):
    """``progress(done, total)`` in bytes -> the page's progress bar for a weights download."""
    def report(done: int, total: int | None) -> None:
        what = f"downloading {name} weights: {done / 1e6:.1f}" + (
            f" of {total / 1e6:.1f} MB" if total else " MB")
        progress(done / total if total else None, desc=what)
    return report


def _safe(text: str) -> str:
    return safe_name(text).strip("._") or "x"


def _methods(methods: list[str] | None) -> list[str]:
    """The ticked methods, checked (each is then run or skipped with a note on its own)."""
    if not methods:
        raise gr.Error("choose at least one CAM method", print_exception=False)
    return resolve_methods(list(methods))[0]


class Handlers:
    """The functions behind the UI events (also the app's API)."""

    def __init__(self, cache: ModelCache, out_root: Path, max_pixels: int | None):
        self.cache = cache
        self.out_root = out_root
        self.max_pixels = max_pixels
        self._pruned = 0.0

    # -- helpers
    def _request_dir(self) -> Path:
        """A fresh folder under Gradio's temp dir (served without copying); old ones pruned."""
        self.out_root.mkdir(parents=True, exist_ok=True)
        now = time.time()
        if now - self._pruned > 300:
            self._pruned = now
            for d in self.out_root.glob("req-*"):
                try:
                    if now - d.stat().st_mtime > KEEP_SECONDS:
                        shutil.rmtree(d, ignore_errors=True)
                except OSError:
                    pass
        return Path(tempfile.mkdtemp(prefix="req-", dir=self.out_root))

    def _image(self, path: str):
        return load_image(path, max_pixels=self.max_pixels, name=Path(path).name)

    def _choices(self) -> list[tuple[str, str]]:
        return [(o.label, o.name) for o in self.cache.options().values()]

    # -- Explain tab
    @_user_errors
    def choose_model(self, model: str, progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio injects it)
        """Model changed: its layers (CAM layer selected), its classes, a line about it.
        Uncached ImageNet weights are downloaded here first (with progress) unless offline; a
        model that cannot be opened says why in the info line (and empties the lists), so
        nothing of the previous model is left on the page."""
        try:
            e = self.cache.get(model, _download_bar(progress, model))
        except ModelUnavailableError as err:
            gr.Warning(str(err))
            return (gr.Dropdown(choices=[], value=None),
                    gr.Dropdown(choices=[(PREDICTED, PREDICTED)], value=PREDICTED),
                    f"**{model}** cannot be opened: {err}")
        classes = [(PREDICTED, PREDICTED)] + list(zip(e.class_labels, e.class_values))
        return (gr.Dropdown(choices=e.layer_choices(), value=CAM_LAYER if e.loaded.cam_layer else None),
                gr.Dropdown(choices=classes, value=PREDICTED), e.info())

    @_user_errors
    def layer_list(self, model: str, show_all: bool, layer: str | None):
        """"Show all layers" ticked or not: every spatial layer, or the CAM layer and blocks."""
        try:
            e = self.cache.get(model)
        except ModelUnavailableError:   # choose_model has said why
            return gr.Dropdown(choices=[], value=None)
        choices = e.layer_choices(bool(show_all))
        keep = layer if layer in {n for _, n in choices} else CAM_LAYER
        return gr.Dropdown(choices=choices, value=keep if e.loaded.cam_layer or keep != CAM_LAYER
                           else None)

    def check_upload(self, image: str | None) -> str | None:
        """Refuse a file that is not an image as soon as it is uploaded."""
        return check_upload(image, self.max_pixels)

    def _explain(self, image, model, layer, methods, target, progress=None):
        path = _uploaded(image)
        entry = self.cache.get(model, None if progress is None else _download_bar(progress, model))
        layer = entry.check_layer(layer)
        chosen = _methods(methods)
        target = None if target in (None, "", PREDICTED) else target
        # each method succeeds or fails on its own: one that cannot apply is a note, not an error
        r = explain_images(entry.loaded, [self._image(path)], layers=[layer], methods=chosen,
                           target=target, predictions=TOP_K, names=[_safe(Path(path).stem)],
                           skip_inapplicable=True)[0]
        return entry, layer, r

    @_user_errors
    def explain(self, image: str | None, model: str, layer: str | None, methods: list[str],
                target: str | None, alpha: float, colormap: str,
                progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio injects it)
        """Overlays (one per method that applies, drawn in memory), top-5 label, a status line
        with notes, and the image as the model sees it. Nothing is written for download here
        (see :meth:`downloads`): the overlays are on the page at once. The API's call; the page
        runs it as :meth:`explain_overlays` then :meth:`explain_details`."""
        gallery, shown = self.explain_overlays(image, model, layer, methods, target, alpha,
                                               colormap, progress)
        return (gallery, *self.explain_details(shown))

    @_user_errors
    def explain_overlays(self, image: str | None, model: str, layer: str | None,
                         methods: list[str], target: str | None, alpha: float, colormap: str,
                         progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio injects it)
        """The page's first step: only the overlays, so they are painted before the rest, and
        what :meth:`explain_details` needs (kept in the session, never sent to the page)."""
        alpha, colormap = check_style(alpha, colormap)
        t0 = time.perf_counter()
        entry, layer, r = self._explain(image, model, layer, methods, target, progress)
        t, tname = r.targets[0], entry.class_labels[r.targets[0]]
        gallery = [(overlay_of(r, layer, m, alpha=alpha, colormap=colormap),
                    f"{METHODS.get(m).title} · {layer} · {tname} {r.probs[t]:.2f}")
                   for m in r.methods]
        return gallery, (entry, layer, r, time.perf_counter() - t0)

    def explain_details(self, shown: tuple):
        """The page's second step: the top-5 label, the status line with its notes, and the
        image as the model sees it, for the explanation :meth:`explain_overlays` just drew."""
        entry, layer, r, seconds = shown
        t, tname = r.targets[0], entry.class_labels[r.targets[0]]
        label = {entry.class_labels[c]: p for c, (_, p) in zip(r.top_indices, r.predictions)}
        status = (f"Explained **{tname}** (p = {r.probs[t]:.3f}) at `{layer}` of **{r.model}** "
                  f"in {seconds:.2f} s.")
        status += "".join(f"\n- {note}" for note in notes(r, entry.loaded))
        return label, status, model_view(r)

    @_user_errors
    def downloads(self, image: str | None, model: str, layer: str | None, methods: list[str],
                  target: str | None, alpha: float, colormap: str):
        """Only when asked: the raw maps (``.npy``, layer resolution, unnormalised, as
        ``camviz explain`` writes them) and the overlays (``.png``) as files."""
        alpha, colormap = check_style(alpha, colormap)
        _, _, r = self._explain(image, model, layer, methods, target)
        pngs, maps = write_request_files(r, self._request_dir(), alpha=alpha, colormap=colormap)
        return [str(p) for p in maps], [str(p) for p in pngs]

    @_user_errors
    def faithfulness(self, image: str | None, model: str, layer: str | None, methods: list[str],
                     target: str | None):
        """On demand: deletion/insertion curves of each map and a random map, with AUCs, and
        each method's sanity check at this layer (should the map be trusted?)."""
        path = _uploaded(image)
        entry = self.cache.get(model)
        layer = entry.check_layer(layer)
        target = None if target in (None, "", PREDICTED) else target
        t0 = time.perf_counter()
        r = explain_images(entry.loaded, [self._image(path)], layers=[layer],
                           methods=_methods(methods), target=target, predictions=TOP_K,
                           skip_inapplicable=True)[0]
        f = image_faithfulness(entry.loaded, r, layer)
        title = {m: METHODS.get(m).title for m in r.methods} | {RANDOM: "random map"}
        panels = {kind: {f"{title[w]} ({f.auc[w][kind]:.2f})": c[kind] for w, c in f.curves.items()}
                  for kind in ("deletion", "insertion")}
        plot = curve_panels(panels, xlabel="share of pixels removed / inserted",
                            ylabel=f"p({f.target})", title=f"{r.model} · {layer} · {f.target}")
        rnd = f.auc[RANDOM]
        rows = [("| map | deletion AUC (lower is better) | insertion AUC (higher is better) | "
                 f"sanity: rank correlation once `{f.sanity_step}` is re-drawn |"),
                "| --- | ---: | ---: | --- |"]
        for w in [*r.methods, RANDOM]:
            a = f.auc[w]
            beats = w != RANDOM and a["deletion"] < rnd["deletion"] and a["insertion"] > rnd["insertion"]
            rho = f.sanity.get(w)
            verdict = ("—" if rho is None else f"{rho:.2f} " + ("(flagged: barely depends on the "
                       "learnt weights)" if f.flagged(w) else "(passes)"))
            rows.append(f"| {title[w]}{' ✓ beats random' if beats else ''} | {a['deletion']:.3f} "
                        f"| {a['insertion']:.3f} | {verdict} |")
        text = "\n".join(rows) + (f"\n\n{f.steps} steps on this image, "
                                  f"{time.perf_counter() - t0:.1f} s. A map worth trusting beats "
                                  "the random map on both curves and passes the sanity check.")
        return plot, text

    # -- Compare tab
    @_user_errors
    def choose_models(self, models: list[str] | None, progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio injects it)
        """Models changed: the layers all of them have (for comparing layers) and, when they
        share their classes, those classes (one class explained by every model)."""
        entries = [self.cache.get(m, _download_bar(progress, m)) for m in dict.fromkeys(models or [])]
        if not entries:
            return gr.Dropdown(choices=[], value=[]), gr.Dropdown(choices=[PREDICTED], value=PREDICTED)
        common = set.intersection(*(set(e.layer_names) for e in entries))
        layers = [(lab, n) for lab, n in entries[0].layers if n in common]
        shared = shared_classes([e.loaded for e in entries])
        classes = [(PREDICTED, PREDICTED)] + (list(zip(entries[0].class_labels,
                                                       entries[0].class_values)) if shared else [])
        return gr.Dropdown(choices=layers, value=[]), gr.Dropdown(choices=classes, value=PREDICTED)

    @_user_errors
    def compare(self, image: str | None, models: list[str] | None, layers: list[str] | None,
                methods: list[str], alpha: float, colormap: str, target: str | None = PREDICTED,
                progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio injects it)
        """One image, several models (or layers) x methods: the reports' grid (one PNG),
        captioned overlays, each model's top-5 and a status line. Models that share their
        classes explain one class (the chosen one, else the first model's prediction); a
        model that fails is a note, not the end of the comparison."""
        path = _uploaded(image)
        names = list(dict.fromkeys(models or []))
        if not names:
            raise gr.Error("choose at least one model to compare", print_exception=False)
        if len(names) > MAX_COMPARE:
            raise gr.Error(f"{len(names)} models chosen; compare at most {MAX_COMPARE} at a time",
                           print_exception=False)
        chosen = _methods(methods)
        alpha, colormap = check_style(alpha, colormap)
        target = None if target in (None, "", PREDICTED) else target
        img, stem = self._image(path), _safe(Path(path).stem)
        t0, results, entries, failed = time.perf_counter(), [], [], []
        for i, name in enumerate(names):
            progress((i, len(names)), desc=f"{name} ({i + 1} of {len(names)})")
            try:
                e = self.cache.get(name, _download_bar(progress, name))
                ls = [e.check_layer(x) for x in dict.fromkeys(layers or [])] or [e.check_layer(None)]
                if target is not None:
                    want = target
                elif results and shared_classes([entries[0].loaded, e.loaded]):
                    want = results[0].targets[0]      # the same question to every model
                else:
                    want = None
                results.append(explain_images(e.loaded, [img], layers=ls, methods=chosen,
                                              target=want, predictions=TOP_K, names=[stem],
                                              skip_inapplicable=True)[0])
                entries.append(e)
            except CamvizError as err:
                failed.append(f"- **{name}** could not be compared: {err}")
        if not results:
            raise gr.Error("no model could be compared: " + " ".join(failed), print_exception=False)
        out = self._request_dir()
        gallery, table = [], []
        for e, r in zip(entries, results):
            t = r.targets[0]
            top = f"{e.class_labels[t]} {r.probs[t]:.2f}"
            pngs, _ = write_request_files(r, out / _safe(r.model), alpha=alpha, colormap=colormap)
            keys = [(layer, m) for layer in r.layers for m in r.methods]
            gallery += [(str(png), f"{r.model} · {layer} · {METHODS.get(m).title} · {top}")
                        for png, (layer, m) in zip(pngs, keys)]
            table.append([r.model] + [f"{e.class_labels[c]} {p:.2f}"
                                      for c, (_, p) in zip(r.top_indices, r.predictions)]
                         + [""] * (TOP_K - len(r.predictions)))
        same = len({r.target_names[0] for r in results}) == 1 and len(results) > 1
        title = Path(path).name + (f" — class {results[0].target_names[0]} in every model"
                                   if same else "")
        grid = explanation_grid(results, alpha=alpha, colormap=colormap, title=title)
        cells = sum(len(r.layers) * len(r.methods) for r in results)
        status = (f"{len(results)} model(s) × {len(chosen)} method(s): {cells} maps in "
                  f"{time.perf_counter() - t0:.2f} s"
                  + (f"; every model explains **{results[0].target_names[0]}**." if same else
                     "; each model explains its own top class (their classes differ)."
                     if len(results) > 1 else "."))
        notes_ = failed + [f"- {r.model}: {n}" for e, r in zip(entries, results)
                           for n in notes(r, e.loaded) if "does not apply" in n]
        status += "".join("\n" + n for n in notes_)
        return gallery, grid, table, status

    # -- page load
    def refresh(self, model: str | None, compare: list[str] | None):
        """Re-list the models (checkpoints added since start appear on reload)."""
        choices = self._choices()
        names = {v for _, v in choices}
        return (gr.Dropdown(choices=choices, value=model if model in names else None),
                gr.Dropdown(choices=choices, value=[m for m in compare or [] if m in names]))
