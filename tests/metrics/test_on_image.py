"""Faithfulness of one image's maps (what the app shows), checked against the batch metrics."""

from pathlib import Path

import numpy as np
import pytest
import torch

from camviz.explainer import explain_images
from camviz.handle import preprocess
from camviz.hub import load_model
from camviz.metrics import faithfulness as faith
from camviz.metrics import sanity
from camviz.metrics.on_image import RANDOM, image_faithfulness

ROOT = Path(__file__).resolve().parents[2]
STAR = ROOT / "samples" / "shapes" / "3-star.png"


@pytest.fixture(scope="module")
def shapes():
    return load_model("resnet14-shapes", checkpoints_dir=ROOT / "checkpoints")


def test_curves_and_aucs_match_the_batch_metrics(shapes):
    (r,) = explain_images(shapes, [STAR], methods=["gradcam", "gradcampp"])
    f = image_faithfulness(shapes, r, steps=10, check_sanity=False)
    assert set(f.curves) == {"gradcam", "gradcampp", RANDOM} and f.target == r.target_names[0]
    from PIL import Image
    x = preprocess([Image.fromarray(r.model_input)], shapes)
    y = torch.tensor(r.targets[:1])
    m = torch.from_numpy(r.maps[("layer4", "gradcam")][:1])
    want = faith.deletion_curve(shapes.model, x, m, y, steps=10)
    np.testing.assert_allclose(f.curves["gradcam"]["deletion"], want[0].numpy(), rtol=1e-5)
    assert f.auc["gradcam"]["deletion"] == pytest.approx(float(faith.curve_auc(want)[0]))
    # the trained shapes model's Grad-CAM beats a random map on this star
    assert f.auc["gradcam"]["deletion"] < f.auc[RANDOM]["deletion"]
    assert f.auc["gradcam"]["insertion"] > f.auc[RANDOM]["insertion"]


def test_sanity_correlation_is_taken_at_the_layers_flag_step(shapes):
    (r,) = explain_images(shapes, [STAR], methods=["gradcam"])
    f = image_faithfulness(shapes, r, steps=4)
    steps = sanity.randomization_steps(shapes.model, shapes.classifier)
    assert f.sanity_step == steps[sanity.flag_step(shapes.model, steps, "layer4")].name
    assert -1.0 <= f.sanity["gradcam"] <= 1.0
    assert f.flagged("gradcam") == (f.sanity["gradcam"] > sanity.SANITY_THRESHOLD)
