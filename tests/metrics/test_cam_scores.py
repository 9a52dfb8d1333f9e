"""evaluate_cam end to end on a tiny model: layout, ranges, reference maps, bad inputs."""

import json

import pytest
import torch
from metricstest import tiny_loaded

from camviz.errors import CamvizError, DataError, UnknownNameError
from camviz.metrics import METRICS, evaluate_cam
from camviz.metrics.report import format_table, write_report


@pytest.fixture(scope="module")
def evaluation():
    torch.manual_seed(0)
    return evaluate_cam(tiny_loaded(), "shapes", methods=["gradcam", "gradcampp"], n=8, steps=4)


def test_layout_is_method_layer_metric(evaluation):
    out = json.loads(json.dumps(evaluation.to_json()))
    assert list(out) == ["gradcam", "gradcampp", "random", "center"]
    for who in out:
        assert list(out[who]) == ["features"]
        row = out[who]["features"]
        assert set(METRICS.names()) <= set(row)
        for name in METRICS.names():
            if name == "sanity_spearman":
                assert len(row[name]) == len(evaluation.sanity_steps)
                assert all(-1 <= v <= 1 for v in row[name])
            else:
                assert 0.0 <= row[name] <= 1.0, (who, name, row[name])
    assert evaluation.n == 8 and 0.0 <= evaluation.accuracy <= 1.0


def test_reference_maps_are_scored_like_methods(evaluation):
    center = evaluation.results["center"]["features"]
    random = evaluation.results["random"]["features"]
    # shapes are never cut by the border, so the centre beats noise at pointing
    assert center["pointing_game"] >= random["pointing_game"]
    assert len(evaluation.curves["random"]["features"]["deletion"]) == 5


def test_table_and_files(evaluation, tmp_path):
    text = format_table(evaluation)
    rows = [line.split() for line in text.splitlines()]
    assert [r[0] for r in rows if r and r[0] in ("gradcam", "gradcampp", "random", "center")] \
        == ["gradcam", "gradcampp", "random", "center"]
    files = write_report(evaluation, tmp_path / "out")
    assert [f.name for f in files] == ["evaluation.json", "deletion_insertion.png", "sanity.png"]
    for f in files[1:]:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(files[0].read_text())
    assert saved["metrics"] == json.loads(json.dumps(evaluation.to_json()))


def test_faithfulness_only_without_masks(tiny):
    with pytest.raises(DataError, match="pointing_game.*digits.*shapes"):
        evaluate_cam(tiny, "digits", metrics=["deletion_auc", "pointing_game"])
    from camviz.metrics.cam_scores import resolve_metrics
    assert "pointing_game" not in resolve_metrics(None, "digits")
    assert "deletion_auc" in resolve_metrics(None, "digits")


@pytest.mark.parametrize("kwargs, error, text", [
    ({"methods": ["gradcm"]}, UnknownNameError, "did you mean 'gradcam'"),
    ({"layers": ["featurs"]}, UnknownNameError, "did you mean 'features'"),
    ({"metrics": ["pointing"]}, UnknownNameError, "did you mean 'pointing_game'"),
    ({"split": "tests"}, UnknownNameError, "did you mean 'test'"),
    ({"n": 0}, CamvizError, "--n must be an integer >= 1"),
    ({"steps": 0}, CamvizError, "steps must be an integer >= 2"),
    ({"steps": 1}, CamvizError, "steps must be an integer >= 2"),
    ({"deletion_baseline": "zero"}, UnknownNameError, "did you mean 'zeros'"),
])
def test_bad_arguments_fail_before_any_work(tiny, kwargs, error, text):
    with pytest.raises(error, match=text):
        evaluate_cam(tiny, "shapes", **kwargs)


def test_curves_chart_has_a_panel_per_curve_computed(tiny, tmp_path):
    import warnings

    from PIL import Image
    both = evaluate_cam(tiny, "shapes", methods=["gradcam"], n=4, steps=2,
                        metrics=["deletion_auc", "insertion_auc"])
    one = evaluate_cam(tiny, "shapes", methods=["gradcam"], n=4, steps=2, metrics=["deletion_auc"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # matplotlib's "No artists with labels" for an empty panel
        files = write_report(one, tmp_path / "one")
    assert [f.name for f in files] == ["evaluation.json", "deletion_insertion.png"]
    width_one = Image.open(files[1]).size[0]
    width_both = Image.open(write_report(both, tmp_path / "both")[1]).size[0]
    assert width_both == 2 * width_one   # no empty insertion panel
