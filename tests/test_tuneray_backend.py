"""`rnnlab tune --backend ray`: the trials as Ray tasks on one shared study write the local
backend's files, their counts add up, and the median pruner still prunes inside the tasks.
Without Ray, with a cluster and the SQLite default, or with --jobs on the local backend, one
line and exit 2 before any folder is written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

optuna = pytest.importorskip("optuna")

from rnnlab.cli import cli  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
CLI = [sys.executable, "-m", "rnnlab.cli"]
TINY = ["tune", "--data", "sine", "--epochs", "2", "--seed", "0"]
NEEDS_RAY = "Ray is not installed: pip install 'rnnlab[ray]'"


def _cli(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _keys(value, prefix=""):
    """Every key path of nested dicts, e.g. 'best.params'."""
    if not isinstance(value, dict) or prefix.endswith(("params", "importance")):
        return set()
    found = set()
    for key, inner in value.items():
        found |= {prefix + key} | _keys(inner, prefix + key + ".")
    return found


@pytest.mark.slow
def test_tune_on_ray_writes_the_local_files_and_its_trials_add_up(tmp_path):
    pytest.importorskip("ray", reason=NEEDS_RAY)
    local = _cli(*TINY, "--trials", "4", "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    on_ray = _cli(*TINY, "--trials", "4", "--backend", "ray", "--jobs", "2",
                  "--out", str(tmp_path / "ray"), timeout=240)
    assert on_ray.returncode == 0, on_ray.stderr
    # One line per trial, each trial once, and nothing from Ray itself.
    lines = on_ray.stderr.splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [f"trial {i}" for i in range(4)]
    names = [{p.name for p in (tmp_path / side).iterdir() if not p.name.startswith(".")}
             for side in ("local", "ray")]
    assert names[0] == names[1] == {"best.json", "metrics.json", "trials.csv", "history.png",
                                    "study.db"}
    for name in ("best.json", "metrics.json"):
        found = [json.loads((tmp_path / side / name).read_text()) for side in ("local", "ray")]
        assert _keys(found[0]) == _keys(found[1]), name
    metrics = json.loads((tmp_path / "ray" / "metrics.json").read_text())
    assert (metrics["n_trials"], metrics["n_complete"]) == (4, 4)
    frames = [pd.read_csv(tmp_path / side / "trials.csv") for side in ("local", "ray")]
    assert list(frames[0].columns) == list(frames[1].columns)
    assert sorted(frames[1]["number"]) == [0, 1, 2, 3]
    study = optuna.load_study(study_name="lstm on sine",
                              storage=f"sqlite:///{tmp_path / 'ray' / 'study.db'}")
    assert len(study.trials) == 4


@pytest.mark.slow
def test_the_median_pruner_prunes_inside_ray_tasks(tmp_path):
    pytest.importorskip("ray", reason=NEEDS_RAY)
    # Five finished trials that scored 0 at every epoch: the pruner's start-up is over, and
    # any real trial is worse than their median at epoch 5, the first it may be judged at.
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="lstm on sine")
    for _ in range(5):
        study.add_trial(optuna.trial.create_trial(
            value=0.0, intermediate_values={step: 0.0 for step in range(1, 11)}))
    proc = _cli("tune", "--data", "sine", "--epochs", "8", "--seed", "0", "--trials", "2",
                "--backend", "ray", "--jobs", "2", "--storage", url,
                "--out", str(tmp_path / "t"), timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("pruned at epoch 5") == 2, proc.stderr
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert (metrics["n_trials"], metrics["n_pruned"]) == (7, 2)
    pruned = pd.read_csv(tmp_path / "t" / "trials.csv").query("state == 'PRUNED'")
    assert list(pruned["epochs_run"]) == [5, 5]


def test_without_ray_tune_on_ray_says_how_to_install_it(tmp_path):
    out = tmp_path / "x"
    code = ("import sys; sys.modules['ray'] = None; from rnnlab.cli import main; "
            f"sys.argv = ['rnnlab', *{TINY!r}, '--backend', 'ray', '--out', {str(out)!r}]; "
            "main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "error: --backend ray needs Ray: pip install 'rnnlab[ray]'\n"
    assert not out.exists()


def _one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_cluster_needs_a_storage_every_node_reaches(tmp_path):
    out = tmp_path / "x"
    line = _one_line_error([*TINY, "--backend", "ray", "--address", "10.0.0.5:6379",
                            "--out", str(out)])
    assert line.startswith("error: --address 10.0.0.5:6379 runs the trials on the cluster's "
                           "nodes, which cannot share the SQLite study sqlite:///"), line
    assert line.endswith("pass --storage with a database URL every node reaches, e.g. "
                         "postgresql://user@host/db"), line
    assert not out.exists()


def test_jobs_on_the_local_backend_and_an_address_without_ray_are_refused(tmp_path):
    out = tmp_path / "x"
    line = _one_line_error([*TINY, "--jobs", "2", "--out", str(out)])
    assert line == ("error: --jobs 2 runs that many Ray workers, so it needs --backend ray; "
                    "on the local backend start several `rnnlab tune` with one --storage "
                    "instead, or drop --jobs")
    line = _one_line_error([*TINY, "--address", "auto", "--out", str(out)])
    assert line.startswith("error: --address auto is the address of a Ray cluster; add "
                           "--backend ray"), line
    assert not out.exists()


def test_an_address_where_nothing_listens_is_refused_as_for_sweep(tmp_path):
    pytest.importorskip("ray", reason=NEEDS_RAY)
    out = tmp_path / "x"
    line = _one_line_error([*TINY, "--backend", "ray", "--address", "127.0.0.1:1",
                            "--storage", "postgresql://user@db.invalid/study",
                            "--out", str(out)])
    assert line.startswith("error: nothing answers at --address 127.0.0.1:1 "), line
    assert not out.exists()
