"""Faults found by benchmarks/fault_fuzz.py, and issue 13's acceptance for a killed compare:
each ends in one `error:` line and exit 2, or in correct behaviour, within seconds."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rnnlab.errors import RnnlabError
from rnnlab.runs import check_forecast_work

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
ENV.pop("RNNLAB_DEBUG", None)
CLI = [sys.executable, "-c", "from rnnlab.cli import main; main()"]
TINY = ["--epochs", "1", "--hidden-size", "4", "--num-layers", "1", "--patience", "1"]
TIMING = ("train_seconds", "wall_seconds")


def rnnlab(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "-q", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=cwd)


def assert_refused(done: subprocess.CompletedProcess, *parts: str) -> str:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("h7") / "run"
    # The window is pinned: the horizon refusal below is worked out for seq_len 30.
    done = rnnlab("train", "--data", "sine", *TINY, "--seq-len", "30", "--out", out)
    assert done.returncode == 0, done.stderr
    return out


def _copy(run: Path, target: Path) -> Path:
    subprocess.run(["cp", "-a", str(run), str(target)], check=True)
    return target


# --- --out names the file system cannot take ------------------------------------------------


@pytest.mark.parametrize("command", [
    ["train", "--data", "sine", *TINY],
    ["compare", "--data", "sine", "--models", "rnn", "--seeds", "1", "--jobs", "1", *TINY],
    ["inspect", "--data", "sine"],
])
def test_an_out_name_too_long_is_refused_in_one_line(tmp_path, command):
    done = rnnlab(*command, "--out", "x" * 300, cwd=tmp_path)
    line = assert_refused(done, "File name too long", "choose another --out")
    assert len(line) < 200  # the 300-character name is shortened
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["train", "--out", "o", *TINY], ["inspect"]])
def test_a_data_name_too_long_is_refused_in_one_line(tmp_path, command):
    done = rnnlab(command[0], "--data", "x" * 5000, *command[1:], cwd=tmp_path)
    line = assert_refused(done, "cannot use data source 'xxxx", "(File name too long)",
                          "or give the path of a CSV file")
    assert len(line) < 300
    assert list(tmp_path.iterdir()) == []


A_CSV = Path(SRC) / "rnnlab" / "datasets" / "A_data.csv"


@pytest.mark.parametrize("args, start", [
    (["compare", "--data", "sine", "--models", "x" * 2000, "--out", "o"], "unknown model"),
    (["train", "--data", "sine", "--device", "x" * 2000, "--out", "o"], "unknown device"),
    (["inspect", "--data", "stock:" + "x" * 2000], "no bundled ticker"),
    (["inspect", "--data", A_CSV, "--target", "x" * 2000], "column"),
    (["inspect", "--data", A_CSV, "--date-column", "x" * 2000], "date column"),
    (["inspect", "--data", A_CSV, "--ticker", "x" * 2000], "ticker"),
    (["inspect", "--data", "x" * 200], "unknown data source"),
])
def test_a_long_value_is_quoted_short_in_its_error(tmp_path, args, start):
    line = assert_refused(rnnlab(*args, cwd=tmp_path), f"error: {start} '{'x' * 40}...'")
    assert len(line) < 300


def test_explain_into_an_out_name_too_long_is_refused(tmp_path, finished_run):
    done = rnnlab("explain", "--run", finished_run, "--out", "x" * 300, cwd=tmp_path)
    assert_refused(done, "File name too long")


@pytest.mark.parametrize("extra, message", [
    (["--data-seed", str(-2**63)], f"data_seed must be 0 or more, got {-2**63}"),
    (["--data-seed", str(2**32)], "data_seed must be at most 4294967295"),
    (["--max-fill", "-1"], "max_fill must be 0 or more, got -1"),
])
def test_inspect_checks_the_data_options_as_train_does(extra, message):
    assert_refused(rnnlab("inspect", "--data", "sine", *extra, timeout=60), message)


# --- seeds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["compare", "sweep"])
@pytest.mark.parametrize("extra, message", [
    (["--seeds", str(2**63)], f"seeds must be at most 1000 (each seed is a training run), "
                              f"got {2**63}"),
    (["--seeds", "1001"], "seeds must be at most 1000"),
    (["--seed", str(2**32 - 1), "--seeds", "2"],
     "seeds 2 from seed 4294967295 end at seed 4294967296, above the largest seed"),
])
def test_too_many_seeds_are_refused_at_once(tmp_path, command, extra, message):
    args = ["--models", "rnn"] if command == "compare" else ["--model", "rnn", "--param",
                                                             "seq_len=5"]
    done = rnnlab(command, "--data", "sine", *args, *extra, *TINY, "--out", tmp_path / "o",
                  timeout=60)
    assert_refused(done, message)
    assert list(tmp_path.iterdir()) == []


# --- explain's predictions.csv --------------------------------------------------------------


def test_explain_refuses_a_fifo_as_predictions_at_once(tmp_path, finished_run):
    run = _copy(finished_run, tmp_path / "run")
    (run / "predictions.csv").unlink()
    os.mkfifo(run / "predictions.csv")
    done = rnnlab("explain", "--run", run, timeout=60)  # a hang fails here, not in CI
    assert_refused(done, "predictions.csv", "a FIFO (named pipe), not a regular file")


@pytest.mark.parametrize("content, message", [
    (b"\x00\xff\xfe garbage \x81" * 50, "it is not a CSV table"),
    (b"", "it is not a CSV table"),
    (b"date,actual,model\n1,2,3\n", "it lacks the column(s) naive"),
    (b"date,actual,model,naive\n" + b"1,x,3,4\n" * 200, "column(s) actual hold values"),
])
def test_explain_refuses_damaged_predictions(tmp_path, finished_run, content, message):
    run = _copy(finished_run, tmp_path / "run")
    (run / "predictions.csv").write_bytes(content)
    done = rnnlab("explain", "--run", run)
    assert_refused(done, f"cannot read '{run / 'predictions.csv'}'", message,
                   "train the run again")


# --- a forecast that would take minutes -------------------------------------------------------


class _Net:
    seq_len, num_layers = 30, 2


def test_the_forecast_horizon_is_bounded_by_the_work_it_needs():
    check_forecast_work(_Net(), 10_000)  # 600,000 recurrent steps: answered in seconds
    with pytest.raises(RnnlabError, match=r"--horizon 10001 needs 600,060 recurrent steps "
                       r"\(horizon x seq_len 30 x 2 layer\(s\)\).*ask for --horizon 10000 "
                       "or fewer"):
        check_forecast_work(_Net(), 10_001)


def test_forecast_refuses_the_largest_horizon_at_once(finished_run):
    began = time.monotonic()
    done = rnnlab("forecast", "--run", finished_run, "--horizon", "100000", timeout=60)
    assert_refused(done, "--horizon 100000 needs 3,000,000 recurrent steps",
                   "ask for --horizon 20000 or fewer")
    assert time.monotonic() - began < 30


# --- a train killed before it wrote its config ------------------------------------------------


def test_a_run_killed_before_its_config_can_be_started_again(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    # What a kill while torch was importing left: rnnlab's marker and nothing else.
    (out / ".rnnlab-run").write_text('{"format": "rnnlab-run", "kind": "train", "run_id": '
                                     '"x", "files": ["config.json"]}')
    done = rnnlab("train", "--out", out, "--resume")
    assert_refused(done, "stopped before it wrote its config.json",
                   "run the same train command again without --resume")
    done = rnnlab("train", "--data", "sine", *TINY, "--out", out)
    assert done.returncode == 0, done.stderr
    assert (out / "model.pt").is_file()


def test_a_folder_with_only_another_kind_of_marker_is_still_refused(tmp_path):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / ".rnnlab-run").write_text('{"format": "rnnlab-run", "kind": "compare", '
                                     '"run_id": "x", "files": []}')
    assert_refused(rnnlab("train", "--data", "sine", *TINY, "--out", out), "already holds")


# --- issue 13's acceptance: compare killed at 5 random moments ------------------------------


def _group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, read from /proc."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                alive.append(int(entry.name))
    return alive


def _compare(out: Path, jobs: str) -> subprocess.Popen:
    args = ["compare", "--data", "sine", "--models", "rnn,gru", "--seeds", "2", "--epochs",
            "3", "--hidden-size", "8", "--num-layers", "1", "--seq-len", "30", "--jobs", jobs,
            "--out", str(out)]
    proc = subprocess.Popen([*CLI, "-q", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)  # its own process group: pgid == pid
    proc.began = time.monotonic()
    return proc


def _finish(proc: subprocess.Popen) -> tuple[float, str]:
    """Wait for a compare to succeed; returns its lifetime (from its start) and stderr."""
    began = proc.began
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    return time.monotonic() - began, stderr


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv").drop(columns=list(TIMING))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("jobs", ["2", "1"])
def test_compare_killed_five_times_ends_with_the_uninterrupted_table(tmp_path, jobs):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    full, _ = _finish(_compare(whole, jobs))
    idle, _ = _finish(_compare(whole, jobs))  # the lifetime with nothing left to train
    runs = killed / "runs"
    rng = random.Random(13)
    moments, tries = [], 0
    while len(moments) < 5:
        tries += 1
        assert tries <= 12, f"only {len(moments)} kills landed: {moments}"
        done = len(list(runs.glob("*.json"))) if runs.is_dir() else 0
        # Right after the next run's record is written, or a moment within the time this
        # compare has left (starting, training or writing the report).
        after_record = rng.random() < 0.5
        delay = rng.uniform(0.1, 0.9) * (idle + (1 - done / 4) * max(0.0, full - idle))
        proc = _compare(killed, jobs)
        while proc.poll() is None:
            if after_record:
                if runs.is_dir() and len(list(runs.glob("*.json"))) > done:
                    break
            elif time.monotonic() - proc.began >= delay:
                break
            time.sleep(0.005)
        if proc.poll() is not None:  # it finished before the moment: nothing was killed
            _finish(proc)
            continue
        proc.kill()  # SIGKILL to the compare itself, as `kill -9 PID` does
        moments.append((round(time.monotonic() - proc.began, 2), done))
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = _group_alive(proc.pid)
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
        assert not survivors, f"workers of the killed compare still alive: {survivors}"
    _finish(_compare(killed, jobs))
    assert not list(killed.rglob("*.tmp")), "half-written files were left behind"
    # Equal to float rounding (see test_worker_pool's resumed compare): which records are
    # made in a worker and which here depends on the kills.
    pd.testing.assert_frame_equal(_table(killed), _table(whole), check_exact=False,
                                  rtol=1e-6, atol=0.0)
    print(f"--jobs {jobs}: killed at (seconds, runs already saved) {moments}; an "
          f"uninterrupted compare took {full:.1f} s, one with nothing to train {idle:.1f} s")
