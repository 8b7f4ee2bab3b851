"""The tune study: workers in separate processes share one SQLite study, the objective
never reads the test part, pruned trials stop early, and no trial is an invalid config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

optuna = pytest.importorskip("optuna")

from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from rnnlab.data import load_data  # noqa: E402
from rnnlab.experiment import make_objective, run_tune, search_space, trial_config  # noqa: E402
from rnnlab.windows import split_sizes  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SRC}


def write_series(path: Path, values: np.ndarray) -> Path:
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=len(values)),
                  "close": values}).to_csv(path, index=False)
    return path


def wave(n: int = 240) -> np.ndarray:
    t = np.arange(n)
    return 10 + np.sin(2 * np.pi * t / 25) + 0.1 * np.random.default_rng(0).normal(size=n)


def base(source: str, epochs: int = 2) -> RunConfig:
    return RunConfig(DataConfig(source), ModelConfig(), TrainConfig(epochs=epochs))


def test_two_workers_in_separate_processes_share_one_study(tmp_path):
    data = write_series(tmp_path / "s.csv", wave())
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    workers = [subprocess.Popen(
        [sys.executable, "-c", "from rnnlab.cli import main; main()", "tune", "--data",
         str(data), "--trials", "2", "--epochs", "2", "--seed", str(seed), "--storage",
         storage, "--study-name", "shared", "--out", str(tmp_path / f"w{seed}")],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)]
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=300))
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    # Each worker ran its own two trials: their numbers add up to the study's.
    numbers = [line.split(":")[0] for _, stderr in outputs for line in stderr.splitlines()
               if line.startswith("trial ")]
    assert sorted(numbers) == [f"trial {i}" for i in range(4)]
    # Whoever finished last saw all four; each wrote its own best.json from the study.
    counts = [json.loads((tmp_path / f"w{s}" / "metrics.json").read_text())["n_trials"]
              for s in (1, 2)]
    assert max(counts) == 4 and min(counts) >= 2
    assert not (tmp_path / "w1" / "study.db").exists()  # the study lives in --storage


def test_the_objective_never_reads_the_test_part(tmp_path):
    values = wave()
    changed = values.copy()
    n_test = split_sizes(len(values), 4, 0.1, 0.2).n_test
    changed[-n_test:] = 50 + 5 * np.random.default_rng(9).normal(size=n_test)
    runs = []
    for name, series in (("a", values), ("b", changed)):
        data = write_series(tmp_path / f"{name}.csv", series)
        runs.append(run_tune(base(str(data)), tmp_path / name, 3, seed=0))
    frames = [pd.read_csv(tmp_path / name / "trials.csv") for name in ("a", "b")]
    assert frames[0]["value"].tolist() == frames[1]["value"].tolist()
    assert runs[0]["best"]["params"] == runs[1]["best"]["params"]
    # The perturbation is real: it moves the test scores, which only the final model sees.
    assert runs[0]["test"]["model"]["rmse"] != runs[1]["test"]["model"]["rmse"]


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def test_a_pruned_trial_stops_after_the_epoch_it_reported(tmp_path):
    data = write_series(tmp_path / "s.csv", wave())
    config = base(str(data), epochs=20)
    series = load_data(config.data)
    space = search_space(len(series), 0.1, 0.2)
    split = split_sizes(len(series), space["seq_len"][0], 0.1, 0.2)
    objective = make_objective(series.iloc[: split.n_fit], split, config, space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruned = optuna.create_study(pruner=AlwaysPrune(), sampler=optuna.samplers.TPESampler(seed=0))
    pruned.optimize(objective, n_trials=1)
    trial = pruned.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["epochs_run"] == 1 and list(trial.intermediate_values) == [1]
    # Without pruning the same trial runs on (patience 5 needs at least 5 epochs).
    kept = optuna.create_study(pruner=optuna.pruners.NopPruner(),
                               sampler=optuna.samplers.TPESampler(seed=0))
    kept.optimize(objective, n_trials=1)
    assert kept.trials[0].user_attrs["epochs_run"] >= 5
    # Reports and objective share a unit: the best epoch's validation RMSE (an epoch
    # counts as better only by 0.1%, so the objective may sit just above the lowest report).
    reports = kept.trials[0].intermediate_values.values()
    assert kept.trials[0].value <= min(reports) * 1.001


@pytest.mark.parametrize("n_rows", [70, 240, 5000])
def test_no_sampled_trial_is_an_invalid_config(n_rows):
    config = base("sine")
    space = search_space(n_rows, 0.1, 0.2)

    def objective(trial) -> float:
        picked = trial_config(trial, config, space)  # RunConfig.check runs inside
        split_sizes(n_rows, picked.model.seq_len, 0.1, 0.2)  # the series fits the window
        return 0.0

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=300)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    seq_lens = [t.params["seq_len"] for t in study.trials]
    assert max(seq_lens) <= space["seq_len"][1]
    assert {t.params["scaler"] for t in study.trials} == {"window", "standard", "minmax"}
