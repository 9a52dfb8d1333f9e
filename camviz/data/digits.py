"""scikit-learn's 1,797 real handwritten 8x8 digits (the UCI optical digits test set).

Ships inside scikit-learn, so it works offline; models see it upscaled to their input size.
A fixed 20% is held out as the test split (the same for every ``split_seed``), and the
seeded validation split is taken from the rest.
"""

from __future__ import annotations

import numpy as np
import torch

from camviz.data.base import DataSource, TensorSplit, split_indices, split_train_val
from camviz.data.datasets import LoadOptions, register_dataset
from camviz.data.mnist import DIGIT_CLASSES

TEST_FRACTION = 0.2
TEST_SEED = 0


@register_dataset("digits", channels=1, image_size=8,
                  description="scikit-learn's 1,797 real 8x8 handwritten digits, upscaled to the model")
def load_digits(opts: LoadOptions) -> DataSource:
    # deferred: the data registry is loaded by `import camviz`, scikit-learn would add ~1 s
    from sklearn.datasets import load_digits as sk_digits
    bunch = sk_digits()
    # Pixel values are counts 0..16 of a 4x4 block; map them onto 0..255.
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    full = TensorSplit(torch.from_numpy(images).unsqueeze(1),
                       torch.from_numpy(bunch.target.astype(np.int64)))
    rest_idx, test_idx = split_indices(len(full), TEST_FRACTION, TEST_SEED)
    train, val = split_train_val(full.take(rest_idx), opts.val_fraction, opts.split_seed)
    return DataSource("digits", DIGIT_CLASSES, 1, 8,
                      {"train": train, "val": val, "test": full.take(test_idx)})
