"""Cascading randomisation: the steps, the copy, the rank correlation, the verdict."""

import pytest
import torch
from metricstest import TinyNet

from camviz.metrics import evaluate_cam
from camviz.metrics.sanity import (
    cascading_randomization,
    flag_step,
    randomization_steps,
    rankdata,
    spearman,
)
from camviz.models import build_model


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(5, 200, generator=g) * 6).floor()          # many ties
    b = a + torch.rand(5, 200, generator=g) * 4
    ours = spearman(a, b)
    ref = [stats.spearmanr(x.numpy(), y.numpy())[0] for x, y in zip(a, b)]
    assert torch.allclose(ours, torch.tensor(ref, dtype=torch.float32), atol=1e-5)


def test_spearman_known_values():
    x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(spearman(x, x), torch.ones(3))
    assert torch.allclose(spearman(x, -x), -torch.ones(3))
    assert torch.allclose(spearman(x, x ** 3 + 2), torch.ones(3))   # ranks only
    assert spearman(x, torch.zeros_like(x)).tolist() == [0.0, 0.0, 0.0]
    assert rankdata(torch.tensor([[3.0, 1.0, 3.0, 2.0]])).tolist() == [[2.5, 0.0, 2.5, 1.0]]


def test_steps_go_from_the_classifier_down():
    steps = randomization_steps(TinyNet(), "fc")
    assert [s.name for s in steps] == ["fc", "features.6", "features.3", "features.0"]
    assert steps[1].modules == ("features.6",)
    assert steps[2].modules == ("features.3", "features.4")     # the norm joins its conv

    resnet = build_model("resnet14", num_classes=5, in_channels=3, input_size=32, width=0.25)
    names = [s.name for s in randomization_steps(resnet, "fc")]
    assert names == ["fc", "layer4.1", "layer4.0", "layer3.1", "layer3.0", "layer2.0",
                     "layer1.0", "conv1"]
    steps = randomization_steps(resnet, "fc")
    assert flag_step(resnet, steps, "layer4") == 1
    assert flag_step(resnet, steps, "layer3") == 3
    assert flag_step(resnet, steps, "layer4.0.relu1") == 2

    vgg = build_model("vgg11", num_classes=5, in_channels=3, input_size=32, width=0.125)
    steps = randomization_steps(vgg, "classifier.fc3")
    assert [s.name for s in steps[:4]] == ["classifier.fc3", "classifier.fc2", "classifier.fc1",
                                           "features.conv5_2"]
    assert steps[3].modules == ("features.conv5_2", "features.norm5_2")
    assert flag_step(vgg, steps, "features") == 3


def test_cascade_is_cumulative_seeded_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = TinyNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = randomization_steps(model, "fc")
    rng = torch.get_rng_state()

    def weights(seed):
        out = []
        for _, m in cascading_randomization(model, steps, seed=seed):
            out.append({k: v.clone() for k, v in m.state_dict().items()})
        return out

    a, b, c = weights(0), weights(0), weights(1)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    for i, state in enumerate(a):
        assert all(torch.equal(state[k], b[i][k]) for k in state)
    assert not torch.equal(a[0]["fc.weight"], c[0]["fc.weight"])
    assert not torch.equal(a[0]["fc.weight"], before["fc.weight"])
    assert torch.equal(a[0]["features.0.weight"], before["features.0.weight"])   # not yet
    assert not torch.equal(a[-1]["features.0.weight"], before["features.0.weight"])
    assert torch.equal(a[-1]["fc.weight"], a[0]["fc.weight"])                 # cumulative


def test_gradcam_passes_and_a_weight_blind_method_is_flagged(tiny, edges_method):
    ev = evaluate_cam(tiny, "shapes", methods=["gradcam", edges_method],
                      metrics=["sanity_spearman"], n=8)
    grad, edges = ev.results["gradcam"]["features"], ev.results["edges"]["features"]
    assert len(grad["sanity_spearman"]) == len(ev.sanity_steps) == 4
    assert grad["sanity_spearman"][-1] < 0.5         # all layers randomised: the map is gone
    assert not grad["sanity_flagged"]
    assert min(edges["sanity_spearman"]) > 0.99 and edges["sanity_flagged"]
    # maps that ignore the model keep their ranking by construction
    assert ev.results["random"]["features"]["sanity_spearman"] == [1.0] * 4

