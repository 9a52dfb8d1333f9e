"""Where `camviz train` registers its checkpoint, and that it never replaces what it must not."""

import json
import shutil
from pathlib import Path

import pytest

from camviz.checkpoint import file_sha256
from camviz.cli import main
from camviz.errors import ConfigError
from camviz.train.registration import registration_target

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DIR = ROOT / "checkpoints"
SHIPPED = json.loads((SHIPPED_DIR / "shipped.json").read_text())["checkpoints"]
TINY = ["--dataset", "digits", "--epochs", "1", "--limit", "64", "--batch-size", "32",
        "--opt", "activation=relu", "--device", "cpu", "--quiet"]


def shipped_hashes() -> dict[str, str]:
    return {p.name: file_sha256(p) for p in sorted(SHIPPED_DIR.glob("*.safetensors"))}


@pytest.fixture
def guard_shipped():
    """The shipped files' hashes before; restored from a backup if a regression changed them."""
    before = shipped_hashes()
    backup = {name: (SHIPPED_DIR / name).read_bytes() for name in before}
    yield before
    for name, data in backup.items():
        if file_sha256(SHIPPED_DIR / name) != before[name]:
            (SHIPPED_DIR / name).write_bytes(data)


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("CAMVIZ_CHECKPOINTS", raising=False)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def test_every_shipped_entry_records_the_files_hash():
    for name, entry in SHIPPED.items():
        assert entry["sha256"] == file_sha256(SHIPPED_DIR / f"{name}.safetensors"), name


def test_from_a_temp_folder_registers_in_its_checkpoints_then_refuses_without_overwrite(
        tmp_path, monkeypatch, capsys, clean_env, guard_shipped):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--model", "lenet5", *TINY, "--out", "run1"]) == 0
    target = tmp_path / "checkpoints" / "lenet5-digits.safetensors"
    assert target.is_file()
    first = file_sha256(target)
    capsys.readouterr()

    assert main(["train", "--model", "lenet5", *TINY, "--out", "run2", "--seed", "1"]) == 1
    err = one_line_error(capsys)
    assert str(Path("checkpoints") / "lenet5-digits.safetensors") in err and "--overwrite" in err
    assert not (tmp_path / "run2").exists()          # refused before training: nothing written
    assert file_sha256(target) == first

    assert main(["train", "--model", "lenet5", *TINY, "--out", "run3", "--seed", "1",
                 "--overwrite"]) == 0
    assert file_sha256(target) != first              # another seed, replaced as asked
    assert shipped_hashes() == guard_shipped


def test_from_the_repo_root_a_shipped_checkpoint_is_never_replaced(
        tmp_path, monkeypatch, capsys, clean_env, guard_shipped):
    monkeypatch.chdir(ROOT)
    # The command: registers as ./checkpoints/lenet5-fashion-mnist = the shipped file.
    assert main(["train", "--model", "lenet5", "--dataset", "fashion-mnist", "--epochs", "2",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = one_line_error(capsys)
    assert "checkpoints/lenet5-fashion-mnist.safetensors' is the shipped checkpoint" in err
    assert "never replaced" in err and "--name" in err
    for extra in ([], ["--overwrite"]):
        assert main(["train", "--model", "lenet5", *TINY, "--name", "resnet18-fashion-mnist",
                     "--out", str(tmp_path / "run"), *extra]) == 1
        err = one_line_error(capsys)
        assert "shipped checkpoint 'resnet18-fashion-mnist'" in err and "never replaced" in err
    assert not (tmp_path / "run").exists()
    assert shipped_hashes() == guard_shipped


def test_shipped_checkpoint_is_protected_in_any_folder_that_lists_it(tmp_path):
    name = "lenet5-fashion-mnist"
    shutil.copy(SHIPPED_DIR / f"{name}.safetensors", tmp_path)
    shutil.copy(SHIPPED_DIR / "shipped.json", tmp_path)
    with pytest.raises(ConfigError, match="never replaced"):
        registration_target(name, tmp_path, overwrite=True)
    # a user's own file of the same name is replaceable with overwrite
    (tmp_path / f"{name}.safetensors").write_bytes(b"a user's file")
    with pytest.raises(ConfigError, match="--overwrite"):
        registration_target(name, tmp_path, overwrite=False)
    assert registration_target(name, tmp_path, overwrite=True) == tmp_path / f"{name}.safetensors"


def test_default_folder_is_the_working_directorys_even_without_one(tmp_path, monkeypatch, clean_env):
    monkeypatch.chdir(tmp_path)
    assert registration_target("x", None, overwrite=False) == tmp_path / "checkpoints" / "x.safetensors"
    monkeypatch.setenv("CAMVIZ_CHECKPOINTS", str(tmp_path / "env"))
    assert registration_target("x", None, overwrite=False) == tmp_path / "env" / "x.safetensors"


@pytest.mark.parametrize("name", ["../../x", "foo/bar", "..", ".hidden", ""])
def test_names_that_are_not_one_file_are_refused(name, tmp_path):
    with pytest.raises(ConfigError, match="plain file name"):
        registration_target(name, tmp_path, overwrite=False)


def test_checkpoints_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        registration_target("x", tmp_path / "f", overwrite=False)
