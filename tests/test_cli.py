"""Every command end to end on tiny settings, and its --help."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from rnnlab.cli import cli

TINY = ["--epochs", "2", "--hidden-size", "8", "--num-layers", "1", "--patience", "1"]


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", ["train", "forecast", "compare", "sweep", "demo",
                                     "inspect", "explain"])
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output and "--help" in result.output


def tiny_csv(tmp_path):
    dates = pd.bdate_range("2021-01-04", periods=220)
    values = 100 + pd.Series(range(220)).mul(0.05) + pd.Series(range(220)).mod(7)
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "price": values.round(2)})
    path = tmp_path / "tiny.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_then_forecast_on_a_csv(tmp_path):
    path = tiny_csv(tmp_path)
    out = tmp_path / "run"
    result = run("train", "--data", str(path), "--seq-len", "10", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("tiny.csv price: lstm on the last 44 points")
    for row in ("lstm", "naive", "mean", "seasonal_naive"):
        assert any(line.startswith(row) for line in lines[1:7]), row
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete"
    assert set(metrics["test"]) == {"model", "naive", "mean", "seasonal_naive"}
    for part in metrics["test"].values():
        assert set(part) == {"rmse", "mae", "mape", "smape", "mase"}
    for key in ("n_train", "n_val", "n_test", "epochs_run", "train_seconds"):
        assert key in metrics
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["date", "actual", "model", "lower", "upper", "naive",
                                         "mean", "seasonal_naive"]
    assert (predictions["lower"] < predictions["model"]).all()
    assert (predictions["model"] < predictions["upper"]).all()
    assert len(predictions) == metrics["n_test"] == 44
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["seq_len"] == 10 and config["command"].startswith("rnnlab train")
    for name in ("model.pt", "test_predictions.png", "loss.png"):
        assert (out / name).exists()

    result = run("forecast", "--run", str(out), "--horizon", "3")
    assert result.exit_code == 0, result.output
    rows = [r for r in result.output.strip().splitlines() if not r.startswith("note:")]
    assert rows[0].split() == ["date", "forecast", "lower", "upper"]
    last = pd.bdate_range("2021-01-04", periods=220)[-1]
    expected = pd.bdate_range(last, periods=4)[1:].strftime("%Y-%m-%d").tolist()
    assert [r.split()[0] for r in rows[1:]] == expected  # the business days after the data
    for row in rows[1:]:
        _, point, lower, upper = row.split()
        # The tiny series repeats exactly, so the interval may be narrower than the print.
        assert float(lower) <= float(point) <= float(upper)


def test_errors_are_one_line_with_exit_2_and_no_traceback(tmp_path):
    cases = [
        (["train", "--data", "sinus", "--out", str(tmp_path / "a")], "unknown data source"),
        (["train", "--data", "sine", "--model", "lsmt", "--out", str(tmp_path / "b")],
         "valid models are"),
        (["forecast", "--run", str(tmp_path / "nothing")], "run directory"),
        (["compare", "--data", "sine", "--models", "rnn", "--seq-len", "0",
          "--out", str(tmp_path / "c")], "seq_len must be at least 1"),
    ]
    for args, message in cases:
        proc = subprocess.run([sys.executable, "-m", "rnnlab.cli", *args], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
        assert "Traceback" not in proc.stderr


def test_compare_and_sweep_commands(tmp_path):
    out = tmp_path / "cmp"
    result = run("compare", "--data", "sine", "--models", "rnn,lstm", "--seeds", "2",
                 "--jobs", "1", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "on sine the best model" in result.output
    assert len(pd.read_csv(out / "results.csv")) == 4
    out = tmp_path / "sw"
    result = run("sweep", "--data", "sine", "--model", "gru", "--param", "seq_len=10,20",
                 "--seeds", "1", "--jobs", "1", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(out / "results.csv")["seq_len"]) == {10, 20}
    # sweep reads its numbers out loud, as compare does
    assert "- on sine, test RMSE by seq_len: 10: " in result.output
    result = run("sweep", "--data", "sine", "--param", "seq_len", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "must look like NAME=V1,V2" in result.output
