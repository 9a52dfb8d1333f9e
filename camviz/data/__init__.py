"""Data sets by name, seeded splits, device-resident batches and synthetic shapes with masks."""

from __future__ import annotations

# Importing these registers the built-in data sets, in this order (a few dict inserts;
# their data loads on demand).
from camviz.data import mnist, digits, shapes, shapes_hard, folder  # noqa: F401  isort: skip
from camviz.data.base import DataSource, FileSplit, TensorSplit, split_indices
from camviz.data.datasets import (
    DATASETS,
    DatasetSpec,
    LoadOptions,
    dataset_names,
    default_data_dir,
    load_dataset,
    register_dataset,
    resolve_dataset,
)
from camviz.data.loader import Batch, epoch_order, make_loader, split_stats
from camviz.data.shapes import SHAPE_CLASSES, ShapesData, make_shapes, shapes_split
from camviz.data.transforms import Augment, Preprocess, prepare_batch, resize_masks

__all__ = [
    "DATASETS",
    "SHAPE_CLASSES",
    "Augment",
    "Batch",
    "DataSource",
    "DatasetSpec",
    "FileSplit",
    "LoadOptions",
    "Preprocess",
    "ShapesData",
    "TensorSplit",
    "dataset_names",
    "default_data_dir",
    "epoch_order",
    "load_dataset",
    "make_loader",
    "make_shapes",
    "prepare_batch",
    "register_dataset",
    "resize_masks",
    "resolve_dataset",
    "shapes_split",
    "split_indices",
    "split_stats",
]
