"""`rnnlab compare --models lstm,lstm-global` on a folder: one table, the same targets."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

RUN = "from rnnlab.cli import main; main()"


def rnnlab(*args):
    return subprocess.run([sys.executable, "-c", RUN, *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def tiny_folder(folder, n=120):
    folder.mkdir()
    rng = np.random.default_rng(4)
    for k in range(3):
        t = np.arange(n)
        value = 10.0 + 3 * k + 2 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, n)
        pd.DataFrame({"date": pd.date_range("2021-01-01", periods=n).strftime("%Y-%m-%d"),
                      "value": value.round(4)}).to_csv(folder / f"s{k}.csv", index=False)
    return folder


def test_global_and_per_series_models_stand_in_one_table(tmp_path):
    data = tiny_folder(tmp_path / "data")
    settings = ("--epochs", 2, "--seq-len", 12, "--hidden-size", 8, "-q")
    done = rnnlab("compare", "--data", data, "--models", "lstm,lstm-global", "--seeds", 1,
                  *settings, "--out", tmp_path / "cmp")
    assert done.returncode == 0, done.stderr
    assert "lstm-global" in done.stdout and "median RMSE/naive" in done.stdout
    results = pd.read_csv(tmp_path / "cmp" / "results.csv")
    assert sorted(zip(results["dataset"], results["model"], strict=True)) == sorted(
        (f"s{k}", m) for k in range(3) for m in ("lstm", "lstm-global"))
    assert (results["status"] == "ok").all()
    # The same test targets and baselines for both kinds of model.
    for column in ("naive_rmse", "seasonal_naive_rmse", "mean_rmse"):
        by_model = results.pivot(index="dataset", columns="model", values=column)
        assert np.allclose(by_model["lstm"], by_model["lstm-global"]), column
    summary = pd.read_csv(tmp_path / "cmp" / "summary.csv")
    assert {"lstm", "lstm-global", "naive", "seasonal_naive"} <= set(summary["model"])
    assert summary["outcome"].dropna().isin(["win", "tie", "loss"]).all()

    # The global rows are those of `train --global` with the same settings.
    done = rnnlab("train", "--data", data, "--global", *settings, "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    per_series = pd.read_csv(tmp_path / "run" / "per_series.csv").set_index("series")
    mine = results[results["model"] == "lstm-global"].set_index("dataset")
    assert np.allclose(mine["rmse"], per_series.loc[mine.index, "model_rmse"], rtol=1e-6)
    assert json.loads((tmp_path / "cmp" / "config.json").read_text())["settings"]["models"] \
        == ["lstm", "lstm-global"]


def test_an_unknown_global_model_is_refused_in_one_line(tmp_path):
    done = rnnlab("compare", "--data", tiny_folder(tmp_path / "data"), "--models",
                  "lstm,lsmt-global", "--epochs", 1, "--out", tmp_path / "cmp")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "lsmt" in lines[0], lines


def test_outside_features_with_a_global_model_are_refused_in_one_line(tmp_path):
    folder = tmp_path / "csvs"
    folder.mkdir()
    dates = pd.bdate_range("2020-01-01", periods=120)
    for k, name in enumerate(("AAA", "BBB")):
        values = 10 + k + np.sin(np.arange(120) / 5)
        pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": values,
                      "volume": 1000 + np.arange(120), "Name": name}).to_csv(
            folder / f"{name}_data.csv", index=False)
    for extra in (["--features", "volume"], ["--calendar"], ["--market", str(folder)]):
        done = subprocess.run(
            [sys.executable, "-m", "rnnlab.cli", "train", "--data", str(folder), "--global",
             "--epochs", "1", *extra, "--out", str(tmp_path / "run")],
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "with a panel" in done.stderr, done.stderr
        assert not (tmp_path / "run").exists()
