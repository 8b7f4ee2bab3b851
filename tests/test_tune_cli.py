"""rnnlab tune end to end on a short series: its files, its table, its one-line errors, and
the install hint when Optuna is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from helpers import one_line_error

pytest.importorskip("optuna")

from rnnlab.cli import cli  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SRC}
TINY = ["--epochs", "2", "--seed", "0"]


def write_series(path: Path, n: int = 240, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 10 + np.sin(2 * np.pi * t / 25) + 0.1 * rng.normal(size=n)
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n), "close": values}).to_csv(
        path, index=False)
    return path


def tune(*args: str):
    return CliRunner().invoke(cli, ["tune", *args])


def test_tune_writes_best_config_plot_and_metrics(tmp_path):
    data = write_series(tmp_path / "s.csv")
    out = tmp_path / "t"
    result = tune("--data", str(data), "--trials", "3", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert {"best.json", "metrics.json", "history.png", "trials.csv", "study.db"} <= {
        p.name for p in out.iterdir()}
    # One progress line per trial on stderr, numbered from 0.
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [
        "trial 0", "trial 1", "trial 2"]
    best = json.loads((out / "best.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert best["study"]["trial"] == metrics["best"]["trial"]
    assert best["model"]["seq_len"] == metrics["best"]["params"]["seq_len"]
    assert best["training"]["epochs"] == 2 and best["training"]["seed"] == 0
    assert metrics["n_trials"] == 3 and set(metrics["test"]) == {
        "model", "naive", "mean", "seasonal_naive"}
    assert metrics["importance"] is not None and set(metrics["importance"]) == {
        "seq_len", "hidden_size", "num_layers", "lr", "dropout", "clip_grad_norm", "scaler"}
    assert "lstm (tuned)" in result.stdout and "naive" in result.stdout
    assert "than next = last" in result.stdout  # the reading of train and compare
    # best.json reads back as a run config.
    from rnnlab.config import SECTIONS, RunConfig

    RunConfig.from_dict({k: best[k] for k in SECTIONS}).check()
    # Re-running into the folder adds trials to its study.
    again = tune("--data", str(data), "--trials", "1", *TINY, "--out", str(out), "-q")
    assert again.exit_code == 0, again.output
    assert json.loads((out / "metrics.json").read_text())["n_trials"] == 4
    assert again.stderr == ""  # --quiet: no progress lines


def test_too_few_trials_for_importance_say_so(tmp_path):
    data = write_series(tmp_path / "s.csv")
    result = tune("--data", str(data), "--trials", "1", *TINY, "--out", str(tmp_path / "t"))
    assert result.exit_code == 0, result.output
    assert "importance needs at least 2 finished trials, the study has 1" in result.stdout
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["importance"] is None


@pytest.mark.parametrize("args, fragments", [
    (["--model", "lsmt"], ["unknown model 'lsmt'", "did you mean lstm?"]),
    (["--trials", "0"], ["--trials must be a whole number from 1", "got 0"]),
    (["--timeout", "-5"], ["--timeout must be a positive number", "-5"]),
    (["--storage", "foo://bar"], ["--storage 'foo://bar' cannot be opened", "sqlite:///"]),
    (["--storage", "not a url"], ["--storage 'not a url' cannot be opened"]),
    (["--epochs", "0"], ["epochs must be at least 1, got 0"]),
    (["--seed", "-1"], ["seed must be 0 or more, got -1"]),
    (["--val-fraction", "0"], ["--val-fraction must be above 0"]),
])
def test_bad_input_is_one_line_and_leaves_no_folder(tmp_path, args, fragments):
    data = write_series(tmp_path / "s.csv")
    out = tmp_path / "t"
    result = tune("--data", str(data), *TINY, *args, "--out", str(out))
    one_line_error(result, *fragments)
    assert not out.exists()


def test_storage_password_is_not_shown(tmp_path):
    data = write_series(tmp_path / "s.csv")
    result = tune("--data", str(data), "--storage", "nosuchdb://me:secret@host/db",
                  "--out", str(tmp_path / "t"))
    line = one_line_error(result, "--storage")
    assert "secret" not in line


def test_a_folder_of_other_files_is_refused(tmp_path):
    data = write_series(tmp_path / "s.csv")
    out = tmp_path / "t"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    one_line_error(tune("--data", str(data), *TINY, "--out", str(out)),
                   "notes.txt", "choose another --out")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_other_data_in_the_same_study_is_refused(tmp_path):
    first = write_series(tmp_path / "a.csv")
    other = write_series(tmp_path / "b.csv", seed=1)
    out = tmp_path / "t"
    assert tune("--data", str(first), "--trials", "1", *TINY, "--out", str(out),
                "--study-name", "s").exit_code == 0
    storage = f"sqlite:///{out / 'study.db'}"
    one_line_error(tune("--data", str(other), "--trials", "1", *TINY, "--storage", storage,
                        "--study-name", "s", "--out", str(tmp_path / "u")),
                   "study 's' holds trials of source", "--study-name")
    one_line_error(tune("--data", str(first), "--trials", "1", "--epochs", "3", "--storage",
                        storage, "--study-name", "s", "--out", str(tmp_path / "v")),
                   "study 's' holds trials of epochs 2, not 3")


def test_without_optuna_the_command_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['optuna'] = None\n"
            "from rnnlab.cli import main\n"
            f"sys.argv = ['rnnlab', 'tune', '--data', 'sine', '--out', {str(tmp_path / 't')!r}]\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "error: rnnlab tune needs Optuna: pip install 'rnnlab[tune]'\n"
    assert done.stdout == ""
    assert not (tmp_path / "t").exists()


def test_ctrl_c_keeps_the_finished_trials(tmp_path, monkeypatch):
    from rnnlab.forecaster import Forecaster

    data = write_series(tmp_path / "s.csv")
    out = tmp_path / "t"
    fit, calls = Forecaster.fit, []

    def fit_then_interrupt(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Forecaster, "fit", fit_then_interrupt)
    result = tune("--data", str(data), "--trials", "3", *TINY, "--out", str(out))
    assert result.exit_code == 130, result.output
    assert result.stderr.splitlines()[-1].startswith(
        "interrupted; study 'lstm on ")
    assert "keeps its 1 finished trial(s) in sqlite:///" in result.stderr
    monkeypatch.setattr(Forecaster, "fit", fit)
    again = tune("--data", str(data), "--trials", "1", *TINY, "--out", str(out))
    assert again.exit_code == 0, again.output
    # The interrupted trial stays in the study as failed; the finished one counts.
    assert json.loads((out / "metrics.json").read_text())["n_complete"] == 2
