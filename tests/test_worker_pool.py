"""The worker pool behind compare, sweep and demo: workers die with their parent, SIGTERM
stops gracefully, changed data is trained again, a resumed table equals an uninterrupted
one, duplicate runs are refused, and an unguarded script can call compare."""

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnlab.errors import ConfigError
from rnnlab.experiment import compare, sweep
from rnnlab.tasks import seed_groups

TINY = dict(epochs=2, hidden_size=8, num_layers=1, patience=1)
SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
CLI = [sys.executable, "-m", "rnnlab.cli"]
TIMING = ("train_seconds", "wall_seconds")


def _children(pid: int) -> dict[int, str]:
    """{pid: start time} of the live processes whose parent is `pid`, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and int(stat[1]) == pid:
                found[int(entry.name)] = stat[19]
    return found


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first); None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _alive(pid: int, started: str) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and stat[19] == started


def _start_compare(out: Path, *extra: str) -> tuple[subprocess.Popen, dict[int, str]]:
    """Start a compare with two workers and wait until both worker processes run."""
    cmd = [*CLI, "compare", "--data", "sine", "--seeds", "2", "--epochs", "3",
           "--jobs", "2", "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    deadline, workers = time.time() + 120, {}
    while time.time() < deadline and proc.poll() is None:
        workers = {pid: started for pid, started in _children(proc.pid).items()
                   if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()}
        if len(workers) >= 2:
            break
        time.sleep(0.05)
    assert len(workers) >= 2, "the two workers should have started"
    return proc, _children(proc.pid)


def _assert_all_gone(processes: dict[int, str], seconds: float = 10) -> None:
    """Within `seconds`, none of `processes` is alive; survivors are killed, then fail."""
    deadline = time.time() + seconds
    left = list(processes)
    while left and time.time() < deadline:
        time.sleep(0.1)
        left = [pid for pid, started in processes.items() if _alive(pid, started)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the stopped compare still alive: {left}"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("moment", ["starting", "after the first run"])
def test_workers_die_with_a_compare_killed_by_sigkill(tmp_path, moment):
    out = tmp_path / "k"
    proc, children = _start_compare(out, "--models", "rnn,gru,lstm")
    if moment == "starting":
        time.sleep(1.0)  # the workers are importing torch
    else:  # one worker trains on or waits for work; an orphan would wait forever
        deadline = time.time() + 120
        while time.time() < deadline and not list((out / "runs").glob("*.json")):
            time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=10)
    _assert_all_gone(children)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigterm_stops_compare_gracefully(tmp_path):
    out = tmp_path / "t"
    # Three tasks on two workers: one is still queued when the signal lands.
    proc, children = _start_compare(out, "--models", "rnn,gru,lstm")
    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"stopped after \d of \d runs; the finished ones are saved in "
                        rf"{re.escape(str(out / 'runs'))}: run the same command again to "
                        "continue", last), stderr
    _assert_all_gone(children)
    assert not (out / "results.csv").exists()


def test_changed_data_is_trained_again(tmp_path, caplog):
    csv = tmp_path / "prices.csv"
    dates = pd.date_range("2020-01-01", periods=300, freq="D")
    close = 100 + np.cumsum(np.random.default_rng(0).normal(size=300))
    pd.DataFrame({"date": dates, "close": close}).to_csv(csv, index=False)
    out = str(tmp_path / "c")
    first = compare(str(csv), models="rnn", seeds=1, out=out, jobs=1, **TINY)
    frame = pd.read_csv(csv)
    frame["close"] *= 10
    frame.to_csv(csv, index=False)
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        second = compare(str(csv), models="rnn", seeds=1, out=out, jobs=1, **TINY)
    assert "already finished" not in caplog.text
    assert "1 finished run(s)" in caplog.text and "other data than there is now" in caplog.text
    assert second["naive_rmse"][0] == pytest.approx(10 * first["naive_rmse"][0])
    assert second["rmse"][0] != first["rmse"][0]
    assert second["data_sha256"][0] != first["data_sha256"][0]
    with caplog.at_level(logging.INFO, logger="rnnlab"):  # unchanged data: reused
        compare(str(csv), models="rnn", seeds=1, out=out, jobs=1, **TINY)
    assert "1 of 1 runs already finished" in caplog.text


def test_sweep_trains_again_after_the_data_changed(tmp_path):
    csv = tmp_path / "p.csv"
    dates = pd.date_range("2020-01-01", periods=300, freq="D")
    values = np.sin(np.arange(300) / 5.0) + 2
    pd.DataFrame({"date": dates, "value": values}).to_csv(csv, index=False)
    out = str(tmp_path / "s")
    first = sweep(str(csv), "rnn", {"seq_len": [5]}, out=out, jobs=1, **TINY)
    pd.DataFrame({"date": dates, "value": values * 3}).to_csv(csv, index=False)
    second = sweep(str(csv), "rnn", {"seq_len": [5]}, out=out, jobs=1, **TINY)
    assert second["naive_rmse"][0] == pytest.approx(3 * first["naive_rmse"][0])


def test_seed_groups_depend_on_the_seeds_only():
    assert seed_groups((0,)) == [(0,)]
    assert seed_groups((0, 1, 2, 3)) == [(0, 1, 2, 3)]
    assert seed_groups((0, 1, 2, 3, 4)) == [(0, 1, 2), (3, 4)]
    assert seed_groups(tuple(range(10))) == [(0, 1, 2, 3), (4, 5, 6), (7, 8, 9)]


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv").drop(columns=list(TIMING))


@pytest.mark.parametrize("jobs", ["2", "1"])
def test_a_resumed_compare_gives_the_uninterrupted_table(tmp_path, jobs):
    args = ["compare", "--data", "sine", "--models", "rnn,gru", "--seeds", "3", "--epochs",
            "3", "--hidden-size", "8", "--num-layers", "1", "--jobs", jobs]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    for out in (whole, resumed):
        done = subprocess.run([*CLI, *args, "--out", str(out)], capture_output=True,
                              text=True, timeout=300, env=ENV)
        assert done.returncode == 0, done.stderr
    # As if killed between writing records: gru's seed 2 and everything after are missing.
    for path in (resumed / "runs").glob("*.json"):
        if "__gru__seed2" in path.name:
            path.unlink()
    (resumed / "results.csv").unlink()
    done = subprocess.run([*CLI, *args, "--out", str(resumed)], capture_output=True,
                          text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "5 of 6 runs already finished" in done.stderr
    # Equal to float rounding: a record made in a worker (one thread) and one made here
    # can differ in their 10th digit (an RMSE of 0.09482038084786874 against
    # ...85682931, and a p-value of 5.5e-08 in its 8th), as both did in a fresh environment
    # on 2026-12-07; a resume that trained anything again differs by far more.
    pd.testing.assert_frame_equal(_table(resumed), _table(whole), check_exact=False,
                                  rtol=1e-6, atol=0.0)


def test_the_number_of_workers_does_not_change_the_table(tmp_path):
    tables = []
    for jobs in (1, 2):
        compare("sine", models="gru", seeds=3, out=str(tmp_path / str(jobs)), jobs=jobs,
                **TINY)
        tables.append(_table(tmp_path / str(jobs)))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)


def test_duplicate_runs_are_refused(tmp_path):
    cases = [
        (lambda: compare("sine", models="gru,gru", out=str(tmp_path / "a")),
         r"model .gru. is listed twice \(gru, gru\); list each once"),
        (lambda: compare("sine,sine", models="gru", out=str(tmp_path / "b")),
         "dataset 'sine' is listed twice"),
        (lambda: sweep("sine", "rnn", {"seq_len": "10,10"}, out=str(tmp_path / "c")),
         "seq_len value 10 is listed twice"),
        (lambda: sweep("sine", "rnn", {"seed": "1,2"}, out=str(tmp_path / "d")),
         r"seed cannot be swept: .* pass --seeds N --seed FIRST"),
        (lambda: sweep("sine", "rnn", {"device": "cpu,auto"}, out=str(tmp_path / "e")),
         "are the same runs .* they differ only in settings that do not change a run"),
    ]
    for call, message in cases:
        with pytest.raises(ConfigError, match=message):
            call()
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_cli_refuses_a_swept_seed_in_one_line(tmp_path):
    done = subprocess.run([*CLI, "sweep", "--data", "sine", "--model", "rnn", "--param",
                           "seed=1,2", "--out", str(tmp_path / "s")], capture_output=True,
                          text=True, timeout=120, env=ENV)
    assert done.returncode == 2
    assert done.stderr.startswith("error: seed cannot be swept")
    assert len(done.stderr.strip().splitlines()) == 1


def _readme_python_block() -> str:
    # The full example moved from the README to the user guide (issue 25, item 4).
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "python.md").read_text()
    block = re.search(r"```python\n(.*?)```", guide, re.S).group(1)
    # The same calls, with tiny training so the test is quick.
    block = block.replace('seq_len=30)', 'seq_len=30, epochs=2)')
    block = block.replace('seeds=3)', 'seeds=3, epochs=2, jobs=2)')
    assert "epochs=2, jobs=2)" in block and "seq_len=30, epochs=2)" in block
    return block


def test_the_readme_example_runs_as_a_script_without_a_main_guard(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(_readme_python_block() + textwrap.dedent("""
        assert (table["status"] == "ok").all(), table[["dataset", "model", "error"]]
        print("rows", len(table))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "rows 12" in done.stdout


def test_pool_map_returns_many_tensors_without_a_descriptor_each():
    # Results that hold torch tensors used to travel by torch's reducers, one open file
    # descriptor per tensor: 100,000 series with a net each ran the main process out of
    # them. 300 results under a limit of 200 descriptors must come back whole.
    script = textwrap.dedent("""
        import resource, torch
        from rnnlab.tasks import pool_map
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, resource.getrlimit(
            resource.RLIMIT_NOFILE)[1]))
        if __name__ == "__main__":
            out = list(pool_map(torch.ones, list(range(1, 301)), jobs=2))
            print(len(out), int(sum(t.sum() for t in out)))
    """)
    done = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["300", str(sum(range(1, 301)))]
