"""TrainConfig: validation, YAML + flags, option parsing."""

import dataclasses

import pytest

from camviz.errors import ConfigError
from camviz.train import TrainConfig, build_config, from_dict, parse_options
from camviz.train.config import save_yaml


@pytest.mark.parametrize("field, value, pattern", [
    ("lr", 0, "learning rate must be a number > 0, got 0"),
    ("lr", -0.1, "learning rate must be a number > 0, got -0.1"),
    ("lr", float("nan"), "learning rate"),
    ("epochs", 0, "epochs must be an integer >= 1, got 0"),
    ("epochs", -3, "epochs must be an integer >= 1, got -3"),
    ("batch_size", 0, "batch_size must be an integer >= 1, got 0"),
    ("batch_size", -8, "batch_size must be an integer >= 1, got -8"),
    ("momentum", 1.0, r"momentum must be in \[0, 1\)"),
    ("hflip", 1.5, r"hflip must be in \[0, 1\]"),
    ("label_smoothing", -0.1, "label_smoothing"),
    ("channels", 2, "channels must be 1 or 3"),
    ("precision", "fp8", "unknown precision 'fp8'"),
])
def test_bad_values_are_one_line_config_errors(field, value, pattern):
    with pytest.raises(ConfigError, match=pattern) as err:
        TrainConfig(**{field: value})
    assert "\n" not in str(err.value)


def test_unknown_optimizer_and_scheduler_suggest():
    with pytest.raises(ConfigError, match="did you mean 'adamw'"):
        TrainConfig(optimizer="admw")
    with pytest.raises(ConfigError, match="did you mean 'cosine'"):
        TrainConfig(scheduler="cosin")


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0


def test_yaml_then_flags_win(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: resnet18\nlr: 1e-2\nbatch-size: 32\nmodel_options:\n  width: 0.5\n  activation: tanh\n")
    cfg = build_config(f, lr=0.5, model_options={"activation": "relu"})
    assert cfg.model == "resnet18" and cfg.batch_size == 32
    assert cfg.lr == 0.5                                    # flag over YAML
    assert cfg.model_options == {"width": 0.5, "activation": "relu"}
    assert build_config(f).lr == 0.01                       # YAML's "1e-2" string coerced


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_config(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("learning_rat: 0.1\n")
    with pytest.raises(ConfigError, match="unknown config key 'learning_rat'"):
        build_config(typo)
    notint = tmp_path / "notint.yaml"
    notint.write_text("epochs: 2.5\n")
    with pytest.raises(ConfigError, match="epochs must be an integer"):
        build_config(notint)


def test_saved_yaml_round_trips(tmp_path):
    cfg = TrainConfig(model="vgg11", lr=0.05, model_options={"width": 0.25}, weight_decay=1e-4)
    save_yaml(cfg, tmp_path / "config.yaml")
    assert build_config(tmp_path / "config.yaml") == cfg


def test_parse_options_types():
    assert parse_options(["activation=relu", "width=0.5", "kernel_size=3", "residual=false",
                          "fc_activation=none"]) == {
        "activation": "relu", "width": 0.5, "kernel_size": 3, "residual": False,
        "fc_activation": None}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_options(["activation"])


def test_run_name():
    assert TrainConfig(model="lenet5", dataset="digits").run_name == "lenet5-digits"
    assert TrainConfig(dataset="folder:/data/my_pets/").run_name == "lenet5-my_pets"
    assert TrainConfig(name="best-one").run_name == "best-one"
    assert from_dict({"name": "x"}).name == "x"
