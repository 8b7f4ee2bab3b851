"""train marks metrics.json complete only after it drew the plots, and a stop while
plotting leaves the run marked incomplete and resumable."""

import json

import pytest

from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnlab.runs import run_train


def small_config() -> RunConfig:
    return RunConfig(DataConfig("sine"), ModelConfig(hidden_size=8, num_layers=1,
                                                     scaler="standard"),
                     TrainConfig(epochs=3, patience=1000, batch_size=64))


def test_metrics_are_complete_only_after_the_plots_are_drawn(tmp_path, monkeypatch):
    seen = []

    def plot(*args, **kwargs):
        seen.append(json.loads((tmp_path / "run" / "metrics.json").read_text())["status"])

    monkeypatch.setattr("rnnlab.runs.plot_test", plot)
    monkeypatch.setattr("rnnlab.runs.plot_loss", plot)
    metrics = run_train(small_config(), tmp_path / "run", progress=False)
    assert seen == ["incomplete", "incomplete"]
    assert metrics["status"] == "complete"
    assert not (tmp_path / "run" / "state.pt").exists()


def test_stop_while_plotting_leaves_a_resumable_run(tmp_path, monkeypatch):
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("rnnlab.runs.plot_test", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_train(small_config(), out, progress=False)
    marked = json.loads((out / "metrics.json").read_text())
    assert marked["status"] == "incomplete" and "--resume" in marked["reason"]
    assert (out / "state.pt").exists()
    resumed = run_train(None, out, resume=True, progress=False)
    assert resumed["status"] == "complete" and resumed["epochs_run"] == 3
    assert (out / "loss.png").exists() and not (out / "state.pt").exists()
