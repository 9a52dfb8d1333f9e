"""`normalize: false` (--no-normalize): raw [0, 1] pixels, d2l's protocol (lab report 003), and
configs written before the key existed still resume and are still reused by `camviz study`."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import camviz.train
from camviz.checkpoint import load_checkpoint, read_meta
from camviz.data.transforms import prepare_batch
from camviz.study import parse_study, run_study
from camviz.train import build_config, resume_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUICK = {"model": "lenet5", "dataset": "digits", "download": False, "epochs": 1, "lr": 0.05, "limit": 64,
             "batch_size": 32, "register": False}


def test_no_normalize_records_identity_stats_and_feeds_raw_pixels(tmp_path):
    raw = camviz.train.train(build_config(None, normalize=False, out=str(tmp_path / "raw"), **QUICK), quiet=True)
    std = camviz.train.train(build_config(None, out=str(tmp_path / "std"), **QUICK), quiet=True)
    meta_raw, meta_std = (read_meta(r.best_checkpoint) for r in (raw, std))
    assert meta_raw["mean"] == [0.0] and meta_raw["std"] == [1.0]
    assert meta_std["mean"] != [0.0] and meta_std["std"] != [1.0]   # the split's stats
    loaded = load_checkpoint(raw.best_checkpoint)
    images = torch.randint(0, 256, (2, 1, loaded.input_size, loaded.input_size), dtype=torch.uint8)
    x = prepare_batch(images, loaded.preprocessing)
    torch.testing.assert_close(x, images.float() / 255.0)


def test_a_run_made_before_the_key_existed_resumes_and_is_reused(tmp_path):
    cfg = build_config(None, epochs=2, out=str(tmp_path / "run"), **{k: v for k, v in QUICK.items() if k != "epochs"})
    camviz.train.train(cfg, quiet=True, stop_after=1)
    path = tmp_path / "run" / "config.yaml"
    old = yaml.safe_load(path.read_text())
    del old["normalize"]                          # as written by camviz before `normalize`
    path.write_text(yaml.safe_dump(old))
    resumed = resume_config(tmp_path / "run", **{k: v for k, v in cfg.to_dict().items() if k != "out"})
    assert resumed.normalize is True
    assert camviz.train.train(resumed, quiet=True, resume=True).finished

    study = parse_study({"name": "s", "base": {k: v for k, v in QUICK.items() if k not in ("register", "limit")},
                         "runs": [{"name": "a"}]})
    first = run_study(study, tmp_path / "study", limit=64, jobs=1, threads=1, quiet=True)
    assert first.trained == ["a"]
    marker = tmp_path / "study" / "runs" / "a" / "study.json"
    stored = json.loads(marker.read_text())
    del stored["config"]["normalize"]
    marker.write_text(json.dumps(stored))
    again = run_study(study, tmp_path / "study", limit=64, jobs=1, threads=1, quiet=True)
    assert again.trained == []                    # reused, not retrained
    stored["config"]["normalize"] = False         # a real difference is still a difference
    marker.write_text(json.dumps(stored))
    assert run_study(study, tmp_path / "study", limit=64, jobs=1, threads=1, quiet=True).trained == ["a"]
