"""Heat-map overlays, comparison grids and PNG files (the drawing edge of camviz).

Colour maps are OpenCV's (``cv2.applyColorMap``), whose output is **BGR**; everything here
takes and returns RGB ``uint8`` arrays, so the flip happens in one place
(:func:`apply_colormap`). Grids are drawn with matplotlib's object API (no pyplot global
state, safe in the app's worker threads) using the same OpenCV look-up table for the
colour bar, so the bar matches the overlays exactly.
"""

from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure

from camviz import catalog
from camviz.errors import ConfigError
from camviz.fileio import atomic_write
from camviz.registry import Registry

#: Colour map name (``cv2.COLORMAP_JET`` → ``"jet"``) → OpenCV colormap id; the names are
#: :data:`camviz.catalog.COLORMAPS` (one list, readable without OpenCV for ``--help``).
COLORMAPS: Registry[int] = Registry("colormap", hint="valid: " + ", ".join(catalog.COLORMAPS))
for _name in catalog.COLORMAPS:
    COLORMAPS.register(_name, int(getattr(cv2, f"COLORMAP_{_name.upper()}")))


def check_alpha(alpha: float) -> float:
    """Validate an overlay opacity in [0, 1]."""
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha {alpha:g} is outside 0..1; pass --alpha between 0 (image only) "
                          "and 1 (heat map only), e.g. 0.5")
    return alpha


def check_style(alpha: float, colormap: str) -> tuple[float, str]:
    """The one check of the overlay settings (CLI, app, outputs): alpha in [0, 1] and a known
    colour map; returns them as used."""
    alpha = check_alpha(alpha)
    COLORMAPS.get(colormap)
    return alpha, colormap


def colormap_lut(colormap: str = "jet") -> np.ndarray:
    """The colour map as a (256, 3) uint8 RGB look-up table."""
    code = COLORMAPS.get(colormap)
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    return cv2.applyColorMap(ramp, code).reshape(256, 3)[:, ::-1].copy()


def apply_colormap(map01: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A 2-D map in [0, 1] → uint8 HxWx3 **RGB** heat map (OpenCV's BGR flipped here)."""
    m = _check_map(map01)
    code = COLORMAPS.get(colormap)
    u8 = np.rint(np.clip(m, 0.0, 1.0) * 255.0).astype(np.uint8)
    return cv2.applyColorMap(u8, code)[..., ::-1].copy()


def _check_map(map01: np.ndarray) -> np.ndarray:
    m = np.asarray(map01, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-D (H, W), got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("map contains NaN or inf")
    return m


def resize_map(map01: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D float map to (height, width)."""
    m = _check_map(map01)
    if m.shape == (height, width):
        return m
    return cv2.resize(m, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)


def overlay(rgb: np.ndarray, map01: np.ndarray, alpha: float = 0.5,
            colormap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] map over an RGB uint8 image: ``(1-alpha)*image + alpha*heat``.

    The map is resized (bilinear) to the image, so a square model-input map lies over the
    picture at its own aspect ratio.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"overlay needs a uint8 HxWx3 RGB image, got {rgb.dtype} {rgb.shape}")
    alpha = check_alpha(alpha)
    heat = apply_colormap(resize_map(map01, rgb.shape[0], rgb.shape[1]), colormap)
    out = (1.0 - alpha) * rgb.astype(np.float32) + alpha * heat.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _fonts() -> tuple[tuple[str, frozenset[int]], ...]:
    """(family, code points) of the default font first, then of every other installed font;
    read once, on the first label with a character the default font lacks."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font
    default = font_manager.findfont(font_manager.FontProperties())
    entries = [(font_manager.FontProperties(fname=default).get_name(), default)]
    seen = {entries[0][0]}
    for f in font_manager.fontManager.ttflist:
        # matplotlib's "Last Resort" font has a box for every character: no better than an escape
        if f.name not in seen and not f.name.startswith("Last Resort"):
            seen.add(f.name)
            entries.append((f.name, f.fname))
    out = []
    for family, path in entries:
        try:
            out.append((family, frozenset(FT2Font(path).get_charmap())))
        except (OSError, RuntimeError, ValueError):
            continue
    return tuple(out)


def drawable(text: str) -> tuple[str, list[str] | None]:
    """``text`` as matplotlib can draw it without "Glyph missing" warnings: the font families
    to use (the default, then an installed font that has the missing characters, e.g. a CJK
    font for Chinese file names; None if the default has them all), and the text with any
    character no installed font has written as ``\\uXXXX``."""
    chars = {c for c in text if not c.isspace() and ord(c) >= 128}
    if not chars:
        return text, None
    fonts = _fonts()
    if not fonts:
        return text.encode("ascii", "backslashreplace").decode("ascii"), None
    missing = {c for c in chars if ord(c) not in fonts[0][1]}
    if not missing:
        return text, None
    families = [fonts[0][0]]
    for family, points in fonts[1:]:
        if any(ord(c) in points for c in missing):
            families.append(family)
            missing = {c for c in missing if ord(c) not in points}
            if not missing:
                break
    text = "".join(c.encode("ascii", "backslashreplace").decode("ascii") if c in missing else c
                   for c in text)
    return text, families


def _say(draw, text: str, **kwargs) -> None:
    """Call a matplotlib text setter (set_title, set_ylabel, suptitle ...) through :func:`drawable`."""
    text, families = drawable(text)
    if families:
        kwargs["fontfamily"] = families
    draw(text, **kwargs)


def grid(cells: Sequence[Sequence[np.ndarray | None]], *, row_labels: Sequence[str] = (),
         col_labels: Sequence[str] = (), cell_titles: Sequence[Sequence[str]] | None = None,
         colormap: str = "jet", title: str = "", colorbar: bool = True,
         cell_inches: float = 2.4, dpi: int = 100) -> np.ndarray:
    """Lay out RGB images in rows × columns with labels and a colour bar → uint8 RGB.

    ``cells[r][c]`` is an HxWx3 uint8 image or ``None`` (left blank). ``row_labels`` go
    left of each row (e.g. "resnet50 · layer4"), ``col_labels`` above each column (e.g.
    method names), ``cell_titles`` above single cells. The colour bar shows ``colormap``
    from 0 (low) to 1 (high). A row label runs up the side of its row while it fits there,
    else (landscape cells, long names) it is written across, wrapped, left of the row.
    """
    fig = _grid_figure(cells, row_labels=row_labels, col_labels=col_labels,
                       cell_titles=cell_titles, colormap=colormap, title=title,
                       colorbar=colorbar, cell_inches=cell_inches, dpi=dpi)
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return rgba[..., :3].copy()


def _grid_figure(cells: Sequence[Sequence[np.ndarray | None]], *, row_labels: Sequence[str],
                 col_labels: Sequence[str], cell_titles: Sequence[Sequence[str]] | None,
                 colormap: str, title: str, colorbar: bool, cell_inches: float,
                 dpi: int) -> Figure:
    nrows = len(cells)
    ncols = max((len(r) for r in cells), default=0)
    if nrows == 0 or ncols == 0:
        raise ValueError("grid needs at least one cell")
    if row_labels and len(row_labels) != nrows:
        raise ValueError(f"{len(row_labels)} row labels for {nrows} rows")
    if col_labels and len(col_labels) != ncols:
        raise ValueError(f"{len(col_labels)} column labels for {ncols} columns")
    lut = colormap_lut(colormap)

    present = [np.asarray(c) for row in cells for c in row if c is not None]
    aspect = present[0].shape[0] / max(1, present[0].shape[1]) if present else 1.0
    lines = 1 + (1 if cell_titles is not None else 0)
    width = ncols * cell_inches + (0.9 if colorbar else 0.0) + (0.4 if row_labels else 0.0)
    height = nrows * (cell_inches * aspect + 0.18 * lines) + (0.35 if title else 0.05)
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r in range(nrows):
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            img = cells[r][c] if c < len(cells[r]) else None
            if img is None:
                ax.set_axis_off()
            else:
                img = np.asarray(img)
                if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                    raise ValueError(f"grid cell ({r}, {c}) must be uint8 HxWx3, got "
                                     f"{img.dtype} {img.shape}")
                ax.imshow(img, interpolation="antialiased")
            label = []
            if r == 0 and col_labels:
                label.append(col_labels[c])
            if cell_titles is not None and c < len(cell_titles[r]) and cell_titles[r][c]:
                label.append(cell_titles[r][c])
            if label:
                _say(ax.set_title, "\n".join(label), fontsize=9)
            if c == 0 and row_labels:
                _say(ax.set_ylabel, row_labels[r], fontsize=9)
                if img is None:
                    ax.set_axis_on()
                    for s in ax.spines.values():
                        s.set_visible(False)
    if title:
        _say(fig.suptitle, title, fontsize=10)
    if colorbar:
        sm = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=ListedColormap(lut / 255.0, name=colormap))
        bar = fig.colorbar(sm, ax=axes.ravel().tolist(), fraction=0.04, pad=0.02, shrink=0.9)
        bar.set_ticks([0.0, 0.5, 1.0])
        bar.ax.tick_params(labelsize=8)
        bar.set_label(f"{colormap}: low → high", fontsize=8)
    fig.canvas.draw()
    if row_labels and _labels_overflow(fig, axes[:, 0]):
        for ax, text in zip(axes[:, 0], row_labels):
            ax.set_ylabel(_wrap(text), rotation=0, ha="right", va="center", fontsize=9)
        renderer = fig.canvas.get_renderer()
        across = max(ax.yaxis.label.get_window_extent(renderer).width for ax in axes[:, 0])
        # room for them: their width instead of the rotated labels' strip, and a margin
        fig.set_size_inches(fig.get_figwidth() + across / dpi, fig.get_figheight())
        for _ in range(3):   # constrained layout needs a few passes to settle wider labels
            fig.canvas.draw()
    return fig


def _labels_overflow(fig: Figure, first_column: Sequence) -> bool:
    """Whether a rotated row label is longer than its row is high (it would run into the
    next row's label: landscape photos, long model and layer names)."""
    renderer = fig.canvas.get_renderer()
    return any(ax.yaxis.label.get_window_extent(renderer).height
               > ax.get_window_extent(renderer).height for ax in first_column)


def _wrap(label: str, width: int = 24) -> str:
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
                     for line in label.splitlines())


def curve_panels(panels: dict[str, dict[str, Sequence[float]]], *, xlabel: str = "",
                 ylabel: str = "", title: str = "", inches: tuple[float, float] = (3.4, 2.6),
                 dpi: int = 100) -> np.ndarray:
    """Small line plots side by side -> uint8 RGB: ``panels[panel title][line label]`` is a
    curve sampled evenly on [0, 1] (e.g. deletion and insertion curves per map)."""
    if not panels:
        raise ValueError("no curves to draw")
    fig = Figure(figsize=(inches[0] * len(panels), inches[1]), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, lines) in zip(axes, panels.items()):
        for label, ys in lines.items():
            xs = np.linspace(0.0, 1.0, len(ys))
            ax.plot(xs, ys, label=label, linestyle="--" if label.startswith("random") else "-")
        _say(ax.set_title, name, fontsize=9)
        _say(ax.set_xlabel, xlabel, fontsize=8)
        _say(ax.set_ylabel, ylabel, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    if title:
        _say(fig.suptitle, title, fontsize=9)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def encode_png(rgb: np.ndarray) -> bytes:
    """An RGB uint8 image as PNG bytes."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"PNG needs a uint8 HxWx3 RGB image, got {rgb.dtype} {rgb.shape}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG atomically (temp file + rename)."""
    data = encode_png(rgb)  # encode first: a bad array never creates a file
    return atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))
