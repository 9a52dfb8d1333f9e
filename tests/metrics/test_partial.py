"""evaluate_cam with an EvalCheckpoint: a run stopped mid-way continues to the uninterrupted
result, scoring only the batches it had not; other settings are refused; one process per rank."""

import json

import pytest
from metricstest import tiny_loaded

from camviz.errors import ConfigError
from camviz.metrics import cam_scores, evaluate_cam
from camviz.metrics.partial import EvalCheckpoint

KW = {"methods": ["gradcam", "gradcampp"], "n": 8, "steps": 4, "batch_size": 2}


class Killed(Exception):
    pass


def _as_saved(ev):
    return json.loads(json.dumps(ev.to_dict()))


def test_a_run_stopped_after_two_batches_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    loaded = tiny_loaded()
    whole = _as_saved(evaluate_cam(loaded, "shapes", **KW))
    real, calls, kill = cam_scores._Run.add_batch, [], [True]

    def add_batch(run, x, y, index, masks):
        calls.append(index.tolist())
        if len(calls) == 3 and kill[0]:
            raise Killed   # as a kill during the third batch
        real(run, x, y, index, masks)

    monkeypatch.setattr(cam_scores._Run, "add_batch", add_batch)
    out = tmp_path / "out"
    with pytest.raises(Killed), EvalCheckpoint(out, model_sha256="abc") as ck:
        evaluate_cam(loaded, "shapes", checkpoint=ck, **KW)
    kill[0] = False
    assert (out / ".camviz" / "evaluate-rank0.safetensors").is_file()
    assert not list((out / ".camviz").glob("*lock*"))   # released on the way out
    calls.clear()
    with EvalCheckpoint(out, model_sha256="abc") as ck:
        resumed = _as_saved(evaluate_cam(loaded, "shapes", checkpoint=ck, **KW))
    assert calls == [[4, 5], [6, 7]]   # the two scored batches were not scored again
    assert resumed == whole
    calls.clear()
    with EvalCheckpoint(out, model_sha256="abc") as ck:   # finished: nothing left to score
        assert _as_saved(evaluate_cam(loaded, "shapes", checkpoint=ck, **KW)) == whole
    assert calls == []
    with EvalCheckpoint(out, model_sha256="abc", restart=True) as ck:   # same settings: redone
        assert _as_saved(evaluate_cam(loaded, "shapes", checkpoint=ck, **KW)) == whole
    assert len(calls) == 4


def test_other_settings_or_weights_are_refused_and_restart_starts_afresh(tmp_path):
    loaded, out = tiny_loaded(), tmp_path / "out"
    with EvalCheckpoint(out, model_sha256="abc") as ck:
        evaluate_cam(loaded, "shapes", checkpoint=ck, **KW)
    for sha, kw, differ in [("abc", {**KW, "steps": 5}, "settings"), ("def", KW, "sha256"),
                            ("abc", {**KW, "n": 6}, "n")]:
        with pytest.raises(ConfigError, match=rf"other settings \(differing: {differ}; .*--restart"), \
                EvalCheckpoint(out, model_sha256=sha) as ck:
            evaluate_cam(loaded, "shapes", checkpoint=ck, **kw)
    with EvalCheckpoint(out, model_sha256="abc", restart=True) as ck:
        redone = evaluate_cam(loaded, "shapes", checkpoint=ck, **{**KW, "steps": 5})
    assert _as_saved(redone) == _as_saved(evaluate_cam(loaded, "shapes", **{**KW, "steps": 5}))


def test_an_unreadable_saved_evaluation_is_a_one_line_error(tmp_path):
    out = tmp_path / "out"
    (out / ".camviz").mkdir(parents=True)
    (out / ".camviz" / "evaluate-rank0.safetensors").write_bytes(b"not a file we wrote")
    with pytest.raises(ConfigError, match="cannot read the saved evaluation .*--restart"), \
            EvalCheckpoint(out, model_sha256="abc") as ck:
        evaluate_cam(tiny_loaded(), "shapes", checkpoint=ck, **KW)


def test_a_second_evaluation_into_the_same_out_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "out"
    with EvalCheckpoint(out, model_sha256="abc"), \
            pytest.raises(ConfigError, match=r"'.*out' is being evaluated into by another process"), \
            EvalCheckpoint(out, model_sha256="abc"):
        pass
    with EvalCheckpoint(out, model_sha256="abc", rank=1), EvalCheckpoint(out, model_sha256="abc"):
        pass   # other ranks of one torchrun job hold their own files
