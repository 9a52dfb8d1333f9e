"""The pure epoch functions on a tiny linear model and hand-made batches."""

import math

import pytest
import torch
from torch import nn

from camviz.data.loader import Batch
from camviz.train.loop import NonFiniteLossError, evaluate, train_epoch
from camviz.train.runtime import Precision

FP32 = Precision("fp32", "cpu")


def batches(n=40, bs=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 2, 2, generator=g)
    y = (x.flatten(1).sum(1) > 0).long()
    return [Batch(x[i:i + bs], y[i:i + bs], torch.arange(i, min(i + bs, n))) for i in range(0, n, bs)]


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 2))


def test_train_epoch_returns_sums_and_step_losses():
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    seen = []
    stats = train_epoch(m, batches(), opt, criterion=nn.CrossEntropyLoss(), precision=FP32,
                        on_step=lambda s, loss, acc: seen.append(s))
    assert stats.n == 40 and len(stats.step_losses) == 5 and seen == [1, 2, 3, 4, 5]
    assert stats.loss == pytest.approx(sum(stats.step_losses) / 5)   # equal batch sizes
    second = train_epoch(m, batches(), opt, criterion=nn.CrossEntropyLoss(), precision=FP32)
    assert second.loss < stats.loss and 0 <= second.accuracy <= 1


def test_non_finite_loss_raises_before_the_step():
    m = model()
    with torch.no_grad():
        m[1].bias.fill_(float("inf"))
        m[1].weight.fill_(0.0)
    before = [p.clone() for p in m.parameters()]
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    with pytest.raises(NonFiniteLossError) as err:
        train_epoch(m, batches(), opt, criterion=nn.CrossEntropyLoss(), precision=FP32)
    assert err.value.step == 1 and math.isnan(err.value.value)
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))


def test_unchecked_steps_are_caught_at_the_end():
    m = model()
    bs = batches()
    bs[3] = Batch(torch.full_like(bs[3].x, float("nan")), bs[3].y, bs[3].index)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(NonFiniteLossError) as err:
        train_epoch(m, bs, opt, criterion=nn.CrossEntropyLoss(), precision=FP32, check_every=100)
    assert err.value.step == 4


def test_evaluate_confusion_per_class_and_predictions():
    m = model()
    stats = evaluate(m, batches(), num_classes=2, precision=FP32, collect=True)
    assert stats.n == 40 and stats.confusion.sum() == 40
    assert stats.predictions.shape == (40, 4)
    preds = stats.predictions
    assert (preds[:, 1] == preds[:, 2]).double().mean().item() == pytest.approx(stats.accuracy)
    per = stats.per_class(["neg", "pos"])
    totals = stats.confusion.sum(1)
    assert per["neg"] == pytest.approx(float(stats.confusion[0, 0] / totals[0]))
    assert ((preds[:, 3] >= 0.5) & (preds[:, 3] <= 1)).all()
    assert m.training                                   # mode restored


def test_bf16_autocast_runs_and_keeps_fp32_weights():
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    stats = train_epoch(m, batches(), opt, criterion=nn.CrossEntropyLoss(),
                        precision=Precision("bf16", "cpu"))
    assert math.isfinite(stats.loss) and all(p.dtype == torch.float32 for p in m.parameters())
