"""Run directories survive divergence, Ctrl-C / SIGTERM and resumption, and never clobber.

The subprocess tests send real signals at points chosen by seed and check that a run
interrupted twice and resumed twice ends with exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from helpers import stop_after
from rnnlab.checkpoint import load_checkpoint
from rnnlab.cli import cli
from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnlab.errors import CheckpointError, RnnlabError
from rnnlab.forecaster import Forecaster
from rnnlab.runs import run_train

TIMING = ("train_seconds", "wall_seconds")
# Long enough to interrupt mid-way on any machine, small enough to take seconds.
SMALL = ["--data", "sine", "--epochs", "20", "--patience", "1000", "--hidden-size", "8",
         "--num-layers", "1", "--batch-size", "32", "--seed", "3", "--no-progress"]


def scores(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING}


def small_config(**training) -> RunConfig:
    # seq_len pinned: sine's default (two seasons, 126) would slow every run built on it.
    return RunConfig(DataConfig("sine"), ModelConfig(seq_len=30, hidden_size=8, num_layers=1,
                                                     scaler="standard"),
                     TrainConfig(**{"epochs": 5, "patience": 1000, "batch_size": 64,
                                    **training}))


# --- divergence ---------------------------------------------------------------------


def test_lr_10_on_sine_stops_with_advice_and_keeps_best_weights(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--data", "sine", "--lr", "10", "--no-progress",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "training diverged at epoch 1" in warning[0]
    assert "lower the learning rate" in warning[0] and "--clip-grad-norm" in warning[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["stopped"] == "diverged"
    assert metrics["best_epoch"] == 0 and "training diverged" in metrics["message"]
    # The kept weights are those before the blow-up: the linear part, about the noise floor.
    assert metrics["test"]["model"]["rmse"] < 0.11
    loaded = Forecaster.load(out / "model.pt")
    assert all(torch.isfinite(p).all() for p in loaded.model_.parameters())


def test_non_finite_loss_stops_training_and_restores_weights():
    from rnnlab.train import train
    from rnnlab.windows import Windows

    z = torch.sin(torch.arange(200) * 0.3)
    z[120] = math.inf  # one bad value poisons the first batch that holds it
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(10, 1), torch.nn.Flatten(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    [history] = train([model], Windows(z, 10, 10, 150, False),
                      Windows(z, 10, 150, 200, False), TrainConfig(epochs=5, batch_size=16),
                      progress=False)
    assert history.stopped == "diverged" and history.epochs_run == 1
    assert "not finite" in history.message and "lower the learning rate" in history.message
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])


def test_divergence_limit_ignores_ordinary_losses():
    from rnnlab.train import History, divergence

    history = History(initial_val_loss=0.02)
    cfg = TrainConfig(lr=0.5, clip_grad_norm=0.0)
    assert divergence(3, 5.0, 40.0, history, cfg) == ""
    assert "over 100" in divergence(3, 150.0, 40.0, history, cfg)
    assert "not finite" in divergence(3, math.nan, 1.0, history, cfg)
    assert "(--clip-grad-norm 1)" in divergence(3, math.inf, 1.0, history, cfg)
    # Without validation data the start is unknown (inf): the limit still holds.
    assert divergence(1, 1e3, 1e3, History(initial_val_loss=math.inf), cfg)


# --- interruption and resumption in one process -------------------------------------


def test_stop_then_resume_equals_uninterrupted_in_process(tmp_path, monkeypatch):
    config = small_config()
    reference = run_train(config, tmp_path / "ref", plots=False, progress=False)
    for stop_epoch in random.Random(5).sample(range(1, 5), 1):
        out = tmp_path / f"stop{stop_epoch}"
        with monkeypatch.context() as patch:
            patch.setattr("rnnlab.runs.interruptible", lambda n=stop_epoch: stop_after(n))
            stopped = run_train(config, out, plots=False, progress=False)
        assert stopped["status"] == "incomplete" and stopped["epochs_run"] == stop_epoch
        assert f"rnnlab train --out {out} --resume" in stopped["reason"]
        state = torch.load(out / "state.pt", weights_only=True)
        kept = load_checkpoint(out / "model.pt")["state_dict"]
        assert all(torch.equal(kept[k], state["best_weights"][k]) for k in kept)
        (out / ".state.pt.x1y2.tmp").write_bytes(b"torn")  # as a kill mid-save leaves it
        resumed = run_train(config, out, resume=True, plots=False, progress=False)
        assert scores(resumed) == scores(reference)
        assert not (out / "state.pt").exists()
        assert sorted(p.name for p in out.iterdir()) == [
            ".rnnlab-run", "config.json", "metrics.json", "model.npz", "model.pt",
            "predictions.csv"]


def test_rerun_refused_without_resume_and_finished_run_not_resumed(tmp_path, monkeypatch):
    config = small_config(epochs=2)
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr("rnnlab.runs.interruptible", lambda: stop_after(1))
        run_train(config, out, plots=False, progress=False)
    with pytest.raises(RnnlabError, match="already holds an unfinished run.*--resume"):
        run_train(config, out, plots=False, progress=False)
    run_train(config, out, resume=True, plots=False, progress=False)
    with pytest.raises(RnnlabError, match="already holds a finished run.*--overwrite"):
        run_train(config, out, plots=False, progress=False)
    with pytest.raises(RnnlabError, match="cannot resume .* it already finished"):
        run_train(config, out, resume=True, plots=False, progress=False)
    (out / "metrics.json").write_text("{}")
    with pytest.raises(RnnlabError, match="already holds files"):
        run_train(config, out, plots=False, progress=False)
    assert run_train(config, out, overwrite=True, plots=False, progress=False)["status"] == \
        "complete"


def test_resume_refuses_different_options(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr("rnnlab.runs.interruptible", lambda: stop_after(1))
        run_train(small_config(epochs=2), out, plots=False, progress=False)
    result = CliRunner().invoke(cli, ["train", "--data", "sine", "--epochs", "50",
                                      "--hidden-size", "8", "--out", str(out), "--resume"])
    assert result.exit_code == 2
    assert "--epochs 50 (the run has 2)" in result.stderr and "hidden" not in result.stderr
    result = CliRunner().invoke(cli, ["train", "--out", str(out)])
    assert result.exit_code == 2 and "Missing option '--data'" in result.stderr


def test_overwrite_only_replaces_runs(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(RnnlabError, match="not an rnnlab run directory"):
        run_train(small_config(epochs=1), out, overwrite=True, plots=False, progress=False)
    assert (out / "holiday.jpg").exists()


def test_resume_refuses_changed_data_and_unsafe_state(tmp_path, monkeypatch):
    csv = tmp_path / "prices.csv"
    csv.write_text("date,close\n" + "".join(
        f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00,{math.sin(i / 5):.4f}\n" for i in range(300)))
    config = small_config()
    config.data.source = str(csv)
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr("rnnlab.runs.interruptible", lambda: stop_after(1))
        run_train(config, out, plots=False, progress=False)
    good_state = (out / "state.pt").read_bytes()

    class RunsCode:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    torch.save({"model": RunsCode()}, out / "state.pt")
    with pytest.raises(CheckpointError, match="cannot resume from .*state.pt"):
        run_train(config, out, resume=True, plots=False, progress=False)
    assert not (tmp_path / "pwned").exists()

    torch.save({"model": {}, "history": {"no_such_field": 1}}, out / "state.pt")
    with pytest.raises(CheckpointError, match="lacks a valid .*history"):
        run_train(config, out, resume=True, plots=False, progress=False)

    (out / "state.pt").write_bytes(good_state)
    csv.write_text(csv.read_text().replace("0.0000", "0.0001"))
    with pytest.raises(RnnlabError, match="its data changed since the run started"):
        run_train(config, out, resume=True, plots=False, progress=False)


# --- real signals, real processes -----------------------------------------------------


# Test processes share the cores: two OpenMP threads each, spinning against each other,
# turned a 3 s run into minutes (measured). Results do not depend on it: every process
# of one comparison runs with the same setting.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def rnnlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnlab.cli", "--quiet", *args]


def wait_for(predicate, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.01)


def interrupt(command: list[str], state: Path, sig: int, delay: float) -> tuple[int, str]:
    """Start `command`, send `sig` `delay` s after it saves its next epoch, wait for exit."""
    before = state.stat().st_mtime_ns if state.exists() else None
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ENV)
    wait_for(lambda: state.exists() and state.stat().st_mtime_ns != before, process)
    time.sleep(delay)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Two uninterrupted runs with the same seed, each in its own process."""
    root = tmp_path_factory.mktemp("uninterrupted")
    runs = [root / "a", root / "b"]
    processes = [subprocess.Popen(rnnlab("train", *SMALL, "--out", str(out)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=ENV)
                 for out in runs]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    return runs


def test_same_seed_same_metrics_in_two_processes(uninterrupted):
    first, second = (json.loads((out / "metrics.json").read_text()) for out in uninterrupted)
    assert first["status"] == "complete" and first["epochs_run"] == 20
    assert scores(first) == scores(second)
    config = json.loads((uninterrupted[0] / "config.json").read_text())
    assert set(config["versions"]) >= {"rnnlab", "python", "torch", "numpy", "pandas"}
    assert config["versions"]["torch"] == torch.__version__
    assert config["command"].startswith("rnnlab") and "--seed 3" in config["command"]


def test_sigint_and_sigterm_then_resume_equal_uninterrupted(tmp_path, uninterrupted):
    rng = random.Random(20261129)
    out = tmp_path / "run"
    state = out / "state.pt"
    code, stderr = interrupt(rnnlab("train", *SMALL, "--out", str(out)), state,
                             signal.SIGINT, rng.uniform(0.0, 0.3))
    assert code == 130 and "stopping after this epoch" in stderr, stderr
    assert "Traceback" not in stderr
    metrics = json.loads((out / "metrics.json").read_text())
    first_stop = metrics["epochs_run"]
    assert metrics["status"] == "incomplete" and 1 <= first_stop < 20
    assert f"rnnlab train --out {out} --resume" in metrics["reason"]
    assert "test" not in metrics  # a stopped run is not scored (issue 25, item 10)
    kept = load_checkpoint(out / "model.pt")
    best = torch.load(state, weights_only=True)["best_weights"]
    assert all(torch.equal(kept["state_dict"][k], best[k]) for k in best)
    assert kept["meta"]["history"]["best_epoch"] == metrics["best_epoch"]

    refused = CliRunner().invoke(cli, ["train", *SMALL, "--out", str(out)])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: ")
    assert "--resume" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1

    code, stderr = interrupt(rnnlab("train", *SMALL, "--out", str(out), "--resume"), state,
                             signal.SIGTERM, rng.uniform(0.0, 0.3))
    assert code == 130 and "Traceback" not in stderr, stderr
    second_stop = json.loads((out / "metrics.json").read_text())["epochs_run"]
    assert first_stop < second_stop < 20

    done = subprocess.run(rnnlab("train", "--out", str(out), "--resume"), capture_output=True,
                          text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    resumed = json.loads((out / "metrics.json").read_text())
    reference = json.loads((uninterrupted[0] / "metrics.json").read_text())
    assert scores(resumed) == scores(reference)
    assert not state.exists()
    assert (out / "predictions.csv").read_text() == \
        (uninterrupted[0] / "predictions.csv").read_text()


def test_second_ctrl_c_aborts_at_once_and_run_stays_resumable(tmp_path):
    out = tmp_path / "run"
    # One window per step: epochs last long enough for two signals to land inside one.
    process = subprocess.Popen(
        rnnlab("train", "--data", "sine", "--epochs", "20", "--batch-size", "1",
               "--hidden-size", "8", "--num-layers", "1", "--no-progress", "--out", str(out)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(lambda: (out / "metrics.json").exists(), process)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    line = ""
    while "stopping after this epoch" not in line:  # the first signal was heard
        line = process.stderr.readline()
        assert line, "the run ended without acknowledging Ctrl-C"
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=300)[1]
    assert process.returncode == 130, rest
    # It says what the abort kept (issue 25, item 10).
    last = rest.strip().splitlines()[-1]
    assert last.startswith("interrupted: aborted ") and "--resume" in last, rest
    assert "Traceback" not in rest
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "incomplete" and metrics["reason"].startswith("aborted ")
    assert "--resume" in metrics["reason"]
    assert not (out / "model.pt").exists()  # an abort skips the end-of-run saves


def test_abort_before_first_epoch_resumes_from_scratch(tmp_path, monkeypatch):
    config = small_config(epochs=2)
    reference = run_train(config, tmp_path / "ref", plots=False, progress=False)
    out = tmp_path / "run"

    def abort(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("rnnlab.runs.Forecaster.fit", abort)
        with pytest.raises(KeyboardInterrupt):
            run_train(config, out, plots=False, progress=False)
    reason = json.loads((out / "metrics.json").read_text())["reason"]
    assert reason.startswith("aborted before the first epoch ended") and "--resume" in reason
    assert scores(run_train(config, out, resume=True, plots=False, progress=False)) == \
        scores(reference)
