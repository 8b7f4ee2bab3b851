"""`rnnlab train --global` end to end on three tiny CSVs, forecast --id, and bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

RUN = "from rnnlab.cli import main; main()"


def rnnlab(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", RUN, *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def tiny_folder(folder, n=150):
    folder.mkdir()
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2022-01-03", periods=n).strftime("%Y-%m-%d")
    for k, name in enumerate(["AAA", "BBB", "CCC"]):
        close = 50.0 * (k + 1) + np.cumsum(rng.normal(size=n))
        pd.DataFrame({"date": dates, "close": close.round(3), "Name": name}).to_csv(
            folder / f"{name}_data.csv", index=False)
    pd.DataFrame({"date": dates[:20], "close": np.arange(20.0), "Name": "SHORT"}).to_csv(
        folder / "SHORT_data.csv", index=False)
    return folder


def one_line_error(done, text):
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert text in lines[0], lines[0]


@pytest.fixture(scope="module")
def global_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("global")
    out = root / "run"
    done = rnnlab("train", "--data", tiny_folder(root / "data"), "--global", "--epochs", 2,
                  "--hidden-size", 8, "--ensemble", 1, "--out", out, "-q")
    assert done.returncode == 0, done.stderr
    return root, out, done


def test_a_global_run_writes_its_folder(global_run):
    _, out, done = global_run
    assert "3 series, each its own pool with the global lstm (ensemble of 1); 1 skipped" \
        in done.stdout
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.json", "per_series.csv", "skipped.csv", "model.pt",
            "rmse_ratio_naive.png"} <= names
    per_series = pd.read_csv(out / "per_series.csv")
    assert sorted(per_series["series"]) == ["AAA", "BBB", "CCC"]
    assert (per_series["n_test"] == 30).all()
    skipped = pd.read_csv(out / "skipped.csv")
    assert list(skipped["series"]) == ["SHORT"] and "20 rows" in skipped["reason"][0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["n_series"] == 3
    assert metrics["epochs_run"] <= 2 and metrics["split"] == "date"
    test = metrics["test"]
    assert test["rmse_ratio_naive"]["median"] == pytest.approx(
        per_series["rmse_ratio_naive"].median())
    assert 0 <= test["share_ties_or_beats_naive"] <= 1
    assert set(test["model"]["rmse"]) == {"mean", "median"}
    assert metrics["global_chosen"] == (per_series["global_weight"] > 0).sum()
    assert per_series["chosen"].str.len().min() > 0  # which candidates each series used
    config = json.loads((out / "config.json").read_text())
    assert config["global"]["ensemble"] == 1 and "--global" in config["command"]


def test_forecast_one_series_of_a_global_run(global_run):
    _, out, _ = global_run
    done = rnnlab("forecast", "--run", out, "--id", "BBB", "--horizon", 3)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["date", "forecast", "lower", "upper"] and len(lines) == 4
    point, low, high = (float(x) for x in lines[1].split()[1:])
    assert low <= point <= high
    one_line_error(rnnlab("forecast", "--run", out), "pass --id NAME (e.g. --id AAA)")
    one_line_error(rnnlab("forecast", "--run", out, "--id", "ZZZ"),
                   "series 'ZZZ' is not one the model was trained on")
    one_line_error(rnnlab("forecast", "--run", out, "--id", "bbb"), "did you mean BBB?")
    one_line_error(rnnlab("forecast", "--run", out, "--id", "SHORT"),
                   "'SHORT' was skipped at training")


def test_a_global_run_is_not_overwritten_unasked(global_run):
    root, out, _ = global_run
    one_line_error(rnnlab("train", "--data", root / "data", "--global", "--out", out),
                   "already holds files")


def test_bad_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(rnnlab("train", "--data", tmp_path / "empty", "--global", "--out",
                          tmp_path / "r1"), "holds no .csv files")
    long = tmp_path / "long.csv"
    long.write_text("date,close,ticker\n2021-01-04,1,A\n2021-01-05,2,A\n")
    one_line_error(rnnlab("train", "--data", long, "--global", "--id-column", "Nme", "--out",
                          tmp_path / "r2"), "id column 'Nme' not found")
    one_line_error(rnnlab("train", "--data", long, "--global", "--out", tmp_path / "r3"),
                   "pass --id-column NAME")
    one_line_error(rnnlab("train", "--data", long, "--global", "--id-column", "ticker",
                          "--out", tmp_path / "r4"), "is long enough to fit and score")
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3", "r4"))


PIN_PROBE = """
import os, sys
seen = {}

class Spy:  # notes OPENBLAS_NUM_THREADS at the moment numpy is first imported
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and "numpy" not in seen:
            seen["numpy"] = os.environ.get("OPENBLAS_NUM_THREADS", "")
        return None

sys.meta_path.insert(0, Spy())
from rnnlab.cli import main
sys.argv = ["rnnlab", "train", "--global", "--data", sys.argv[1], "--out", sys.argv[2]]
try:
    main()
finally:
    print("BLAS_AT_NUMPY_IMPORT=" + repr(seen.get("numpy")), file=sys.stderr)
"""


def test_global_train_pins_openblas_before_numpy_loads(tmp_path):
    (tmp_path / "empty").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", PIN_PROBE, str(tmp_path / "empty"),
                           str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120, env=env)
    assert "BLAS_AT_NUMPY_IMPORT='1'" in done.stderr, done.stderr
    assert "holds no .csv files" in done.stderr


def test_explain_and_backtest_read_a_panel_run(global_run):
    _, out, _ = global_run
    done = rnnlab("explain", "--run", out)
    assert done.returncode == 0, done.stderr
    assert "3 series, the global lstm" in done.stdout and "memory:" in done.stdout
    explained = json.loads((out / "explain.json").read_text())
    assert explained["series"] == 3 and abs(sum(explained["memory"]["sensitivity"]) - 1) < 1e-4
    assert (out / "memory.png").exists()
    done = rnnlab("backtest", "--run", out, "--horizon", 3)
    assert done.returncode == 0, done.stderr
    assert "3 series, 3 steps ahead from" in done.stdout and "OWA" in done.stdout
