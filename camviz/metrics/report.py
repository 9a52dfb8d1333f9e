"""Showing a :class:`CamEvaluation`: a text table, a JSON file and two plots (the I/O edge)."""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from camviz.fileio import atomic_write, check_output, make_parents
from camviz.metrics.cam_scores import CamEvaluation
from camviz.metrics.catalog import METRICS
from camviz.metrics.reference import REFERENCE_MAPS

FLAG = "!"
#: What :func:`write_report` writes into ``--out``: the result, then its two plots.
REPORT_FILES = ("evaluation.json", "deletion_insertion.png", "sanity.png")


def format_table(ev: CamEvaluation) -> str:
    """One row per method x layer, then the reference maps; columns are the metrics."""
    s = ev.settings
    metrics = [m for m in METRICS.names() if m in s.metrics]
    lines = [(f"{ev.model} on {ev.dataset} {ev.split}: {ev.n} images, accuracy "
              f"{ev.accuracy:.3f}; each image's true class explained")]
    notes = []
    if {"pointing_game", "iou"} & set(metrics):
        notes.append(f"pointing tolerance {s.tolerance:g} px, IoU of the map >= {s.iou_threshold:g}")
    if {"deletion_auc", "insertion_auc"} & set(metrics):
        notes.append(f"{s.steps} steps, deletion to {s.deletion_baseline}, insertion from "
                     f"{s.insertion_baseline}")
    if notes:
        lines.append("; ".join(notes))
    rows = [(who, layer, vals) for who, by_layer in ev.results.items()
            for layer, vals in by_layer.items()]
    w_who = max([len("method")] + [len(r[0]) for r in rows])
    w_layer = max([len("layer")] + [len(r[1]) for r in rows])
    titles = [METRICS.get(m).title for m in metrics]
    width = [max(6, len(t)) for t in titles]
    head = f"{'method':<{w_who}}  {'layer':<{w_layer}}  " + "  ".join(
        f"{t:>{w}}" for t, w in zip(titles, width))
    lines += ["", head, "-" * len(head)]
    for i, (who, layer, vals) in enumerate(rows):
        if who in REFERENCE_MAPS and (i == 0 or rows[i - 1][0] not in REFERENCE_MAPS):
            lines.append("-" * len(head))
        cells = []
        for m, w in zip(metrics, width):
            v = vals.get(m)
            if m == "sanity_spearman" and v is not None:
                rho = v[ev.flag_steps[layer]]
                cells.append(f"{(FLAG if vals.get('sanity_flagged') else '') + f'{rho:.3f}':>{w}}")
            else:
                cells.append(f"{'-' if v is None else f'{v:.3f}':>{w}}")
        lines.append(f"{who:<{w_who}}  {layer:<{w_layer}}  " + "  ".join(cells))
    better = [METRICS.get(m).title for m in metrics if METRICS.get(m).higher_is_better]
    worse = [METRICS.get(m).title for m in metrics if not METRICS.get(m).higher_is_better]
    lines += ["", (f"higher is better: {', '.join(better) or '-'}; lower is better: "
                   f"{', '.join(worse) or '-'}")]
    if "sanity_spearman" in metrics:
        at = ", ".join(f"'{layer}' after randomising '{ev.sanity_steps[i]}' (step {i + 1} of "
                       f"{len(ev.sanity_steps)})" for layer, i in ev.flag_steps.items())
        lines.append(f"sanity: Spearman rank correlation with the trained model's map at {at}; "
                     f"{FLAG} = above {s.sanity_threshold:g}, the map does not depend on the "
                     "learnt weights (random and center ignore the model by construction)")
    for method, by_layer in ev.skipped.items():
        for layer in by_layer:
            lines.append(f"note: {method} skipped at '{layer}': the layer does not feed the "
                         "global average pooling before the classifier")
    for method, by_layer in ev.zero_maps.items():
        for layer, count in by_layer.items():
            lines.append(f"note: {method} at '{layer}' gave {count} all-zero map(s)")
    return "\n".join(lines)


def _label(who: str, layer: str, layers: list[str]) -> str:
    return who if len(layers) == 1 or who in REFERENCE_MAPS else f"{who} @ {layer}"


def _style(ev: CamEvaluation, who: str, layer: str) -> dict:
    """One colour per method (the same in every panel), one line style per layer; the
    reference maps dashed in grey (random) and black (center)."""
    if who in REFERENCE_MAPS:
        return {"color": "grey" if who == "random" else "black", "linestyle": "--"}
    styles = ("-", "-.", ":", (0, (5, 1)))
    return {"color": f"C{list(ev.settings.methods).index(who) % 10}",
            "linestyle": styles[list(ev.settings.layers).index(layer) % len(styles)]}


def plot_curves(ev: CamEvaluation, path: str | Path) -> Path:
    """Mean deletion and insertion curves of every method x layer and the reference maps."""
    # a panel per curve that was computed (--metrics may have asked for one of the two)
    kinds = [(kind, base) for kind, base in (("deletion", ev.settings.deletion_baseline),
                                             ("insertion", ev.settings.insertion_baseline))
             if any(kind in c for by_layer in ev.curves.values() for c in by_layer.values())]
    fig = Figure(figsize=(5.5 * len(kinds), 4.2), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    layers = list(ev.settings.layers)
    for ax, (kind, base) in zip(axes, kinds):
        for who, by_layer in ev.curves.items():
            for layer, curves in by_layer.items():
                if kind not in curves or (who in REFERENCE_MAPS and layer != layers[0]):
                    continue
                ys = curves[kind]
                xs = [i / (len(ys) - 1) for i in range(len(ys))]
                auc = ev.results[who][layer].get(f"{kind}_auc")
                ax.plot(xs, ys, **_style(ev, who, layer),
                        label=f"{_label(who, layer, layers)} (AUC {auc:.3f})")
        ax.set_title(f"{kind} ({'removed to' if kind == 'deletion' else 'added to'} {base}; "
                     f"{'lower' if kind == 'deletion' else 'higher'} AUC is better)", fontsize=10)
        ax.set_xlabel("share of pixels " + ("removed" if kind == "deletion" else "inserted"))
        ax.set_ylabel("probability of the true class")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{ev.model} on {ev.dataset} {ev.split} ({ev.n} images)", fontsize=11)
    fig.tight_layout()
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))


def plot_sanity(ev: CamEvaluation, path: str | Path) -> Path:
    """Rank correlation with the trained model's maps along the randomisation cascade."""
    layers = list(ev.settings.layers)
    steps = ev.sanity_steps
    fig = Figure(figsize=(max(6.0, 0.45 * len(steps) + 3), 3.8 * len(layers)), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(layers), 1, squeeze=False)[:, 0]
    xs = list(range(len(steps) + 1))
    for ax, layer in zip(axes, layers):
        for who, by_layer in ev.results.items():
            rhos = by_layer.get(layer, {}).get("sanity_spearman")
            if rhos is None or who == "center":
                continue
            label = "random / center (ignore the model)" if who == "random" else who
            ax.plot(xs, [1.0] + rhos, marker="o", markersize=3,
                    **{**_style(ev, who, layer), "linestyle": "--" if who == "random" else "-"},
                    label=label)
        ax.axhline(ev.settings.sanity_threshold, color="red", linewidth=0.8, linestyle=":")
        ax.axvline(ev.flag_steps[layer] + 1, color="red", linewidth=0.8, alpha=0.5)
        ax.set_xticks(xs)
        ax.set_xticklabels(["trained"] + steps, rotation=60, ha="right", fontsize=7)
        ax.set_ylim(-0.3, 1.05)
        ax.set_ylabel("Spearman rank correlation")
        ax.set_title(f"cascading randomisation, maps at '{layer}' (top block first)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))


def write_report(ev: CamEvaluation, out_dir: str | Path) -> list[Path]:
    """``evaluation.json`` (everything), ``deletion_insertion.png`` and ``sanity.png`` (when
    those metrics were computed) in ``out_dir``."""
    out = check_output(out_dir)
    make_parents(out)
    text = json.dumps(ev.to_dict(), indent=1) + "\n"
    result, curves, sanity = (out / name for name in REPORT_FILES)
    files = [atomic_write(result, lambda tmp: tmp.write_text(text))]
    if ev.curves:
        files.append(plot_curves(ev, curves))
    if ev.sanity_steps:
        files.append(plot_sanity(ev, sanity))
    return files


def clear_report(out_dir: str | Path) -> list[Path]:
    """Remove the files a past :func:`write_report` left in ``out_dir`` (a ``--restart`` run
    must not show the old result beside its new scores); returns those removed."""
    out, gone = Path(out_dir).expanduser(), []
    for name in REPORT_FILES:
        path = out / name
        if path.is_file():
            path.unlink()
            gone.append(path)
    return gone
