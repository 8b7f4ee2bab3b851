"""compare and sweep end to end on tiny settings; resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rnnlab.errors import ConfigError
from rnnlab.experiment import compare, sweep

TINY = dict(epochs=2, hidden_size=8, num_layers=1, patience=1)


def test_compare_reports_every_run_and_mean_std_beside_baselines(tmp_path):
    out = tmp_path / "cmp"
    results = compare("sine,noise", models="rnn,gru", seeds=2, out=str(out), jobs=1, **TINY)
    assert len(results) == 8 and (results["status"] == "ok").all()
    assert list(results["model"][:4]) == ["rnn", "rnn", "gru", "gru"]  # order as asked
    for column in ("dataset", "model", "seed", "rmse", "mae", "mape", "smape", "mase",
                   "train_seconds", "epochs", "naive_rmse", "mean_rmse"):
        assert column in results
    summary = pd.read_csv(out / "summary.csv")
    rnn = summary[(summary.dataset == "sine") & (summary.model == "rnn")].iloc[0]
    runs = results[(results.dataset == "sine") & (results.model == "rnn")]["rmse"]
    assert rnn["rmse_mean"] == pytest.approx(runs.mean())
    assert rnn["rmse_std"] == pytest.approx(runs.std(ddof=1))
    assert {"naive", "mean", "seasonal_naive"} <= set(summary[summary.dataset == "sine"].model)
    for name in ("results.json", "summary.json", "report.html", "rmse_bars.png",
                 "predictions_sine.png", "config.json"):
        assert (out / name).exists(), name
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["models"] == ["rnn", "gru"] and "versions" in config


def test_same_seeds_give_the_same_numbers(tmp_path):
    # Without the linear part two epochs leave the seeds' nets apart (with it, both keep
    # the least-squares part their zero-initialised heads start from).
    a = compare("sine", models="lstm", seeds=2, out=str(tmp_path / "a"), jobs=1,
                candidates="net", linear_skip=False, **TINY)
    b = compare("sine", models="lstm", seeds=2, jobs=1, candidates="net", linear_skip=False,
                **TINY)
    pd.testing.assert_series_equal(a["rmse"], b["rmse"])
    assert a["rmse"].iloc[0] != a["rmse"].iloc[1]  # different seeds do differ


def test_sweep_runs_the_grid_and_refuses_typos(tmp_path):
    results = sweep("sine", "gru", {"seq_len": "10,20", "hidden_size": [4, 8]}, seeds=1,
                    out=str(tmp_path / "sw"), jobs=1, epochs=2, num_layers=1)
    assert sorted(zip(results.seq_len, results.hidden_size, strict=True)) == [
        (10, 4), (10, 8), (20, 4), (20, 8)]
    assert (tmp_path / "sw" / "sweep_sine_seq_len.png").exists()
    with pytest.raises(ConfigError, match="unknown parameter 'seq_lne' to sweep; valid names "
                                          "are .*seq_len"):
        sweep("sine", "gru", {"seq_lne": "10,20"})
    with pytest.raises(ConfigError, match="parameter 'hidden_size' must be int"):
        sweep("sine", "gru", {"hidden_size": "big"})


def test_a_failed_run_is_reported_and_does_not_stop_the_others(tmp_path):
    # seq_len 900 leaves the 1000-point sine too short: that run fails, the other finishes.
    results = sweep("sine", "rnn", {"seq_len": [10, 900]}, out=str(tmp_path / "f"), jobs=1,
                    candidates="net", **TINY)
    by_len = results.set_index("seq_len")
    assert by_len.loc[10, "status"] == "ok"
    assert by_len.loc[900, "status"] == "failed"
    assert "too short for seq_len 900" in by_len.loc[900, "error"]
    assert "Failed runs" in (tmp_path / "f" / "report.html").read_text()


def test_unknown_names_fail_before_any_run(tmp_path):
    with pytest.raises(ConfigError, match="unknown model 'lsmt'; valid models are"):
        compare("sine", models="lstm,lsmt", out=str(tmp_path / "x"))
    with pytest.raises(Exception, match="unknown data source 'sinus'"):
        compare("sinus", models="lstm", out=str(tmp_path / "y"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_killed_compare_resumes_with_only_the_missing_runs(tmp_path):
    out = tmp_path / "kill"
    args = ["--data", "sine,noise,complex", "--models", "rnn,gru", "--seeds", "1",
            "--epochs", "2", "--hidden-size", "8", "--num-layers", "1", "--patience", "1",
            "--jobs", "1", "--out", str(out)]
    cmd = [sys.executable, "-m", "rnnlab.cli", "compare", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    runs = out / "runs"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")}
    assert 2 <= len(finished) < 6, "the kill should land halfway"
    assert not (out / "results.csv").exists()

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(finished)} of 6 runs already finished" in done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")}
    assert len(after) == 6
    assert all(after[name] == mtime for name, mtime in finished.items())  # not redone
    assert len(pd.read_csv(out / "results.csv")) == 6


def test_rerun_into_a_folder_of_other_settings_is_refused(tmp_path):
    out = str(tmp_path / "o")
    compare("sine", models="rnn", seeds=1, out=out, jobs=1, **TINY)
    with pytest.raises(ConfigError, match="holds results of other settings"):
        compare("sine", models="gru", seeds=1, out=out, jobs=1, **TINY)
    Path(tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not an rnnlab results folder"):
        compare("sine", models="rnn", out=str(tmp_path / "other"), jobs=1, **TINY)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
