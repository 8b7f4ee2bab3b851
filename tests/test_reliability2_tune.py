"""Issue 26, tune: rows 9 (a re-run continues the search), 20 (no traceback on Ctrl-C),
21 (study.db follows the umask) and 24 (no trial left RUNNING after a kill)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

optuna = pytest.importorskip("optuna")

from rnnlab.cli import cli  # noqa: E402
from test_tune_cli import ENV, write_series  # noqa: E402

TINY = ["--epochs", "2", "--seed", "0"]


def tune(*args: str):
    return CliRunner().invoke(cli, ["tune", *args])


def trials_of(out: Path) -> list[dict]:
    with open(out / "trials.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def params(row: dict) -> tuple:
    return tuple(row[k] for k in ("seq_len", "hidden_size", "num_layers", "lr", "dropout",
                                  "clip_grad_norm", "scaler"))


def test_row09_a_rerun_with_the_same_seed_continues_the_search(tmp_path):
    data = write_series(tmp_path / "s.csv")
    out = tmp_path / "t"
    for _ in range(2):
        result = tune("--data", str(data), "--trials", "3", *TINY, "--out", str(out))
        assert result.exit_code == 0, result.output
    rows = trials_of(out)
    assert [r["number"] for r in rows] == [str(i) for i in range(6)]
    first, second = [params(r) for r in rows[:3]], [params(r) for r in rows[3:]]
    assert not set(first) & set(second), (first, second)  # no trial drawn again


def test_row09_the_first_run_keeps_its_seeded_draws(tmp_path):
    data = write_series(tmp_path / "s.csv")
    drawn = []
    for name in ("a", "b"):
        result = tune("--data", str(data), "--trials", "2", *TINY, "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        drawn.append([params(r) for r in trials_of(tmp_path / name)])
    assert drawn[0] == drawn[1]  # a new study with one seed is repeatable, as before


def test_row21_study_db_follows_the_umask(tmp_path):
    data = write_series(tmp_path / "s.csv")
    previous = os.umask(0o002)
    try:
        result = tune("--data", str(data), "--trials", "1", *TINY, "--out", str(tmp_path / "t"))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "t").iterdir()
             if not p.name.startswith(".")}
    assert modes["study.db"] == 0o664 and set(modes.values()) == {0o664}, modes


def test_row24_a_trial_left_running_by_a_killed_tune_is_marked_failed(tmp_path):
    data = write_series(tmp_path / "s.csv")
    out = tmp_path / "t"
    result = tune("--data", str(data), "--trials", "1", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    # What SIGKILL leaves: a trial asked for and never told.
    study = optuna.load_study(study_name="lstm on " + str(data),
                              storage=f"sqlite:///{out / 'study.db'}")
    study.ask()
    result = tune("--data", str(data), "--trials", "1", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    states = [r["state"] for r in trials_of(out)]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"], states


def interrupted_tune(tmp_path: Path, how: int) -> tuple[subprocess.CompletedProcess, Path]:
    data = write_series(tmp_path / "s.csv", n=600)
    out = tmp_path / "t"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnlab.cli", "tune", "--data", str(data), "--trials", "50",
         "--epochs", "200", "--seed", "0", "--out", str(out)],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    db = out / "study.db"
    while time.monotonic() < deadline:  # a trial is running once the study holds one
        if db.exists() and db.stat().st_size > 0:
            try:
                study = optuna.load_study(study_name="lstm on " + str(data),
                                          storage=f"sqlite:///{db}")
                if study.get_trials(deepcopy=False):
                    break
            except Exception:  # noqa: BLE001 - the tables are still being made
                pass
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(how)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), out


@pytest.mark.parametrize("how,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_row20_an_interrupted_tune_says_so_in_one_line_and_leaves_no_trial_running(
        tmp_path, how, code):
    done, out = interrupted_tune(tmp_path, how)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    rest = [line for line in done.stderr.splitlines() if not line.startswith("trial ")]
    assert len(rest) == 1 and "run the same command again to add more" in rest[0], rest
    study = optuna.load_study(study_name=[s.study_name for s in optuna.get_all_study_summaries(
        f"sqlite:///{out / 'study.db'}")][0], storage=f"sqlite:///{out / 'study.db'}")
    states = {t.state for t in study.trials}
    assert optuna.trial.TrialState.RUNNING not in states and states
