"""`rnnlab train --global --horizon 3` on three tiny CSVs: per-step aggregates and M4 scores."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

RUN = "from rnnlab.cli import main; main()"


def rnnlab(*args):
    return subprocess.run([sys.executable, "-c", RUN, *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def tiny_folder(folder, spans=((0, 120),) * 3):
    """One CSV per (first day, length), daily from 2021-01-01 + first day."""
    folder.mkdir()
    rng = np.random.default_rng(2)
    for k, (first, n) in enumerate(spans):
        t = np.arange(n)
        value = 10.0 + k + 2 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, n)
        dates = pd.date_range("2021-01-01", periods=first + n)[first:]
        pd.DataFrame({"date": dates.strftime("%Y-%m-%d"),
                      "value": value.round(4)}).to_csv(folder / f"s{k}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("glob")
    out = root / "run"
    done = rnnlab("train", "--data", tiny_folder(root / "data"), "--global", "--horizon", 3,
                  "--epochs", 2, "--hidden-size", 8, "--ensemble", 1, "--out", out, "-q")
    assert done.returncode == 0, done.stderr
    return out, done


def test_the_run_writes_per_step_aggregates_for_every_forecaster(run):
    out, done = run
    steps = json.loads((out / "metrics.json").read_text())["multi_step"]
    assert steps["horizon"] == 3 and steps["strategy"] == "direct"
    assert steps["n_series"] == 3 and steps["origins"] == 3 * (24 - 3 + 1)
    for who in ("model", "naive", "mean", "seasonal_naive", "naive2"):
        for metric in ("rmse", "mase", "smape"):
            for stat in ("mean", "median"):
                values = steps["per_step"][who][metric][stat]
                assert len(values) == 3 and all(np.isfinite(values)), (who, metric, stat)
            assert np.isfinite(steps["overall"][who][metric]["median"])
    assert 0 <= steps["share_ties_or_beats_naive"] <= 1
    assert 0 <= steps["share_ties_or_beats_seasonal_naive"] <= 1
    m4 = steps["m4"]
    assert m4["owa"] > 0 and m4["model"]["smape"]["mean"] > 0
    assert "3 steps ahead (direct, 66 origins)" in done.stdout and "OWA" in done.stdout


def test_per_series_csv_holds_m4_scores_at_the_horizon(run):
    out, _ = run
    table = pd.read_csv(out / "per_series.csv")
    assert len(table) == 3
    for column in ("h3_model_smape", "h3_model_mase_m4", "h3_naive2_smape", "h3_owa",
                   "h3_vs_naive", "h3_vs_seasonal_naive", "model_rmse"):
        assert column in table, column
    expected = 0.5 * (table["h3_model_smape"] / table["h3_naive2_smape"]
                      + table["h3_model_mase_m4"] / table["h3_naive2_mase_m4"])
    assert np.allclose(table["h3_owa"], expected)
    assert (table["h3_m4_period"] == 12).all()


def test_direct_trains_h_outputs_and_says_so(tmp_path):
    out = tmp_path / "run"
    done = rnnlab("train", "--data", tiny_folder(tmp_path / "data"), "--global", "--horizon",
                  3, "--strategy", "direct", "--epochs", 1, "--hidden-size", 8, "--ensemble", 1,
                  "--out", out, "-q")
    assert done.returncode == 0, done.stderr
    steps = json.loads((out / "metrics.json").read_text())["multi_step"]
    assert steps["strategy"] == "direct" and len(steps["per_step"]["model"]["rmse"]["mean"]) == 3
    assert "3 steps ahead (direct" in done.stdout
    done = rnnlab("forecast", "--run", out, "--id", "s1", "--horizon", 5)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 6  # a header and 5 steps


def test_a_series_with_a_test_part_shorter_than_the_horizon_is_skipped(tmp_path):
    out = tmp_path / "run"
    # The common cut dates leave s2 (days 56 to 103) 8 test days: fewer than 10.
    spans = ((0, 120), (0, 120), (56, 48))
    done = rnnlab("train", "--data", tiny_folder(tmp_path / "data", spans),
                  "--global", "--horizon", 10, "--epochs", 1,
                  "--hidden-size", 8, "--ensemble", 1, "--out", out, "-q")
    assert done.returncode == 0, done.stderr
    skipped = pd.read_csv(out / "skipped.csv")
    assert "fewer than --horizon 10" in skipped.set_index("series").loc["s2", "reason"]
