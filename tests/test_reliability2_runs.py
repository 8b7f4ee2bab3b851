"""Issue 26, run folders: rows 1-5, 8, 11 and 24 (left after kills, inspect's lock).

Kills at chosen moments run in a subprocess that patches one function of rnnlab.runs to
signal itself, so the moment is exact and the test takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from helpers import one_line_error, stop_after
from rnnlab.checkpoint import write_json
from rnnlab.cli import cli
from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnlab.errors import RnnlabError
from rnnlab.folders import locked
from rnnlab.runs import run_train

TIMING = ("train_seconds", "wall_seconds")
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
# Every file a finished one-step run with plots holds.
RUN_FILES = {"config.json", "metrics.json", "model.pt", "model.npz", "predictions.csv",
             "test_predictions.png", "loss.png"}


def tiny(**model) -> RunConfig:
    return RunConfig(DataConfig("sine"), ModelConfig(**{"seq_len": 20, "hidden_size": 4,
                                                        "num_layers": 1, "scaler": "standard",
                                                        **model}),
                     TrainConfig(epochs=2, patience=100, batch_size=128))


def scores(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("r2runs") / "run"
    run_train(tiny(), out, plots=False, progress=False)
    return out


@pytest.fixture
def run(tmp_path, finished) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


def cli_run(*args: str):
    return CliRunner().invoke(cli, list(args))


def user_folder(path: Path, *names: str) -> dict[str, str]:
    path.mkdir()
    for name in names:
        (path / name).write_text(f"mine: {name}\n")
    return {name: (path / name).read_text() for name in names}


# --- rows 1 and 2: --out of explain and inspect never replaces the user's files --------


def test_row01_explain_out_refuses_unmarked_folder(run, tmp_path):
    mine = user_folder(tmp_path / "U", "explain.json", "memory.png")
    line = one_line_error(cli_run("explain", "--run", str(run), "--out", str(tmp_path / "U")),
                          "is not an rnnlab explain folder", "explain.json", "choose another")
    assert "--out" in line
    assert {n: (tmp_path / "U" / n).read_text() for n in mine} == mine
    assert sorted(p.name for p in (tmp_path / "U").iterdir()) == sorted(mine)


def test_row01_explain_out_writes_a_new_folder_and_again_into_its_own(run, tmp_path):
    for _ in range(2):  # the second time into the folder the first one marked as its own
        result = cli_run("explain", "--run", str(run), "--out", str(tmp_path / "E"))
        assert result.exit_code == 0, result.output
    assert {"explain.json", "memory.png", "episodes.png"} <= {
        p.name for p in (tmp_path / "E").iterdir()}


def test_row02_inspect_out_refuses_unmarked_folder(tmp_path):
    mine = user_folder(tmp_path / "U", "inspection.json", "periodogram.png")
    one_line_error(cli_run("inspect", "--data", "sine", "--out", str(tmp_path / "U")),
                   "is not an rnnlab inspect folder", "inspection.json")
    assert {n: (tmp_path / "U" / n).read_text() for n in mine} == mine
    result = cli_run("inspect", "--data", "sine", "--out", str(tmp_path / "I"))
    assert result.exit_code == 0 and (tmp_path / "I" / "inspection.json").exists()


# --- row 3 and row 24 (inspect): both take the folder's lock ---------------------------


def test_row03_explain_is_refused_while_a_writer_holds_the_run(run):
    with locked(run):
        one_line_error(cli_run("explain", "--run", str(run)), "in use by another rnnlab")
    assert not (run / "explain.json").exists()


def test_row03_a_train_overwrite_is_refused_while_explain_reads_the_run(run, monkeypatch):
    import rnnlab.runs

    tried = []
    real_inspect = rnnlab.runs.inspect

    def overwrite_meanwhile(series):
        try:
            run_train(RunConfig(DataConfig("noise"), tiny().model, tiny().training), run,
                      overwrite=True, plots=False, progress=False)
        except RnnlabError as exc:
            tried.append(str(exc))
        return real_inspect(series)

    monkeypatch.setattr(rnnlab.runs, "inspect", overwrite_meanwhile)
    result = cli_run("explain", "--run", str(run))
    assert result.exit_code == 0, result.output
    assert len(tried) == 1 and "in use by another rnnlab process" in tried[0]
    explained = json.loads((run / "explain.json").read_text())
    assert explained["series"] == "sine"
    assert json.loads((run / "metrics.json").read_text())["series"] == "sine"


def test_row24_inspect_takes_the_lock_of_its_out_folder(tmp_path):
    out = tmp_path / "I"
    with locked(out):
        one_line_error(cli_run("inspect", "--data", "sine", "--out", str(out)),
                       "in use by another rnnlab")
    assert not out.exists() or not (out / "inspection.json").exists()


# --- row 4: complete only when every file is written; a kill there resumes -----------


KILL_WHILE_WRITING = textwrap.dedent("""
    import os, signal, sys
    import rnnlab.runs as runs
    real, chosen = runs.plot_loss, getattr(signal, sys.argv[1])
    def plot_loss(*args, **kwargs):
        os.kill(os.getpid(), chosen)
        return real(*args, **kwargs)
    runs.plot_loss = plot_loss
    sys.argv = ["rnnlab", "-q", "train", *sys.argv[2:]]
    from rnnlab.cli import main
    main()
""")
TRAIN = ["--data", "sine", "--seq-len", "20", "--hidden-size", "4", "--num-layers", "1",
         "--scaler", "standard", "--epochs", "2", "--patience", "100", "--batch-size", "128"]


def kill_while_writing(signal_name: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILL_WHILE_WRITING, signal_name, *TRAIN,
                           "--out", str(out)], capture_output=True, text=True, timeout=300,
                          env=ENV)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("r2ref") / "run"
    result = CliRunner().invoke(cli, ["-q", "train", *TRAIN, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text())


def test_row04_sigkill_after_the_results_before_the_plots_resumes_to_the_same_run(
        tmp_path, reference):
    out = tmp_path / "run"
    killed = kill_while_writing("SIGKILL", out)
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((out / "metrics.json").read_text())["status"] == "incomplete"
    assert (out / "state.pt").exists() and not (out / "loss.png").exists()
    result = cli_run("-q", "train", "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == RUN_FILES
    assert scores(json.loads((out / "metrics.json").read_text())) == scores(reference)


def test_row04_one_sigterm_after_training_lets_every_file_be_written(tmp_path, reference):
    out = tmp_path / "run"
    done = kill_while_writing("SIGTERM", out)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == RUN_FILES
    assert not list(out.glob(".*.tmp"))
    assert scores(json.loads((out / "metrics.json").read_text())) == scores(reference)


# --- row 5: a run with features resumes -------------------------------------------------


def test_row05_a_features_run_stopped_after_an_epoch_resumes_to_the_same_metrics(tmp_path):
    config = RunConfig(DataConfig("stock:A"),
                       ModelConfig(seq_len=20, hidden_size=4, num_layers=1, horizon=3,
                                   features="open,volume", calendar=True),
                       TrainConfig(epochs=3, patience=100, batch_size=256))
    whole = run_train(config, tmp_path / "whole", plots=False, progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("rnnlab.runs.interruptible", lambda: stop_after(1))
        stopped = run_train(config, tmp_path / "F", plots=False, progress=False)
    assert stopped["status"] == "incomplete"
    result = cli_run("-q", "train", "--out", str(tmp_path / "F"), "--resume")
    assert result.exit_code == 0, result.output
    resumed = json.loads((tmp_path / "F" / "metrics.json").read_text())
    assert scores(resumed) == scores(whole)


# --- row 8: explain refuses data that changed since training --------------------------


def test_row08_explain_refuses_changed_data(tmp_path):
    csv = tmp_path / "data.csv"
    values = np.sin(np.arange(300) / 5) + np.arange(300) * 0.001
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=300), "value": values})
    frame.to_csv(csv, index=False)
    config = tiny()
    config.data.source = str(csv)
    run_train(config, tmp_path / "run", plots=False, progress=False)
    frame.loc[250, "value"] += 1.0  # one test value edited
    frame.to_csv(csv, index=False)
    for command in ("explain", "backtest"):
        one_line_error(cli_run(command, "--run", str(tmp_path / "run")),
                       "changed since", "data_sha256")
    assert not (tmp_path / "run" / "explain.json").exists()


# --- row 11: a run's config passes the command line's checks ----------------------------


@pytest.mark.parametrize("command", [["backtest", "--horizon", "2"], ["explain"],
                                     ["forecast", "--data", "sine"]])
def test_row11_a_config_with_val_fraction_2_is_refused_not_looped_on(run, command):
    config = json.loads((run / "config.json").read_text())
    config["data"]["val_fraction"] = 2.0
    write_json(run / "config.json", config)
    one_line_error(cli_run(command[0], "--run", str(run), *command[1:]),
                   "val_fraction must be below 1, got 2", "config.json")


# --- row 24: SIGTERM before anything is saved leaves no folder behind ------------------


TERM_AFTER_LOCK = textwrap.dedent("""
    import os, signal, sys
    import rnnlab.runs as runs
    def versions():
        os.kill(os.getpid(), signal.SIGTERM)
    runs.versions = versions
    sys.argv = ["rnnlab", "-q", "train", *sys.argv[1:]]
    from rnnlab.cli import main
    main()
""")


def test_row24_sigterm_before_the_run_starts_leaves_no_lock_only_folder(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", TERM_AFTER_LOCK, *TRAIN, "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip().splitlines() == ["stopped by SIGTERM"]
    assert not out.exists()
