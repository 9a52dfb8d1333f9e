"""Bad inputs through every command, in-process: each must exit 1 with exactly one line on
stderr that names the bad value, no traceback, and leave every folder as it was (nothing
outside the intended folder, nothing half-written inside it)."""

from __future__ import annotations

import pytest
from harness import run_cli, tree

EX = "explain {img}/gray.png --model tiny"         # a good explain call to break one part of
CK = "explain {img}/gray.png --checkpoint {ckpt}/"  # + a bad checkpoint file name
TR = "train --model lenet5 --dataset folder:{data}/ok --epochs 1 --batch-size 2 --no-register --quiet"
EV = "evaluate --model pair --dataset folder:{data}/ok"
EC = "evaluate-cam --model pair --dataset folder:{data}/ok --split val"

# (id, argv, text the error line must contain: the bad value, or the fix where the value is
# the whole argument)
CASES = [
    # ------------------------------------------------------------ explain: images
    ("img-missing", "explain {img}/nope.png --model tiny", "nope.png"),
    ("img-empty", "explain {img}/empty.png --model tiny", "empty.png"),
    ("img-text", "explain {img}/text.png --model tiny", "text.png"),
    ("img-html-jpg", "explain {img}/page.jpg --model tiny", "page.jpg"),
    ("img-trunc-png", "explain {img}/trunc.png --model tiny", "trunc.png"),
    ("img-trunc-jpg", "explain {img}/trunc.jpg --model tiny", "trunc.jpg"),
    ("img-bomb", "explain {img}/bomb.png --model tiny", "CAMVIZ_MAX_PIXELS"),
    ("img-bomb-limit", "explain {img}/bomb.png --model tiny", "50 MP limit"),
    ("img-bomb-pillow", "explain {img}/bigbomb.png --model tiny", "CAMVIZ_MAX_PIXELS"),
    ("img-max-pixels-word", "CAMVIZ_MAX_PIXELS=lots explain {img}/rgb.png --model tiny", "lots"),
    ("img-max-pixels-small", "CAMVIZ_MAX_PIXELS=100 explain {img}/rgb.png --model tiny",
     "CAMVIZ_MAX_PIXELS"),
    ("img-zero-size", "explain {img}/zero.png --model tiny", "zero.png"),
    ("img-dir-no-images", "explain {img}/noimages --model tiny", "noimages"),
    ("img-npy", "explain {img}/array.npy --model tiny", "array.npy"),
    ("img-one-bad-of-two", "explain {img}/gray.png {img}/trunc.png --model tiny", "trunc.png"),
    ("img-none", "explain --model tiny", "IMG"),
    # ------------------------------------------------------------ explain: models
    ("model-unknown", "explain {img}/gray.png --model resnt50", "resnt50"),
    ("model-and-checkpoint", "explain {img}/gray.png --model tiny --checkpoint {ckpt}/tiny.safetensors",
     "--checkpoint"),
    ("model-none", "explain {img}/gray.png", "--model"),
    ("ckpt-missing", CK + "missing.safetensors", "missing.safetensors"),
    ("ckpt-empty", CK + "empty.safetensors", "empty.safetensors"),
    ("ckpt-pickle", CK + "pickle.pt", "pickle.pt"),
    ("ckpt-random", CK + "random.safetensors", "random.safetensors"),
    ("ckpt-truncated", CK + "truncated.safetensors", "truncated.safetensors"),
    ("ckpt-dir", CK + "folder.safetensors", "folder.safetensors"),
    ("ckpt-no-meta", CK + "no_meta.safetensors", "no_meta.safetensors"),
    ("ckpt-corrupt-meta", CK + "corrupt_meta.safetensors", "re-save"),
    ("ckpt-no-classes", CK + "no_classes.safetensors", "classes"),
    ("ckpt-class-count", CK + "two_classes.safetensors", "2 classes"),
    ("ckpt-class-count-fix", CK + "two_classes.safetensors", "re-save"),
    ("ckpt-future", CK + "future.safetensors", "upgrade camviz"),
    ("ckpt-alien-arch", CK + "alien_arch.safetensors", "alexnet9000"),
    ("ckpt-bad-kwargs", CK + "bad_kwargs.safetensors", "bad_kwargs.safetensors"),
    ("ckpt-wrong-shapes", CK + "wrong_shapes.safetensors", "wrong_shapes.safetensors"),
    ("ckpt-nan", CK + "nan.safetensors", "NaN"),
    ("ckpt-nan-named", "explain {img}/gray.png --model nan", "nan.safetensors"),
    ("ckptdir-file", EX + " --checkpoints-dir {img}/notes.txt", "notes.txt"),
    ("ckptdir-missing", EX + " --checkpoints-dir {ws}/nowhere", "nowhere"),
    # ------------------------------------------------------------ explain: options
    ("layer-unknown", EX + " --layer features.99", "features.99"),
    ("method-unknown", EX + " --method gradcan", "gradcan"),
    ("class-unknown", EX + " --class zebra", "zebra"),
    ("class-index-high", EX + " --class 10", "10"),
    ("class-index-negative", EX + " --class -1", "-1"),
    ("class-and-topk", EX + " --class 1 --topk 2", "--topk"),
    ("topk-zero", EX + " --topk 0", "0"),
    ("topk-too-many", EX + " --topk 11", "11"),
    ("topk-word", EX + " --topk two", "two"),
    ("alpha-high", EX + " --alpha 2", "2"),
    ("alpha-negative", EX + " --alpha -0.5", "-0.5"),
    ("alpha-nan", EX + " --alpha nan", "nan"),
    ("alpha-word", EX + " --alpha half", "half"),
    ("colormap-unknown", EX + " --colormap rainbowz", "rainbowz"),
    ("batch-zero", EX + " --batch-size 0", "0"),
    ("batch-negative", EX + " --batch-size -4", "-4"),
    ("batch-word", EX + " --batch-size many", "many"),
    ("contrast-unknown", EX + " --contrast zebra", "zebra"),
    ("counterfactual-eigencam", EX + " --method eigencam --counterfactual", "eigencam"),
    ("device-bogus", EX + " --device gpu9", "gpu9"),
    ("device-no-cuda", EX + " --device cuda:7", "cuda:7"),
    ("flag-unknown", EX + " --bogus", "--bogus"),
    ("compare-topk", "explain {img}/gray.png --model tiny --model tinyrgb --topk 2", "--topk"),
    ("compare-counterfactual", "explain {img}/gray.png --model tiny --model tinyrgb --counterfactual",
     "--counterfactual"),
    ("compare-unknown", "explain {img}/gray.png --model tiny --model nosuch", "nosuch"),
    # ------------------------------------------------------------ explain: --out
    ("out-proc", EX + " --out /proc/nope/x", "/proc/nope"),
    ("out-through-file", EX + " --out {img}/notes.txt/sub", "notes.txt"),
    ("out-dev-null", EX + " --out /dev/null/x", "/dev/null"),
    ("out-is-file", EX + " --out {img}/notes.txt", "notes.txt"),
    ("out-sys", EX + " --out /sys/camviz", "/sys/camviz"),
    ("compare-out-file", "explain {img}/gray.png --model tiny --model tinyrgb --out {img}/notes.txt",
     "notes.txt"),
    # ------------------------------------------------------------ train
    ("train-model-unknown", TR + " --model lenet6", "lenet6"),
    ("train-dataset-unknown", "train --model lenet5 --dataset fashion-mnit --epochs 1", "fashion-mnit"),
    ("train-epochs-zero", TR + " --epochs 0", "0"),
    ("train-epochs-negative", TR + " --epochs -2", "-2"),
    ("train-batch-zero", TR + " --batch-size 0", "0"),
    ("train-lr-negative", TR + " --lr -0.1", "-0.1"),
    ("train-lr-nan", TR + " --lr nan", "nan"),
    ("train-lr-word", TR + " --lr fast", "fast"),
    ("train-limit-zero", TR + " --limit 0", "0"),
    ("train-limit-negative", TR + " --limit -5", "-5"),
    ("train-val-fraction-high", TR + " --val-fraction 1.5", "1.5"),
    ("train-val-fraction-negative", TR + " --val-fraction -0.2", "-0.2"),
    ("train-channels-5", TR + " --channels 5", "5"),
    ("train-input-size-zero", TR + " --input-size 0", "0"),
    ("train-optimizer-unknown", TR + " --optimizer adamm", "adamm"),
    ("train-scheduler-unknown", TR + " --scheduler cosin", "cosin"),
    ("train-opt-no-equals", TR + " --opt width", "width"),
    ("train-opt-unknown", TR + " --opt wingspan=3", "wingspan"),
    ("train-momentum-negative", TR + " --optimizer sgd --momentum -1", "-1"),
    ("train-hflip-high", TR + " --hflip 2", "2"),
    ("train-crop-negative", TR + " --crop-padding -1", "-1"),
    ("train-workers-negative", TR + " --workers -1", "-1"),
    ("train-smoothing-high", TR + " --label-smoothing 1.5", "1.5"),
    ("train-precision-bogus", TR + " --precision fp8", "fp8"),
    ("train-device-bogus", TR + " --device tpu", "tpu"),
    ("train-freeze-no-init", TR + " --freeze backbone", "--init"),
    ("train-init-unknown", TR + " --init nosuchweights", "nosuchweights"),
    ("train-config-missing", TR + " --config {ws}/none.yaml", "none.yaml"),
    ("train-resume-not-run", "train --resume {img}/noimages", "noimages"),
    ("train-out-file", TR + " --out {img}/notes.txt", "notes.txt"),
    ("train-out-through-file", TR + " --out {img}/notes.txt/run", "notes.txt"),
    ("train-out-proc", TR + " --out /proc/nope/run", "/proc/nope"),
    ("train-name-escape", TR.replace("--no-register", "--checkpoints-dir {ws}/ck") + " --name ../../x",
     "../../x"),
    ("train-name-slash", TR.replace("--no-register", "--checkpoints-dir {ws}/ck") + " --name foo/bar",
     "foo/bar"),
    ("train-name-hidden", TR.replace("--no-register", "--checkpoints-dir {ws}/ck") + " --name .x", ".x"),
    ("train-name-empty", TR.replace("--no-register", "--checkpoints-dir {ws}/ck") + " --name=", "''"),
    ("train-ckptdir-file", TR.replace("--no-register", "--checkpoints-dir {img}/notes.txt"), "notes.txt"),
    ("train-folder-missing", "train --model lenet5 --dataset folder:{ws}/nodata --epochs 1", "nodata"),
    ("train-folder-no-train", "train --model lenet5 --dataset folder:{data}/notrain --epochs 1", "train/"),
    ("train-folder-no-classes", "train --model lenet5 --dataset folder:{data}/noclasses --epochs 1",
     "noclasses"),
    ("train-folder-single-class", ("train --model lenet5 --dataset folder:{data}/single --epochs 1 "
                                   "--batch-size 2 --no-register"), "only"),
    ("train-folder-unreadable-class", "train --model lenet5 --dataset folder:{data}/badclass --epochs 1",
     "dog"),
    ("train-folder-no-path", "train --model lenet5 --dataset folder: --epochs 1", "folder:"),
    # ------------------------------------------------------------ evaluate
    ("eval-split-bogus", EV + " --split bogus", "bogus"),
    ("eval-batch-zero", EV + " --batch-size 0", "0"),
    ("eval-limit-zero", EV + " --limit 0", "0"),
    ("eval-limit-negative", EV + " --limit -3", "-3"),
    ("eval-dataset-unknown", "evaluate --model tiny --dataset cifar11", "cifar11"),
    ("eval-model-unknown", "evaluate --model tiniest --dataset folder:{data}/ok", "tiniest"),
    ("eval-zoo-no-dataset", "evaluate --model lenet5", "--dataset"),   # no warning line first
    ("eval-precision-bogus", EV + " --precision fp4", "fp4"),
    ("eval-folder-missing", "evaluate --model tiny --dataset folder:{ws}/gone", "gone"),
    ("eval-class-mismatch", "evaluate --model tiny --dataset folder:{data}/single", "single"),
    ("eval-ckpt-corrupt", "evaluate --checkpoint {ckpt}/random.safetensors --dataset folder:{data}/ok",
     "random.safetensors"),
    ("eval-no-dataset", "evaluate --checkpoint {ckpt}/nodataset.safetensors", "--dataset"),
    # ------------------------------------------------------------ evaluate-cam
    ("ecam-n-zero", EC + " --n 0", "0"),
    ("ecam-steps-zero", EC + " --steps 0", "0"),
    ("ecam-steps-one", EC + " --steps 1", ">= 2, got 1"),
    ("ecam-method-unknown", EC + " --methods gradcamz", "gradcamz"),
    ("ecam-layer-unknown", EC + " --layers nolayer", "nolayer"),
    ("ecam-metric-unknown", EC + " --metrics accuracyy", "accuracyy"),
    ("ecam-baseline-unknown", EC + " --deletion-baseline purple", "purple"),
    ("ecam-insertion-unknown", EC + " --insertion-baseline purple", "purple"),
    ("ecam-tolerance-negative", EC + " --tolerance -3", "-3"),
    ("ecam-iou-high", EC + " --iou-threshold 2", "2"),
    ("ecam-sanity-high", EC + " --sanity-threshold 5", "5"),
    ("ecam-batch-zero", EC + " --batch-size 0", "0"),
    ("ecam-split-bogus", EC + " --split dev", "dev"),
    ("ecam-split-missing", "evaluate-cam --model pair --dataset folder:{data}/ok", "test"),
    ("ecam-out-file", EC + " --out {img}/notes.txt", "notes.txt"),
    ("ecam-out-proc", EC + " --out /proc/nope/x", "/proc/nope"),
    ("ecam-dataset-unknown", "evaluate-cam --model tiny --dataset voc2077", "voc2077"),
    # ------------------------------------------------------------ info, models, layers
    ("info-input-size-zero", "info --model tiny --input-size 0", "0"),
    ("info-input-size-word", "info --model tiny --input-size big", "big"),
    ("info-model-unknown", "info --model foo/bar", "foo/bar"),
    ("info-ckpt-corrupt", "info --checkpoint {ckpt}/corrupt_meta.safetensors", "corrupt_meta"),
    ("info-ckpt-class-count", "info --checkpoint {ckpt}/two_classes.safetensors", "two_classes"),
    ("info-no-model", "info", "--model"),
    ("models-ckptdir-file", "models --checkpoints-dir {img}/notes.txt", "notes.txt"),
    ("models-ckptdir-missing", "models --checkpoints-dir {ws}/nowhere", "nowhere"),
    ("ckpt-env-file", "CAMVIZ_CHECKPOINTS={img}/notes.txt explain {img}/gray.png --model tiny",
     "$CAMVIZ_CHECKPOINTS '{img}/notes.txt' is a file"),
    ("ckpt-env-missing", "CAMVIZ_CHECKPOINTS={ws}/nowhere info --model tiny",
     "$CAMVIZ_CHECKPOINTS '{ws}/nowhere' does not exist"),
    ("models-ckpt-env-missing", "CAMVIZ_CHECKPOINTS={ws}/nowhere models", "nowhere"),
    ("models-extra-arg", "models resnet", "resnet"),
    ("layers-layer-no-rank", "layers --model tiny --layer features.0", "--rank"),
    ("layers-method-no-rank", "layers --model tiny --method gradcam", "--rank"),
    ("layers-rank-steps", "layers --model tiny --rank {img}/gray.png --steps 1", ">= 2, got 1"),
    ("layers-rank-missing", "layers --model tiny --rank {img}/nope.png", "nope.png"),
    ("layers-rank-text", "layers --model tiny --rank {img}/text.png", "text.png"),
    ("layers-rank-method", "layers --model tiny --rank {img}/gray.png --method gradcan", "gradcan"),
    ("layers-model-unknown", "layers --model nosuch", "nosuch"),
    ("layers-ckpt-nan", "layers --checkpoint {ckpt}/pickle.pt", "pickle.pt"),
    # ------------------------------------------------------------ app's CLI (never serves)
    ("app-port-high", "app --port 99999", "99999"),
    ("app-port-negative", "app --port -1", "-1"),
    ("app-port-word", "app --port http", "http"),
    ("app-ckptdir-file", "app --checkpoints-dir {img}/notes.txt", "notes.txt"),
    ("app-ckptdir-missing", "app --checkpoints-dir {ws}/nowhere", "nowhere"),
    ("app-device-bogus", "app --device quantum", "quantum"),
    # ------------------------------------------------------------ top level
    ("no-command", "", "COMMAND"),
    ("command-unknown", "explian", "explian"),
    ("global-flag-unknown", "--colour models", "--colour"),
]

# study cases write their config first: (id, config YAML, extra flags, expected text)
GOOD = "base: {{model: lenet5, dataset: 'folder:{data}/ok', epochs: 1, batch_size: 2}}\nruns: [{{name: a}}]\n"
STUDIES = [
    ("study-limit-zero", GOOD, "--limit 0", "--limit"),
    ("study-epochs-zero", GOOD, "--epochs 0", "--epochs"),
    ("study-zeros-dry-run", GOOD, "--epochs 0 --limit 0 --dry-run", "got 0"),
    ("study-limit-negative", GOOD, "--limit -1", "-1"),
    ("study-jobs-zero", GOOD, "--jobs 0", "--jobs"),
    ("study-threads-zero", GOOD, "--threads 0", "--threads"),
    ("study-out-file", GOOD, "--out {img}/notes.txt", "notes.txt"),
    ("study-out-proc", GOOD, "--out /proc/nope/s", "/proc/nope"),
    ("study-name-escape", "name: ../../escape\n" + GOOD, "", "../../escape"),
    ("study-name-slash", "name: a/b\n" + GOOD, "", "a/b"),
    ("study-yaml-syntax", "base: [model, lenet5\nruns: {{}}\n", "", "line 2, column 5"),
    ("study-yaml-tab", "base:\n\tmodel: lenet5\n", "", "line 2"),
    ("study-not-mapping", "- a\n- b\n", "", "study.yaml"),
    ("study-unknown-top-key", "bogus_key: 1\n" + GOOD, "", "bogus_key"),
    ("study-unknown-base-key", "base: {{modle: lenet5}}\nruns: [{{name: a}}]\n", "", "modle"),
    ("study-bad-type", "base: {{model: lenet5, epochs: many}}\nruns: [{{name: a}}]\n", "", "many"),
    ("study-empty-grid", "base: {{model: lenet5}}\ngrid: {{lr: []}}\n", "", "lr"),
    ("study-empty", "", "", "runs:"),
    ("study-runs-mapping", "base: {{model: lenet5}}\nruns: {{a: 1}}\n", "", "runs"),
    ("study-run-no-name", "base: {{model: lenet5}}\nruns: [{{lr: 0.1}}]\n", "", "run #1"),
    ("study-unknown-model", "base: {{model: lenet55}}\nruns: [{{name: a}}]\n", "", "lenet55"),
    ("study-previous-missing", GOOD, "--previous {ws}/nowhere", "nowhere"),
    ("study-previous-not-a-study", GOOD, "--previous {img}", "results.csv"),
]

TRAIN_CONFIGS = [   # train --config FILE
    ("train-yaml-syntax", "epochs: [1, 2\nlr: 0.1\n", "line"),
    ("train-yaml-not-mapping", "- epochs\n", "cfg.yaml"),
    ("train-yaml-unknown-key", "epoch: 3\n", "epoch"),
    ("train-yaml-bad-type", "lr: three\n", "three"),
    ("train-yaml-null-optimizer", "optimizer: null\n", "optimizer"),
    ("train-yaml-binary", "\x00\x01\x02", "cfg.yaml"),
]


def check(res, needle: str, before: dict, after: dict) -> None:
    assert "Traceback" not in res.err, res.err
    assert res.rc == 1, (res.rc, res.out, res.err)
    assert len(res.err_lines) == 1, res.err
    line = res.err_lines[0]
    assert line.startswith("camviz: error: "), line
    assert needle in line, (needle, line)
    assert "usage:" not in res.err
    assert after == before, "files changed: " + str(set(after.items()) ^ set(before.items()))


@pytest.mark.parametrize("argv,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_cli_input(argv, needle, ws, assets, fmt, monkeypatch):
    words = fmt(argv).split()
    while words and "=" in words[0] and words[0].split("=")[0].isupper():   # VAR=value camviz ...
        monkeypatch.setenv(*words.pop(0).split("=", 1))
    before, shared = tree(ws), tree(assets)
    res = run_cli(words)
    check(res, fmt(needle), before, tree(ws))
    assert tree(assets) == shared


@pytest.mark.parametrize("text,flags,needle", [s[1:] for s in STUDIES], ids=[s[0] for s in STUDIES])
def test_bad_study(text, flags, needle, ws, assets, fmt):
    config = ws / "study.yaml"
    config.write_text(fmt(text))
    before = tree(ws)
    res = run_cli(["study", str(config), *fmt(flags).split()])
    check(res, fmt(needle), before, tree(ws))


@pytest.mark.parametrize("text,needle", [c[1:] for c in TRAIN_CONFIGS], ids=[c[0] for c in TRAIN_CONFIGS])
def test_bad_train_config(text, needle, ws, fmt):
    config = ws / "cfg.yaml"
    config.write_text(text)
    before = tree(ws)
    res = run_cli(fmt(TR).split() + ["--config", str(config)])
    check(res, needle, before, tree(ws))


def test_case_count():
    """The README states how many bad inputs the suite feeds; keep the table that large."""
    assert len(CASES) + len(STUDIES) + len(TRAIN_CONFIGS) >= 150


def test_undecodable_split_fails_cleanly(ws, fmt):
    """Batch size 1 and a val split whose only image is truncated (the header reads, the
    pixels do not): once a ZeroDivisionError with config.yaml left in --out. Now the loader's
    warning names the file and one error line follows; --out is not created."""
    res = run_cli(fmt("train --model lenet5 --dataset folder:{data}/valbad --epochs 1 --batch-size 1 "
                      "--no-register --out {ws}/run").split())
    assert res.rc == 1 and "Traceback" not in res.err, res.err
    assert res.err_lines[-1].startswith("camviz: error: no val image of folder:")
    assert all(line.startswith("WARNING: skipped") for line in res.err_lines[:-1]), res.err
    assert not (ws / "run").exists()
