"""`camviz study` runner and report: parallel jobs, seeds (mean ± std), diverged runs, charts."""

from __future__ import annotations

import csv
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from camviz.errors import ConfigError
from camviz.study import charts, parse_study, run_study
from camviz.study.runner import seed_major, status

BASE = {"model": "lenet5", "dataset": "digits", "download": False, "batch_size": 32, "lr": 0.01,
        "epochs": 1, "model_options": {"activation": "relu"}}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


NUMBERS = ("best_val_accuracy", "best_epoch", "test_accuracy", "params", "epochs", "status")


@pytest.fixture
def drawn(monkeypatch) -> dict[str, dict[str, list]]:
    """What each chart drew, by file name: its x tick labels and line labels (all panels), the
    y values of the last panel's lines (curves.png: validation accuracy, one per row), and the
    first panel's bar heights and y scale."""
    saved: dict[str, dict[str, list]] = {}
    real_save = charts._save

    def keep(fig, path):
        saved[path.name] = {
            "names": [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
            + [line.get_label() for ax in fig.axes for line in ax.get_lines()],
            "last_panel_y": [list(line.get_ydata()) for line in fig.axes[-1].get_lines()],
            "bars": [patch.get_height() for patch in fig.axes[0].patches],
            "yscale": fig.axes[0].get_yscale()}
        return real_save(fig, path)
    monkeypatch.setattr(charts, "_save", keep)
    return saved


def test_two_jobs_give_the_same_results_as_one(tmp_path):
    study = parse_study({"name": "j", "base": BASE,
                         "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}, {"name": "c", "batch_size": 16}]})
    one = run_study(study, tmp_path / "one", limit=96, jobs=1, threads=1, quiet=True)
    two = run_study(study, tmp_path / "two", limit=96, jobs=2, threads=2, quiet=True)   # 1 thread each
    assert sorted(two.trained) == ["a", "b", "c"]
    assert [{k: r[k] for k in NUMBERS} for r in one.rows] == [{k: r[k] for k in NUMBERS} for r in two.rows]
    metrics = [(tmp_path / d / "runs" / "b" / "metrics.csv").read_text() for d in ("one", "two")]
    cut = [[line.rsplit(",", 1)[0] for line in m.splitlines()] for m in metrics]   # epoch_seconds differ
    assert cut[0] == cut[1]


def test_a_run_finished_by_another_process_meanwhile_is_reused_not_retrained(tmp_path, monkeypatch):
    """Two processes on one study: a run the other one finished after this study planned its
    runs is reused; the closing counts add up (and never go negative when a dir moves away)."""
    import camviz.train
    study = parse_study({"name": "m", "base": BASE, "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}]})
    run_study(study, tmp_path / "other", limit=64, quiet=True)
    real, calls = camviz.train.train, []

    def train(config, **kw):   # while 'a' trains, the other process finishes 'b'
        calls.append(Path(config.out).name)
        shutil.copytree(tmp_path / "other" / "runs" / "b", tmp_path / "out" / "runs" / "b")
        return real(config, **kw)
    monkeypatch.setattr(camviz.train, "train", train)
    result = run_study(study, tmp_path / "out", limit=64, quiet=True)
    assert calls == ["a"] and result.trained == ["a"] and result.reused == ["b"]
    assert [r["run"] for r in result.rows] == ["a", "b"]

    def moved(config, **kw):   # run dir 'a' moved away by hand once it had finished
        if Path(config.out).name == "b":
            shutil.move(str(tmp_path / "out" / "runs" / "a"), str(tmp_path / "elsewhere"))
        return real(config, **kw)
    monkeypatch.setattr(camviz.train, "train", moved)
    shutil.rmtree(tmp_path / "out" / "runs")
    result = run_study(study, tmp_path / "out", limit=64, quiet=True)
    assert result.trained == ["a", "b"] and result.reused == [] and [r["run"] for r in result.rows] == ["b"]


def test_seeds_give_mean_and_std_per_row(tmp_path):
    study = parse_study({"name": "s", "base": BASE, "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}],
                         "seeds": [0, 1, 2]})
    assert [r.name for r in seed_major(study.runs)] == ["a-seed0", "b-seed0", "a-seed1", "b-seed1",
                                                        "a-seed2", "b-seed2"]
    result = run_study(study, tmp_path / "out", limit=64, quiet=True)
    runs = _csv(tmp_path / "out" / "results.csv")
    summary = {r["row"]: r for r in _csv(tmp_path / "out" / "summary.csv")}
    for row in ("a", "b"):
        accs = [float(r["test_accuracy"]) for r in runs if r["row"] == row]
        assert len(accs) == 3 and len(set(accs)) > 1   # the seeds really differ
        assert float(summary[row]["test_accuracy_mean"]) == pytest.approx(statistics.fmean(accs))
        assert float(summary[row]["test_accuracy_std"]) == pytest.approx(statistics.stdev(accs))
        assert summary[row]["seeds"] == "3"
        mean, std = statistics.fmean(accs), statistics.stdev(accs)
        assert f"| {row} | {'base' if row == 'a' else 'lr=0.03'} | 3 | {mean:.4f} ± {std:.4f} |" in \
            (tmp_path / "out" / "results.md").read_text()
    assert "digits, 1" not in result.out.joinpath("results.md").read_text()   # limit: 64 images
    assert "- Data: digits, 64 training images, width 1, 1 epochs" in \
        (tmp_path / "out" / "results.md").read_text()


def test_a_diverging_run_is_marked_and_left_out_of_charts(tmp_path, drawn):
    study = parse_study({"name": "d", "base": {**BASE, "epochs": 2},
                         "runs": [{"name": "ok"}, {"name": "huge", "lr": 1e6}, {"name": "mid", "lr": 0.02}]})
    run_study(study, tmp_path / "out", limit=64, quiet=True)
    runs = {r["run"]: r for r in _csv(tmp_path / "out" / "results.csv")}
    assert runs["huge"]["status"] == "diverged"
    assert runs["huge"]["test_accuracy"] == runs["huge"]["best_val_accuracy"] == ""
    assert runs["ok"]["status"] != "diverged" and runs["ok"]["test_accuracy"] != ""
    for chart in ("test_accuracy.png", "curves.png"):
        assert "huge" not in drawn[chart]["names"] and "ok" in drawn[chart]["names"]
    # the lr sweep (0.01 base, 0.02) has two finite points; 1e6 is not among them
    assert "sweep_lr.png" not in drawn   # fewer than three distinct values ran
    assert "params.png" not in drawn   # one architecture: its size says nothing
    summary = {r["row"]: r for r in _csv(tmp_path / "out" / "summary.csv")}
    assert summary["huge"]["test_accuracy_mean"] == "" and summary["huge"]["status"] == "1 diverged"


def test_rows_of_different_sizes_get_a_params_chart(tmp_path, drawn):
    study = parse_study({"name": "w", "base": BASE,
                         "runs": [{"name": "narrow", "model_options": {"width": 0.5}},
                                  {"name": "wide", "model_options": {"width": 2.0}}]})
    run_study(study, tmp_path / "out", limit=64, quiet=True)
    params = {r["run"]: int(r["params"]) for r in _csv(tmp_path / "out" / "results.csv")}
    assert params["wide"] > 2 * params["narrow"]
    assert drawn["params.png"]["bars"] == [params["narrow"], params["wide"]]
    assert drawn["params.png"]["yscale"] == "log"
    assert "![params](params.png)" in (tmp_path / "out" / "results.md").read_text()


def test_status_marks_chance_level_and_plateaus():
    h = [{"val_accuracy": a} for a in (0.11, 0.10, 0.12, 0.09)]
    assert status(h, nonfinite=False, classes=10) == "diverged"          # never left chance
    assert status(h[:1], nonfinite=False, classes=10) != "diverged"      # one epoch: too early
    up = [{"val_accuracy": a} for a in (0.5, 0.7, 0.8, 0.85)]
    assert status(up, nonfinite=False, classes=10) == "not converged"
    down = [{"val_accuracy": a} for a in (0.5, 0.814, 0.81, 0.802)]     # overfitting: not "improving"
    assert status(down, nonfinite=False, classes=10) == "not converged"
    flat = [{"val_accuracy": a} for a in (0.5, 0.88, 0.885, 0.884)]
    assert status(flat, nonfinite=False, classes=10) == "converged"
    assert status(flat, nonfinite=True, classes=10) == "diverged"


def test_sweep_keys_and_skipped_rows(tmp_path):
    study = parse_study({"name": "w", "base": BASE, "runs": [
        {"name": "base"}, {"name": "lr-0.02", "lr": 0.02}, {"name": "lr-0.04", "lr": 0.04},
        {"name": "relu-max", "model_options": {"pooling": "max"}},
        {"name": "big", "batch_size": 64}], "skip": {"big": "too slow here"},
        "reference": {"base": 0.5}, "reference_label": "paper"})
    assert charts.sweeps(study) == {"lr": [("base", 0.01), ("lr-0.02", 0.02), ("lr-0.04", 0.04)]}
    result = run_study(study, tmp_path / "out", limit=64, quiet=True)
    assert [r["run"] for r in result.rows] == ["base", "lr-0.02", "lr-0.04", "relu-max"]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| big | batch_size=64 | 0 | not run (too slow here) | – |" in md
    assert "| test acc | paper | best val acc |" in md and "| base | base | 1 |" in md
    assert (tmp_path / "out" / "sweep_lr.png").stat().st_size > 0
    with pytest.raises(Exception, match="no row of study"):
        parse_study({"name": "x", "base": BASE, "runs": [{"name": "a"}], "skip": {"b": "why"}})


# --previous: runs of a published folder are taken, not trained; only matching runs are

def _published(tmp_path: Path, seeds: list[int], base: dict | None = None, *,
               histories: bool = False, epochs: int = 1) -> Path:
    """Run a two-row study, keep only its tables (as a commit would) and lose its run dirs;
    ``histories``: keep its histories.csv too (tables published before it existed lack it)."""
    study = parse_study({"name": "p", "base": {**(base or BASE), "epochs": epochs}, "seeds": seeds,
                         "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}]})
    run_study(study, tmp_path / "ran", limit=64, quiet=True)
    folder = tmp_path / "published"
    folder.mkdir()
    for name in ("results.csv", "results.md", "summary.csv") + (("histories.csv",) if histories else ()):
        shutil.copy(tmp_path / "ran" / name, folder / name)
    shutil.rmtree(tmp_path / "ran")
    return folder


def test_previous_runs_are_taken_and_new_seeds_trained(tmp_path, drawn):
    folder = _published(tmp_path, [0, 1])
    old = {r["run"]: r for r in _csv(folder / "results.csv")}
    study = parse_study({"name": "p", "base": BASE, "seeds": [0, 1, 2],
                         "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}]})
    result = run_study(study, tmp_path / "out", limit=64, quiet=True, previous=folder)
    assert sorted(result.trained) == ["a-seed2", "b-seed2"]            # seeds 0 and 1 not retrained
    assert sorted(result.taken) == ["a-seed0", "a-seed1", "b-seed0", "b-seed1"]
    runs = {r["run"]: r for r in _csv(tmp_path / "out" / "results.csv")}
    for name, row in old.items():
        assert {k: runs[name][k] for k in NUMBERS} == {k: row[k] for k in NUMBERS}
        assert "run dir not kept" in runs[name]["note"]
    assert runs["a-seed2"]["note"] == ""
    summary = {r["row"]: r for r in _csv(tmp_path / "out" / "summary.csv")}
    accs = [float(runs[f"a-seed{s}"]["test_accuracy"]) for s in (0, 1, 2)]
    assert summary["a"]["seeds"] == "3"
    assert float(summary["a"]["test_accuracy_mean"]) == pytest.approx(statistics.fmean(accs))
    assert float(summary["a"]["test_accuracy_std"]) == pytest.approx(statistics.stdev(accs))
    assert "4 of 6 runs taken from" in (tmp_path / "out" / "results.md").read_text()
    # published again and taken again: seed 2 is taken now, and no note says it twice
    again = tmp_path / "again"
    again.mkdir()
    for name in ("results.csv", "results.md"):
        shutil.copy(tmp_path / "out" / name, again / name)
    result = run_study(study, tmp_path / "out2", limit=64, quiet=True, train=False, previous=again)
    assert len(result.taken) == 6 and result.trained == []
    assert all(r["note"].count("run dir not kept") == 1 for r in result.rows)
    assert {"a", "b"} <= set(drawn["curves.png"]["names"])   # drawn from the trained seed 2


def test_previous_alone_reproduces_the_published_table(tmp_path):
    folder = _published(tmp_path, [0])
    study = parse_study({"name": "p", "base": BASE, "seeds": [0],
                         "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}]})
    result = run_study(study, tmp_path / "out", limit=64, quiet=True, train=False, previous=folder)
    assert result.trained == [] and len(result.taken) == 2
    assert _csv(tmp_path / "out" / "summary.csv") == _csv(folder / "summary.csv")
    assert not (tmp_path / "out" / "curves.png").exists()   # no run has curves


def test_previous_tables_with_the_old_status_label_read_as_not_converged(tmp_path):
    folder = _published(tmp_path, [0])
    rows = _csv(folder / "results.csv")
    rows[0]["status"] = "still improving"    # the label before it was renamed (same rule)
    with (folder / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    study = parse_study({"name": "p", "base": BASE, "seeds": [0],
                         "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}]})
    result = run_study(study, tmp_path / "out", limit=64, quiet=True, train=False, previous=folder)
    assert {r["run"]: r["status"] for r in result.rows}[rows[0]["run"]] == "not converged"
    assert "still improving" not in (tmp_path / "out" / "results.md").read_text()


def test_previous_histories_give_taken_runs_their_curves(tmp_path, drawn):
    study = parse_study({"name": "p", "base": {**BASE, "epochs": 2}, "seeds": [0],
                         "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}]})
    ran = run_study(study, tmp_path / "ran", limit=64, quiet=True)
    lines = _csv(tmp_path / "ran" / "histories.csv")
    assert [(r["run"], r["epoch"]) for r in lines] == [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2")]
    folder = _published(tmp_path, [0], histories=True, epochs=2)
    result = run_study(study, tmp_path / "out", limit=64, quiet=True, train=False, previous=folder)
    assert sorted(result.taken) == ["a", "b"] and result.trained == []
    for name, hist in ran.histories.items():   # the published epochs, to 6 significant digits
        assert [h["epoch"] for h in result.histories[name]] == [h["epoch"] for h in hist]
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr"):
            assert [h[key] for h in result.histories[name]] == pytest.approx(
                [h[key] for h in hist], rel=1e-5)
    shown = [r["run"] for r in result.rows if r["status"] != "diverged"]   # diverged: never drawn
    assert "a" in shown and drawn["curves.png"]["last_panel_y"] == [
        pytest.approx([h["val_accuracy"] for h in ran.histories[n]], rel=1e-5) for n in shown]
    assert all(r["note"].endswith("run dir not kept") for r in result.rows)   # no "no curves"
    assert "curves from its histories.csv" in (tmp_path / "out" / "results.md").read_text()
    assert _csv(tmp_path / "out" / "histories.csv") == _csv(folder / "histories.csv")   # kept on


def test_previous_histories_with_a_bad_number_are_refused(tmp_path):
    folder = _published(tmp_path, [0], histories=True)
    text = (folder / "histories.csv").read_text().splitlines()
    text[1] = text[1].replace(text[1].split(",")[2], "oops")
    (folder / "histories.csv").write_text("\n".join(text) + "\n")
    study = parse_study({"name": "p", "base": BASE, "seeds": [0],
                         "runs": [{"name": "a"}, {"name": "b", "lr": 0.03}]})
    with pytest.raises(ConfigError, match=r"histories.csv:2: run 'a' has a value that is not a number"):
        run_study(study, tmp_path / "out", limit=64, quiet=True, train=False, previous=folder)


@pytest.mark.parametrize("change, message", [
    ({"base": {**BASE, "lr": 0.02}}, "was made with base 'model=lenet5"),
    ({"limit": 32}, "was made with scale"),
    ({"runs": [{"name": "a"}, {"name": "b", "lr": 0.05}]}, "results.csv:"),
])
def test_previous_of_another_study_is_refused(tmp_path, change, message):
    folder = _published(tmp_path, [0])
    study = parse_study({"name": "p", "base": change.get("base", BASE), "seeds": [0],
                         "runs": change.get("runs", [{"name": "a"}, {"name": "b", "lr": 0.03}])})
    with pytest.raises(ConfigError, match=message):
        run_study(study, tmp_path / "out", limit=change.get("limit", 64), quiet=True, previous=folder)
    assert not (tmp_path / "out" / "runs").exists()   # refused before any training


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads child processes from /proc")
def test_sigterm_stops_a_parallel_study_and_its_runs(tmp_path):
    """SIGTERM to `camviz study --jobs 2` once waited for both runs to finish (minutes): now
    the runs stop with it, exit 143, and each run dir keeps its last finished epoch."""
    config = tmp_path / "s.yaml"
    config.write_text("name: t\nbase: {model: lenet5, dataset: digits, download: false, batch_size: 2, "
                      "lr: 0.01, epochs: 200}\nruns: [{name: a}, {name: b, lr: 0.02}]\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "from camviz.cli import entry; entry()", "study",
                             str(config), "--out", str(out), "--jobs", "2", "--threads", "2", "--quiet"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    epochs = [out / "runs" / run / "state.pt" for run in ("a", "b")]   # an epoch finished
    while time.monotonic() < deadline and proc.poll() is None and not all(p.is_file() for p in epochs):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1]
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)   # before: until both 200-epoch runs had finished
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    time.sleep(0.5)
    assert not [pid for pid in workers if _alive(pid)]
    for path in epochs:   # resumable: the last finished epoch is still on disk
        assert path.is_file()
