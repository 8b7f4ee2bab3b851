"""Models with outside features end to end: train, forecast and backtest from the CLI,
and the list form of Forecaster(features=[...])."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from rnnlab.config import DataConfig, ModelConfig
from rnnlab.data import load_series
from rnnlab.features import load_inputs
from rnnlab.forecaster import Forecaster

SRC = Path(__file__).resolve().parents[1] / "src"


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", "from rnnlab.cli import main; main()",
                           *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=env)


def test_train_forecast_and_backtest_a_direct_model_with_features(tmp_path):
    run = tmp_path / "run"
    done = cli("train", "--data", "stock:A", "--features", "open,volume", "--calendar",
               "--horizon", "3", "--epochs", "1", "--hidden-size", "4", "--num-layers", "1",
               "--seq-len", "10", "--candidates", "net", "--out", str(run), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["features"]["columns"] == ["open", "volume", "dow_sin", "dow_cos",
                                              "month_sin", "month_cos"]
    assert metrics["features"]["log"] == ["volume"]
    assert metrics["multi_step"]["strategy"] == "direct"
    assert not (run / "model.npz").exists()  # no numpy sidecar for feature models
    ahead = cli("forecast", "--run", str(run), "--horizon", "3", cwd=tmp_path)
    assert ahead.returncode == 0, ahead.stderr
    assert len(ahead.stdout.strip().splitlines()) == 4 and "2018-02-08" in ahead.stdout
    too_far = cli("forecast", "--run", str(run), "--horizon", "4", cwd=tmp_path)
    assert too_far.returncode == 2
    assert too_far.stderr.strip().splitlines() == [
        "error: features other than --calendar are unknown after the forecast origin: use "
        "--strategy direct with --horizon covering the steps wanted"]
    again = cli("backtest", "--run", str(run), cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_features_given_as_a_list():
    data = DataConfig(source="stock:A")
    frame = load_inputs(data, ModelConfig(features="open,volume"), load_series("stock:A"))
    f = Forecaster(features=["open", "volume"], seq_len=8, hidden_size=4, num_layers=1,
                   epochs=1, progress=False).fit(frame.iloc[:300])
    assert f.model_.n_features == 3
    clone = Forecaster(**f.get_params()).fit(frame.iloc[:300])
    assert np.allclose(clone.predict(frame.iloc[:320]), f.predict(frame.iloc[:320]))
