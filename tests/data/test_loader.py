"""Resident batches: order, sharding, preprocessing and augmentation on the device."""

import numpy as np
import pytest
import torch

from camviz.data import Augment, Preprocess, TensorSplit, epoch_order, make_loader, prepare_batch
from camviz.data.base import channel_stats
from camviz.data.transforms import random_crop, resize_masks


@pytest.fixture
def split():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 1, 6, 6), dtype=torch.uint8, generator=g)
    return TensorSplit(images, torch.arange(50) % 3)


def test_epoch_order_depends_on_seed_and_epoch_only():
    a = epoch_order(100, shuffle=True, seed=1, epoch=3)
    assert torch.equal(a, epoch_order(100, shuffle=True, seed=1, epoch=3))
    assert not torch.equal(a, epoch_order(100, shuffle=True, seed=1, epoch=4))
    assert not torch.equal(a, epoch_order(100, shuffle=True, seed=2, epoch=3))
    assert torch.equal(a.sort().values, torch.arange(100))


def test_shards_cover_everything_and_pad_equally():
    shards = [epoch_order(101, shuffle=True, seed=0, epoch=0, rank=r, world_size=2, pad=True)
              for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 51
    assert set(torch.cat(shards).tolist()) == set(range(101))
    exact = [epoch_order(101, shuffle=False, seed=0, epoch=0, rank=r, world_size=2) for r in range(2)]
    assert sorted(torch.cat(exact).tolist()) == list(range(101))


def test_loader_yields_every_item_normalised(split):
    pre = Preprocess(6, 1, (0.5,), (0.25,))
    loader = make_loader(split, pre, batch_size=16, shuffle=True, seed=0, train=False)
    idx = torch.cat([b.index for b in loader])
    assert sorted(idx.tolist()) == list(range(50))
    for b in loader:
        back = (b.x * 0.25 + 0.5) * 255
        assert torch.allclose(back, split.images[b.index].float(), atol=1e-3)
        assert torch.equal(b.y, split.labels[b.index])


def test_train_loader_drops_a_single_leftover(split):
    pre = Preprocess(6, 1, (0.0,), (1.0,))
    loader = make_loader(TensorSplit(split.images[:33], split.labels[:33]), pre, batch_size=16,
                         shuffle=True, train=True)
    assert [len(b.y) for b in loader] == [16, 16]


def test_resize_and_channel_repeat(split):
    pre = Preprocess(12, 3, (0.0,) * 3, (1.0,) * 3)
    x = prepare_batch(split.images[:4], pre, channels_last=True)
    assert x.shape == (4, 3, 12, 12) and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x[:, 0], x[:, 2])


def test_rgb_to_gray_is_luma():
    img = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1)
    x = prepare_batch(img, Preprocess(1, 1, (0.0,), (1.0,)))
    assert torch.allclose(x, torch.tensor(0.299))


def test_flip_probability_one_and_zero(split):
    pre = Preprocess(6, 1, (0.0,), (1.0,))
    g = torch.Generator().manual_seed(0)
    flipped = prepare_batch(split.images[:8], pre, augment=Augment(hflip=1.0), generator=g)
    plain = prepare_batch(split.images[:8], pre)
    assert torch.equal(flipped, plain.flip(-1))
    same = prepare_batch(split.images[:8], pre, augment=Augment(vflip=0.0, hflip=0.0), generator=g)
    assert torch.equal(same, plain)


def test_random_crop_is_a_shift_with_zero_fill():
    x = torch.arange(1, 26, dtype=torch.float32).view(1, 1, 5, 5).repeat(64, 1, 1, 1)
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for img in out:
        nz = img[0] != 0
        rows, cols = nz.any(1).nonzero()[:, 0], nz.any(0).nonzero()[:, 0]
        # the visible block is a contiguous window of the original image
        block = img[0][rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert (block != 0).all()
        first = int(block[0, 0]) - 1
        r0, c0 = divmod(first, 5)
        assert torch.equal(block, x[0, 0, r0:r0 + block.shape[0], c0:c0 + block.shape[1]])
    assert len({tuple((img[0] != 0).nonzero()[0].tolist()) for img in out}) > 3   # varied shifts


def test_augmentation_repeats_with_the_same_generator(split):
    pre = Preprocess(6, 1, (0.0,), (1.0,))
    aug = Augment(crop_padding=1, hflip=0.5, vflip=0.5)
    a = make_loader(split, pre, batch_size=10, shuffle=True, augment=aug, train=True, seed=4)
    b = make_loader(split, pre, batch_size=10, shuffle=True, augment=aug, train=True, seed=4)
    for e in (0, 1):
        a.set_epoch(e)
        b.set_epoch(e)
        assert all(torch.equal(p.x, q.x) for p, q in zip(a, b))


def test_channel_stats_match_numpy(split):
    mean, std = channel_stats(split.images, 1)
    ref = split.images.numpy().astype(np.float64) / 255
    assert mean[0] == pytest.approx(ref.mean(), abs=1e-6)
    assert std[0] == pytest.approx(ref.std(), abs=1e-6)
    mean3, _ = channel_stats(split.images, 3)
    assert mean3 == mean * 3


def test_resize_masks_nearest():
    m = torch.zeros(1, 4, 4, dtype=torch.bool)
    m[0, :2, :2] = True
    big = resize_masks(m, 8)
    assert big.shape == (1, 8, 8) and big[0, :4, :4].all() and not big[0, 4:, :].any()
