"""The names and defaults `camviz COMMAND --help` shows, readable without importing torch.

The registries that own these names import torch (CAM methods, data sets, metrics,
optimizers) or OpenCV (colour maps), and importing them costs 5-8 s; a command's ``--help``
reads this leaf module instead. Three kinds of entry:

- plain defaults (``DEFAULT_METHODS``, ``DEFAULT_MAX_PIXELS``, ``DEFAULT_N``,
  ``SANITY_THRESHOLD``, ``PRECISIONS``, ``FREEZE``) are defined here and re-exported by the
  modules that use them, so each is written once;
- ``COLORMAPS`` is defined here too (``camviz.viz`` registers exactly these);
- registry names (``METHODS``, ``DATASETS``, ...) are copies of names that
  are registered beside their code. ``tests/test_catalog.py`` checks every copy against its
  registry (and ``TRAIN_DEFAULTS`` against ``TrainConfig``) and names the entry that drifted.

Imports nothing of camviz: a leaf.
"""

from __future__ import annotations

from types import MappingProxyType

# --- CAM methods and overlays ------------------------------------------------------------
#: ``camviz.cam.METHODS.names()``: the built-in methods, in registration order.
METHODS = ("cam", "gradcam", "xgradcam", "hirescam", "layercam", "gradcampp", "smoothgradcampp",
           "scorecam", "eigencam", "guidedbackprop", "guidedgradcam")
#: Methods run when none are asked for; ``cam`` is dropped (with an info log) for models
#: whose target layer does not feed a GAP → linear head.
DEFAULT_METHODS = ("cam", "gradcam", "gradcampp")
#: OpenCV's colour maps (``cv2.COLORMAP_*``, all in opencv >= 4.8) that ``camviz.viz`` registers.
COLORMAPS = ("autumn", "bone", "cividis", "cool", "deepgreen", "hot", "hsv", "inferno", "jet",
             "magma", "ocean", "parula", "pink", "plasma", "rainbow", "spring", "summer", "turbo",
             "twilight", "twilight_shifted", "viridis", "winter")
#: Default decompression-bomb guard; override with ``max_pixels=`` or ``$CAMVIZ_MAX_PIXELS``.
DEFAULT_MAX_PIXELS = 50_000_000

# --- data sets -----------------------------------------------------------------------------
#: ``camviz.data.dataset_names()``: names as the user writes them (``folder:PATH``).
DATASETS = ("mnist", "fashion-mnist", "cifar10", "digits", "shapes", "shapes-hard", "folder:PATH")

# --- evaluate-cam --------------------------------------------------------------------------
#: ``camviz.metrics.METRICS.names()``, in report order.
METRICS = ("pointing_game", "energy_pointing_game", "iou", "deletion_auc", "insertion_auc",
           "average_drop", "increase_in_confidence", "sanity_spearman")
#: ``camviz.metrics.BASELINES.names()``: what deleted pixels become.
BASELINES = ("blur", "mean", "zeros")
#: ``camviz.metrics.GROUND_TRUTH.names()``: data sets with an object mask per image.
GROUND_TRUTH = ("shapes",)
#: Images scored when ``n`` is not given (or the whole split if smaller).
DEFAULT_N = 200
#: A method is flagged when its rank correlation after the explained layer was randomised
#: stays above this (Adebayo et al. show such maps side by side; 0.5 is our cut).
SANITY_THRESHOLD = 0.5

# --- training ------------------------------------------------------------------------------
#: ``camviz.train.optim.OPTIMIZERS.names()`` and ``SCHEDULERS.names()``.
OPTIMIZERS = ("sgd", "adam", "adamw", "adagrad")
SCHEDULERS = ("none", "step", "cosine")
#: ``--precision``: auto = bf16 autocast where the hardware has it, else fp32.
PRECISIONS = ("auto", "fp32", "bf16")
#: ``--freeze``: none, or backbone (train the classifier only).
FREEZE = ("none", "backbone")
#: The ``camviz.train.config.TrainConfig`` defaults that ``camviz train --help`` prints.
TRAIN_DEFAULTS = MappingProxyType({"model": "lenet5", "dataset": "fashion-mnist",
                                   "val_fraction": 0.2, "momentum": 0.9, "step_size": 7,
                                   "gamma": 0.1})
