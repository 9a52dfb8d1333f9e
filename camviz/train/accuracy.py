"""Test-set accuracy of a trained model: a data set split scored (accuracy, loss, per class,
confusion), preprocessed exactly as in training (`camviz evaluate`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from camviz.data import Preprocess, load_dataset, make_loader
from camviz.errors import CheckpointError, ConfigError
from camviz.hub import LoadedModel
from camviz.train import loop
from camviz.train.runtime import resolve_precision


@dataclass
class EvalReport:
    """Accuracy (0-1), mean cross-entropy, image count and per-class accuracy of one split."""

    model: str
    dataset: str
    split: str
    accuracy: float
    loss: float
    n: int
    per_class: dict[str, float | None]
    confusion: list[list[int]]
    checkpoint: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_compatible(loaded: LoadedModel, classes: tuple[str, ...], data_channels: int,
                     dataset: str) -> None:
    """The model must predict this data set's classes and take its images."""
    if list(loaded.classes) != list(classes):
        diff = (f"{len(loaded.classes)} classes vs {len(classes)}" if len(loaded.classes) != len(classes)
                else f"first difference: '{next(a for a, b in zip(loaded.classes, classes) if a != b)}'"
                     f" vs '{next(b for a, b in zip(loaded.classes, classes) if a != b)}'")
        raise CheckpointError(
            f"model '{loaded.name}' was trained on other classes than {dataset} has ({diff}); "
            f"evaluate it on the data set it was trained on ({loaded.meta.get('dataset', '?')})")
    trained_from = int(loaded.meta.get("data_channels", loaded.in_channels))
    if loaded.in_channels != data_channels and not (data_channels == 1 or trained_from == data_channels):
        raise CheckpointError(
            f"model '{loaded.name}' takes {loaded.in_channels}-channel input but {dataset} has "
            f"{data_channels}-channel images it was not trained to convert; use a model trained "
            f"on {dataset}")


def evaluate_model(loaded: LoadedModel, dataset: str, *, split: str = "test", batch_size: int = 256,
                   data_dir: str | None = None, download: bool = True, precision: str = "auto",
                   limit: int | None = None, workers: int = 2) -> EvalReport:
    """Accuracy, loss and per-class accuracy of ``loaded`` on ``dataset``'s ``split``.

    Input size, channels and mean/std come from the model (its checkpoint), and the
    train/val split uses the checkpoint's ``split_seed``/``val_fraction``, so ``--split
    val`` is the run's validation set.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    cfg = loaded.meta.get("config") or {}
    source = load_dataset(dataset, data_dir=data_dir, split_seed=int(cfg.get("split_seed", 0)),
                          val_fraction=float(cfg.get("val_fraction", 0.2)), download=download,
                          limit=limit)
    check_compatible(loaded, source.classes, source.channels, dataset)
    pre = Preprocess(loaded.input_size, loaded.in_channels, tuple(loaded.mean), tuple(loaded.std))
    device = next(loaded.model.parameters()).device
    loader = make_loader(source.split(split), pre, batch_size=batch_size, device=device,
                         workers=workers)
    stats = loop.evaluate(loaded.model, loader, num_classes=len(source.classes),
                          precision=resolve_precision(precision, device))
    return EvalReport(model=loaded.name, dataset=dataset, split=split, accuracy=stats.accuracy,
                      loss=stats.loss, n=stats.n, per_class=stats.per_class(source.classes),
                      confusion=stats.confusion.tolist(),
                      checkpoint=str(loaded.checkpoint) if loaded.checkpoint else None)
