"""resolve_targets / class_scores: every accepted form, and every error names the fix."""

import numpy as np
import pytest
import torch

from camviz.cam.targets import class_scores, resolve_targets
from camviz.errors import CamvizError, UnknownNameError

LOGITS = torch.tensor([[0.1, 2.0, -1.0, 0.5], [3.0, 0.0, 1.0, 2.5]])


@pytest.mark.parametrize("targets, topk, want, single", [
    (None, None, [[1], [0]], True),
    (2, None, [[2], [2]], True),
    (np.int64(3), None, [[3], [3]], True),
    ([3, 1], None, [[3], [1]], True),
    (torch.tensor([0, 2]), None, [[0], [2]], True),
    ([[1, 3], [0, 2]], None, [[1, 3], [0, 2]], False),
    (None, 2, [[1, 3], [0, 3]], False),
    (None, 1, [[1], [0]], False),
])
def test_accepted_forms(targets, topk, want, single):
    got, one = resolve_targets(LOGITS, targets, topk)
    assert got.dtype == torch.long and got.tolist() == want and one is single


@pytest.mark.parametrize("targets, topk, message", [
    ([1, 2, 3], None, "targets has 3 entries but the batch has 2 images"),
    ([1], None, "targets has 1 entries but the batch has 2 images"),
    ([[1, 2], [3]], None, "same number"),
    (4, None, r"class index 4 is out of range; valid classes are 0\.\.3"),
    ([0, -1], None, r"class index -1 is out of range; valid classes are 0\.\.3"),
    ([[0, 9], [1, 2]], None, "class index 9 is out of range"),
    (None, 5, "topk must be an int between 1 and 4"),
    (None, 0, "topk must be an int between 1 and 4"),
    (1, 2, "either targets or topk"),
    (torch.tensor([0.5, 1.0]), None, "integer class indices"),
    ("cat", None, "class indices"),
])
def test_errors(targets, topk, message):
    with pytest.raises(CamvizError, match=message):
        resolve_targets(LOGITS, targets, topk)


def test_scores():
    assert torch.equal(class_scores(LOGITS, "logit"), LOGITS)
    assert torch.allclose(class_scores(LOGITS, "softmax").sum(1), torch.ones(2))
    with pytest.raises(UnknownNameError, match="did you mean 'softmax'"):
        class_scores(LOGITS, "softmx")
