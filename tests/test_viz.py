import cv2
import numpy as np
import pytest
from PIL import Image

from camviz.errors import ConfigError, UnknownNameError
from camviz.viz import COLORMAPS, apply_colormap, colormap_lut, grid, overlay, save_png


def test_registry_holds_opencv_colormaps():
    for name in ("jet", "turbo", "inferno", "viridis", "magma", "hot"):
        assert COLORMAPS.get(name) == getattr(cv2, f"COLORMAP_{name.upper()}")


def test_unknown_colormap_suggests():
    with pytest.raises(UnknownNameError, match="unknown colormap 'jte'; did you mean 'jet'"):
        apply_colormap(np.zeros((2, 2)), "jte")


def test_jet_high_end_is_red_in_rgb_order():
    hi = apply_colormap(np.ones((4, 4)), "jet")
    lo = apply_colormap(np.zeros((4, 4)), "jet")
    assert hi.dtype == np.uint8 and hi.shape == (4, 4, 3)
    r, g, b = hi[0, 0].astype(int)
    assert r >= 120 and g == 0 and b == 0          # OpenCV returns BGR (0, 0, 128); we give RGB
    r, g, b = lo[0, 0].astype(int)
    assert b >= 120 and r == 0 and g == 0
    over = overlay(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)), alpha=1.0, colormap="jet")
    assert over[0, 0, 0] > over[0, 0, 2]


def test_lut_matches_apply_colormap():
    ramp = np.linspace(0, 1, 256).reshape(16, 16)
    assert (apply_colormap(ramp, "turbo").reshape(256, 3) == colormap_lut("turbo")).all()


def test_overlay_blends_and_resizes_map_to_image():
    rgb = np.full((30, 50, 3), 200, np.uint8)
    m = np.zeros((7, 7), np.float32)
    m[:, 4:] = 1.0
    assert (overlay(rgb, m, alpha=0.0) == rgb).all()
    full = overlay(rgb, m, alpha=1.0, colormap="jet")
    assert full.shape == (30, 50, 3)
    assert (full == apply_colormap(cv2.resize(m, (50, 30), interpolation=cv2.INTER_LINEAR))).all()
    half = overlay(rgb, m, alpha=0.5, colormap="jet").astype(int)
    expect = np.rint(0.5 * 200 + 0.5 * full.astype(float))
    assert np.abs(half - expect).max() <= 1
    assert half[15, 45, 0] > half[15, 2, 0]  # map's hot right side is redder


def test_overlay_rejects_bad_alpha_and_inputs():
    rgb = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ConfigError, match="alpha 1.5 is outside 0..1"):
        overlay(rgb, np.zeros((4, 4)), alpha=1.5)
    with pytest.raises(ValueError, match="2-D"):
        overlay(rgb, np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        overlay(rgb, np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="uint8"):
        overlay(rgb.astype(np.float32), np.zeros((4, 4)))


def _is_jet(px, lut):
    return np.abs(lut[None, :, :].astype(int) - px[:, None, :].astype(int)).sum(-1).min(1) <= 3


def test_grid_lays_out_cells_with_a_colour_bar():
    grey = np.full((40, 60, 3), 128, np.uint8)
    one = grid([[grey]], col_labels=["gradcam"], colormap="jet")
    wide = grid([[grey, grey, grey]], col_labels=["cam", "gradcam", "gradcampp"], row_labels=["m · l"])
    tall = grid([[grey, None], [grey, grey]], row_labels=["a", "b"], title="cat.jpg")
    for g in (one, wide, tall):
        assert g.dtype == np.uint8 and g.ndim == 3 and g.shape[2] == 3
    assert wide.shape[1] > 2 * one.shape[1] * 0.8 and tall.shape[0] > 1.5 * one.shape[0]
    # The cells are grey; jet's dark red and dark blue ends can only come from the colour bar.
    lut = colormap_lut("jet")
    px = one.reshape(-1, 3)
    assert _is_jet(px, lut[250:][::5]).any() and _is_jet(px, lut[:5]).any()
    no_bar = grid([[grey]], colorbar=False)
    assert not _is_jet(no_bar.reshape(-1, 3), lut[250:][::5]).any()


def test_grid_checks_labels_and_cells():
    grey = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="2 row labels for 1 rows"):
        grid([[grey]], row_labels=["a", "b"])
    with pytest.raises(ValueError, match="uint8"):
        grid([[grey.astype(float)]])


def test_save_png_roundtrip_and_nothing_on_failure(tmp_path):
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[..., 0] = 255
    p = save_png(tmp_path / "sub" / "o.png", rgb)
    assert (np.asarray(Image.open(p)) == rgb).all()
    with pytest.raises(ValueError):
        save_png(tmp_path / "bad.png", np.zeros((5, 7), np.float32))
    assert sorted(x.name for x in tmp_path.rglob("*")) == ["o.png", "sub"]


@pytest.mark.parametrize("shape", [(300, 450), (30, 120)])
def test_row_labels_of_landscape_rows_overlap_neither_each_other_nor_the_cells(shape):
    """Issue 13: the Compare grid of a landscape photo drew each long rotated row label into
    the next row's label (and off the figure)."""
    from camviz.viz import _grid_figure
    photo = np.zeros((*shape, 3), np.uint8)
    labels = ["densenet121-fashion-mnist · features.denseblock4\nankle boot (0.97)",
              "resnet18-fashion-mnist · layer4\nsandal (0.42)", "lenet5 · features\ncup (0.91)"]
    fig = _grid_figure([[photo, photo]] * 3, row_labels=labels, col_labels=["input", "Grad-CAM"],
                       cell_titles=None, colormap="jet", title="coffee.jpg", colorbar=True,
                       cell_inches=2.4, dpi=100)
    r = fig.canvas.get_renderer()
    cells = [ax.get_window_extent(r) for ax in fig.axes[:6]]
    boxes = [ax.yaxis.label.get_window_extent(r) for ax in fig.axes[:6:2]]
    page = fig.bbox
    for i, b in enumerate(boxes):
        # inside the picture (to a pixel: constrained layout settles on the edge)
        assert b.x0 >= -1 and b.y0 >= -1 and b.x1 <= page.x1 + 1 and b.y1 <= page.y1 + 1
        assert not any(b.overlaps(c) for c in cells)
        assert not any(b.overlaps(o) for o in boxes[i + 1:])
    assert "ankle boot (0.97)" in fig.axes[0].get_ylabel()       # nothing dropped


def test_row_labels_that_fit_still_run_up_the_side():
    from camviz.viz import _grid_figure
    fig = _grid_figure([[np.zeros((28, 28, 3), np.uint8)]], row_labels=["resnet18 · layer4\nbag (0.9)"],
                       col_labels=[], cell_titles=None, colormap="jet", title="", colorbar=False,
                       cell_inches=2.4, dpi=100)
    assert fig.axes[0].yaxis.label.get_rotation() == 90
