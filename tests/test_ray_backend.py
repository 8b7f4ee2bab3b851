"""`--backend ray`: a sweep on a local Ray instance gives the local backend's table, failed
runs included, and either backend resumes from the other's runs. Without Ray, an address
without Ray, an unreachable address and an unknown backend each get one line and exit 2
before any folder is written."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rnnlab.errors import ConfigError
from rnnlab.experiment import sweep

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
CLI = [sys.executable, "-m", "rnnlab.cli"]
TIMING = ("train_seconds", "wall_seconds", "train_seconds_mean")
# Two hidden sizes, one seed; seq_len 900 is too long for the 1000-point sine, so half the
# runs fail, and their records must match too.
SWEEP = ["sweep", "--data", "sine", "--model", "lstm", "--param", "hidden_size=8,16",
         "--param", "seq_len=10,900", "--seeds", "1", "--epochs", "2", "--no-progress"]


def _cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _table(folder: Path, name: str) -> pd.DataFrame:
    frame = pd.read_csv(folder / name)
    return frame.drop(columns=[c for c in TIMING if c in frame])


@pytest.mark.slow
def test_a_sweep_on_ray_gives_the_local_table_and_resumes_from_it(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'rnnlab[ray]'")
    local = _cli(*SWEEP, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    on_ray = _cli(*SWEEP, "--backend", "ray", "--jobs", "2", "--out", str(tmp_path / "ray"),
                  timeout=240)
    assert on_ray.returncode == 0, on_ray.stderr
    # Quiet: nothing from Ray itself, only rnnlab's own line about the failed runs.
    assert on_ray.stderr.strip() == "2 run(s) failed: see the table's error column"
    for name in ("results.csv", "summary.csv"):
        pd.testing.assert_frame_equal(_table(tmp_path / "local", name),
                                      _table(tmp_path / "ray", name), check_exact=True)
    results = _table(tmp_path / "ray", "results.csv").set_index(["hidden_size", "seq_len"])
    assert (results.xs(10, level="seq_len")["status"] == "ok").all()
    assert results.xs(900, level="seq_len")["error"].str.contains(
        "too short for seq_len 900").all()
    readings = [[line for line in proc.stdout.splitlines() if line.startswith("- ")]
                for proc in (local, on_ray)]
    assert readings[0] == readings[1] and readings[0]
    # Runs the local backend finished are skipped on Ray; the failed ones run again, as on
    # the local backend, and fail the same way.
    runs = [p for p in sorted((tmp_path / "local" / "runs").glob("*.json"))
            if '"status": "ok"' in p.read_text()]
    before = [p.stat().st_mtime_ns for p in runs]
    again = _cli(*SWEEP, "--backend", "ray", "--out", str(tmp_path / "local"), timeout=240)
    assert again.returncode == 0, again.stderr
    assert "2 of 4 runs already finished" in again.stderr
    assert len(runs) == 2 and [p.stat().st_mtime_ns for p in runs] == before
    pd.testing.assert_frame_equal(_table(tmp_path / "local", "results.csv"),
                                  _table(tmp_path / "ray", "results.csv"), check_exact=True)


def test_without_ray_the_ray_backend_says_how_to_install_it(tmp_path):
    out = tmp_path / "x"
    code = ("import sys; sys.modules['ray'] = None; from rnnlab.cli import main; "
            f"sys.argv = ['rnnlab', *{SWEEP[:5] + ['--param', 'hidden_size=8']!r}, "
            f"'--epochs', '2', '--backend', 'ray', '--out', {str(out)!r}]; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "error: --backend ray needs Ray: pip install 'rnnlab[ray]'\n"
    assert not out.exists()


@pytest.mark.parametrize("command", ["sweep", "compare"])
def test_an_unknown_backend_gets_the_choices_in_one_line(tmp_path, command):
    args = (SWEEP if command == "sweep" else ["compare", "--data", "sine"])[1:]
    proc = _cli(command, *args, "--backend", "bogus", "--out", str(tmp_path / "x"),
                timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "'bogus' is not one of 'local', 'ray'" in lines[0]
    assert not (tmp_path / "x").exists()


def test_an_address_needs_the_ray_backend(tmp_path):
    with pytest.raises(ConfigError, match=r"^--address auto is the address of a Ray cluster; "
                       "add --backend ray, or drop --address"):
        sweep("sine", "lstm", {"hidden_size": [8]}, out=str(tmp_path / "x"), epochs=2,
              address="auto")
    assert not (tmp_path / "x").exists()


def test_an_address_where_nothing_listens_fails_in_seconds(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'rnnlab[ray]'")
    # Port 1 on this machine's loopback: refused at once (Ray itself retries for minutes).
    with pytest.raises(ConfigError, match=r"^nothing answers at --address 127.0.0.1:1 "):
        sweep("sine", "lstm", {"hidden_size": [8]}, out=str(tmp_path / "x"), epochs=2,
              backend="ray", address="127.0.0.1:1")
    with pytest.raises(ConfigError, match=r"^--address 'head-node' is not auto or HOST:PORT"):
        sweep("sine", "lstm", {"hidden_size": [8]}, out=str(tmp_path / "x"), epochs=2,
              backend="ray", address="head-node")
    assert not (tmp_path / "x").exists()
