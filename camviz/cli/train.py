"""`camviz train`: train a zoo model on a data set and register its best checkpoint."""

from __future__ import annotations

import argparse
import dataclasses

from camviz.catalog import DATASETS, FREEZE, OPTIMIZERS, PRECISIONS, SCHEDULERS
from camviz.catalog import TRAIN_DEFAULTS as _D
from camviz.cli.commands import command_help

S = argparse.SUPPRESS   # unset flags stay out of the namespace, so YAML values survive
RECIPE = "(default: the model's recipe, see `camviz info --model ARCH`)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help=command_help("train"),
        description="Train a zoo architecture. Writes runs/<name>-<time>/ (config.yaml, metrics.csv/json, "
                    "loss.png, accuracy.png, best/last.safetensors, confusion matrix, predictions.csv) "
                    "and registers the best checkpoint as <checkpoints-dir>/<name>.safetensors "
                    "(./checkpoints unless --checkpoints-dir or $CAMVIZ_CHECKPOINTS say otherwise; an "
                    "existing checkpoint is replaced only with --overwrite, a shipped one never). Values come "
                    "from the model's default recipe (optimizer, lr, schedule, epochs, batch size, "
                    "augmentation, model options: its shipped checkpoint's), then --config YAML (keys "
                    "as below with underscores), then flags; config.yaml records the values used. Seeded runs "
                    "repeat exactly; runs under `torchrun --nproc_per_node N` use DDP.")
    a = p.add_argument
    a("--config", metavar="FILE", help="YAML file of config keys (flags given here override it)")
    a("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last finished epoch "
      "(only --epochs, --device, --workers, --checkpoints-dir, --no-register, --overwrite may change)")
    a("--model", default=S, metavar="ARCH", help=f"zoo architecture, see `camviz models` (default: {_D['model']})")
    a("--dataset", default=S, metavar="NAME",
      help=f"{', '.join(DATASETS)} (default: {_D['dataset']})")
    a("--opt", dest="model_options", action="append", default=S, metavar="KEY=VALUE",
      help="model option, repeatable, e.g. --opt activation=relu --opt width=0.5 (see `camviz info`)")
    a("--data-dir", default=S, metavar="DIR", help="where data set files are (default: $CAMVIZ_DATA or ./data)")
    a("--no-download", dest="download", action="store_false", default=S,
      help="never download; missing files are an error naming where to put them")
    a("--input-size", type=int, default=S, metavar="PX",
      help="square input side (default: the data's size, or the model's if the data is smaller)")
    a("--channels", type=int, choices=(1, 3), default=S,
      help="input channels: gray data repeated to 3, RGB to luma 1 (default: the data's)")
    a("--normalize", action=argparse.BooleanOptionalAction, default=S,
      help="standardise inputs by the train split's per-channel mean/std (default: on); "
           "--no-normalize feeds raw [0, 1] pixels, as torchvision's ToTensor alone does (d2l, lab report 003)")
    a("--val-fraction", type=float, default=S, metavar="F", help=f"share of train held out for val (default: {_D['val_fraction']}); 0 trains on every "
      "training image, validates on the test split and keeps the last epoch (lab report 003's protocol)")
    a("--split-seed", type=int, default=S, metavar="N", help="seed of the train/val split (default: 0)")
    a("--limit", type=int, default=S, metavar="N", help="use at most N images per split (quick runs)")
    a("--epochs", type=int, default=S, metavar="N", help=RECIPE)
    a("--batch-size", type=int, default=S, metavar="N", help="per process " + RECIPE)
    a("--optimizer", default=S, help=f"{', '.join(OPTIMIZERS)} " + RECIPE)
    a("--lr", type=float, default=S, metavar="F", help="learning rate " + RECIPE)
    a("--momentum", type=float, default=S, metavar="F", help=f"sgd momentum (default: {_D['momentum']})")
    a("--weight-decay", type=float, default=S, metavar="F", help="(default: the recipe's, else adamw 0.01, others 0)")
    a("--scheduler", default=S, help=f"{', '.join(SCHEDULERS)} " + RECIPE)
    a("--step-size", type=int, default=S, metavar="N", help=f"step scheduler: epochs per decay (default: {_D['step_size']})")
    a("--gamma", type=float, default=S, metavar="F", help=f"step scheduler: decay factor (default: {_D['gamma']})")
    a("--label-smoothing", type=float, default=S, metavar="F", help="(default: 0)")
    a("--crop-padding", type=int, default=S, metavar="PX", help="random crop after zero padding of PX; 0 is off " + RECIPE)
    a("--hflip", type=float, default=S, metavar="P", help="horizontal flip probability " + RECIPE)
    a("--vflip", type=float, default=S, metavar="P", help="vertical flip probability " + RECIPE)
    a("--seed", type=int, default=S, metavar="N", help="same seed, same device: same metrics (default: 0)")
    a("--init", default=S, metavar="SOURCE",
      help="start from trained weights: 'imagenet' (torchvision's IMAGENET1K_V1 weights of the same "
           "architecture, from its cache or downloaded once) or a camviz checkpoint name or path; "
           "tensors whose name and shape match are copied, the classifier is rebuilt for the new "
           "classes (default: random initialisation)")
    a("--freeze", choices=FREEZE, default=S,
      help="backbone: train the classifier only, every other parameter frozen (needs --init; default: none)")
    a("--backbone-lr", type=float, default=S, metavar="F",
      help="learning rate of every parameter outside the classifier (default: --lr)")
    a("--device", default=S, help="auto, cpu, cuda or cuda:N (default: auto)")
    a("--precision", choices=PRECISIONS, default=S,
      help="auto: bf16 autocast where the hardware has it (CUDA, AVX512-BF16/AMX CPUs), else fp32")
    a("--channels-last", action=argparse.BooleanOptionalAction, default=S,
      help="NHWC memory format, faster convolutions on CPU and tensor cores (default: on)")
    a("--workers", type=int, default=S, metavar="N", help="image-folder decoding processes (default: 2)")
    a("--out", default=S, metavar="RUN_DIR", help="run directory (default: runs/<name>-<time>)")
    a("--name", default=S, help="checkpoint name for --model NAME later (default: <model>-<dataset>)")
    a("--checkpoints-dir", default=S, metavar="DIR",
      help="folder to register the best checkpoint in, created if missing (default: $CAMVIZ_CHECKPOINTS, "
           "else ./checkpoints of the current directory - never the installed package's folder)")
    a("--overwrite", action="store_true", default=S,
      help="replace an existing <checkpoints-dir>/<name>.safetensors (without it the run is refused "
           "before training; shipped checkpoints are never replaced)")
    a("--no-register", dest="register", action="store_false", default=S,
      help="do not copy the best checkpoint to the checkpoints dir")
    a("--quiet", action="store_true", help="no progress bars or epoch lines; print only the result")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from camviz.errors import ConfigError
    from camviz.train import TrainConfig, build_config, parse_options, resume_config, train
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    flags = {k: v for k, v in vars(args).items() if k in fields}
    if "model_options" in flags:
        flags["model_options"] = parse_options(flags["model_options"])
    if args.resume:
        if args.config:
            raise ConfigError("--resume takes the config of the run; drop --config")
        config = resume_config(args.resume, **flags)
    else:
        config = build_config(args.config, **flags)
    result = train(config, quiet=args.quiet, resume=bool(args.resume))
    if args.quiet and result.finished and result.rank == 0:
        test = f"test_accuracy={result.test['accuracy']:.4f} " if result.test else ""
        print(f"{test}best_val_accuracy={result.best_val_accuracy:.4f} run_dir={result.run_dir}"
              + (f" checkpoint={result.registered}" if result.registered else ""))
    return 0
