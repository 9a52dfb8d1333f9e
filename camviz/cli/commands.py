"""The commands of `camviz`: which module registers each and its one-line help.

Read by ``camviz --help`` without importing any command module (they import torch), and by
each module's ``register`` for its own line, so every line is written once.
"""

from __future__ import annotations

#: command -> (module under camviz.cli that registers it, one-line help); listing order.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train a model on a data set (run dir, metrics, plots, checkpoints)"),
    "evaluate": ("evaluate", "accuracy, loss and per-class accuracy on a data set split"),
    "models": ("models", "list every model name --model accepts and where it comes from"),
    "layers": ("models", "named layers of a model with output shapes"),
    "info": ("models", "parameters, FLOPs/MACs, input size, classes and metrics of a model"),
    "explain": ("explain", "where does the model look? CAM overlays for images"),
    "app": ("app", "start the web app: upload an image, pick a model and a layer, see overlays"),
    "evaluate-cam": ("evaluate_cam",
                     "score CAM methods x layers: pointing game, deletion/insertion, sanity"),
    "study": ("study", "run a study: many training runs, one results table and comparison charts"),
}


def command_help(name: str) -> str:
    return COMMANDS[name][1]
