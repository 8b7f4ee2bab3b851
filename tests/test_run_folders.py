"""Run folders: rnnlab deletes and overwrites only what it can prove it wrote, one writer at
a time, refuses bad values and broken paths before it makes a folder, and writes files
under the user's umask."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import one_line_error
from rnnlab.checkpoint import atomic_write, write_text
from rnnlab.cli import cli
from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnlab.errors import RnnlabError
from rnnlab.folders import LOCK, MARKER, claim, locked, read_marker
from rnnlab.runs import run_train

QUICK = ["--epochs", "1", "--hidden-size", "4", "--num-layers", "1", "--no-progress"]
TINY = dict(epochs=1, hidden_size=4, num_layers=1, patience=1)
ENV = {**os.environ, "OMP_NUM_THREADS": "1",
       "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}


def small_config(source: str = "sine") -> RunConfig:
    return RunConfig(DataConfig(source), ModelConfig(hidden_size=4, num_layers=1,
                                                     scaler="standard"),
                     TrainConfig(epochs=1, batch_size=64))


def train(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != LOCK}  # a killed holder leaves its lock file


def write_prices(path: Path) -> None:
    rows = [f"2021-{1 + i // 28:02d}-{1 + i % 28:02d},{100 + 10 * math.sin(i / 5):.3f}"
            for i in range(300)]
    path.write_text("date,close\n" + "\n".join(rows) + "\n")


# --- 1. --overwrite deletes only rnnlab's files, in rnnlab's own run folders --------------


def test_issue_reproduction_overwrite_in_a_users_folder_deletes_nothing(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "config.json").write_text("{}\n")
    (project / "thesis.tex").write_text("x\n")
    write_prices(project / "prices.csv")
    before = snapshot(project)
    done = subprocess.run([sys.executable, "-m", "rnnlab.cli", "train", "--data", "prices.csv",
                           "--out", ".", "--overwrite", *QUICK], cwd=project, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "not an rnnlab run directory" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(project) == before


def test_a_run_has_a_marker_and_overwrite_keeps_other_files(tmp_path):
    out = tmp_path / "run"
    run_train(small_config(), out, plots=False, progress=False)
    marker = read_marker(out)
    assert marker["kind"] == "train" and len(marker["run_id"]) == 32
    assert {"config.json", "metrics.json", "model.pt", "model.npz"} <= set(marker["files"])
    assert not (out / LOCK).exists()  # the lock goes with the process that held it
    (out / "notes.txt").write_text("mine")
    (out / "plots").mkdir()
    (out / ".model.pt.abc123.tmp").write_bytes(b"")  # as a killed save leaves it
    result = train("--data", "sine", *QUICK, "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "mine" and (out / "plots").is_dir()
    assert not (out / ".model.pt.abc123.tmp").exists()
    assert read_marker(out)["run_id"] != marker["run_id"]
    assert json.loads((out / "metrics.json").read_text())["status"] == "complete"


def test_overwrite_refuses_a_config_json_without_marker(tmp_path):
    out = tmp_path / "myproject"
    out.mkdir()
    (out / "config.json").write_text('{"data": {"source": "sine"}}')
    (out / "essay.md").write_text("mine")
    before = snapshot(out)
    one_line_error(train("--data", "sine", *QUICK, "--out", str(out), "--overwrite"),
                   "not an rnnlab run directory", MARKER)
    assert snapshot(out) == before
    # A marker of another kind (compare results) is not a train run either.
    (out / MARKER).write_text(json.dumps({"format": "rnnlab-run", "kind": "compare"}))
    one_line_error(train("--data", "sine", *QUICK, "--out", str(out), "--overwrite"),
                   "a compare .rnnlab-run marker")
    one_line_error(train("--out", str(out), "--resume"), "cannot resume", MARKER)


def test_overwrite_never_clears_the_current_folder_or_the_datas_folder(tmp_path,
                                                                      monkeypatch):
    out = tmp_path / "run"
    run_train(small_config(), out, plots=False, progress=False)
    before = snapshot(out)
    monkeypatch.chdir(out)
    one_line_error(train("--data", "sine", *QUICK, "--out", ".", "--overwrite"),
                   "current folder")
    monkeypatch.chdir(tmp_path)
    write_prices(out / "prices.csv")
    before["prices.csv"] = (out / "prices.csv").read_bytes()
    one_line_error(train("--data", str(out / "prices.csv"), *QUICK, "--out", str(out),
                         "--overwrite"), "holds the input data")
    assert snapshot(out) == before


# --- 2. compare and demo refuse folders that are not theirs --------------------------------


def test_compare_refuses_a_users_config_json_and_a_train_run(tmp_path):
    from rnnlab.experiment import compare

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"title": "my settings"}')
    before = snapshot(mine)
    with pytest.raises(RnnlabError, match="is not an rnnlab results folder.*config.json"):
        compare("sine", models="rnn", seeds=1, out=str(mine), jobs=1, **TINY)
    assert snapshot(mine) == before and not (mine / LOCK).exists()
    run = tmp_path / "run"
    run_train(small_config(), run, plots=False, progress=False)
    with pytest.raises(RnnlabError, match="holds an rnnlab train run, not compare results"):
        compare("sine", models="rnn", seeds=1, out=str(run), jobs=1, **TINY)


def test_demo_refuses_a_folder_of_user_files(tmp_path):
    from rnnlab.demo import run_demo

    out = tmp_path / "site"
    out.mkdir()
    for name in ("config.json", "results.csv", "report.html"):
        (out / name).write_text(f"the user's {name}")
    before = snapshot(out)
    with pytest.raises(RnnlabError, match="is not an rnnlab demo folder"):
        run_demo(out, quick=True, jobs=1, progress=False)
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == sorted(before)


def test_claim_takes_new_and_empty_folders_and_resumes_its_own(tmp_path):
    out = tmp_path / "lab"
    out.mkdir()
    claim(out, "demo", "demo folder")
    first = read_marker(out)["run_id"]
    (out / "report.html").write_text("written by the demo")
    claim(out, "demo", "demo folder")  # a re-run resumes: same marker
    assert read_marker(out)["run_id"] == first
    with pytest.raises(RnnlabError, match="holds an rnnlab demo run, not sweep results"):
        claim(out, "sweep", "results folder")
    (out / MARKER).write_text("[]")  # not a marker of rnnlab's: the folder is not ours
    with pytest.raises(RnnlabError, match="report.html"):
        claim(out, "demo", "demo folder")


def test_compare_resumes_its_own_folder_and_cleans_half_written_files(tmp_path):
    from rnnlab.experiment import compare

    out = tmp_path / "cmp"
    compare("sine", models="rnn", seeds=1, out=str(out), jobs=1, **TINY)
    assert read_marker(out)["kind"] == "compare"
    stale = [out / ".results.csv.k1ll3d.tmp", out / "runs" / ".sine__rnn.json.k1ll3d.tmp"]
    for path in stale:
        path.write_bytes(b"")  # the 0-byte files a killed compare left
    compare("sine", models="rnn", seeds=1, out=str(out), jobs=1, **TINY)
    assert not any(path.exists() for path in stale)
    assert not list(out.rglob("*.tmp")) and not (out / LOCK).exists()


# --- 3. one writer per folder ----------------------------------------------------------


HOLD = """
import sys, time
from pathlib import Path
from rnnlab.folders import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@contextlib.contextmanager
def held_by_another_process(out: Path):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], env=ENV,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield process.pid
    finally:
        process.kill()
        process.wait(timeout=30)


def test_a_second_writer_is_refused_with_the_first_ones_pid(tmp_path):
    from rnnlab.demo import run_demo
    from rnnlab.experiment import compare

    run, lab, demo = tmp_path / "run", tmp_path / "lab", tmp_path / "demo"
    run_train(small_config(), run, plots=False, progress=False)
    before = snapshot(run)
    with held_by_another_process(run) as pid:
        message = one_line_error(train("--data", "sine", *QUICK, "--out", str(run),
                                       "--overwrite"))
        assert message == (f"error: '{run}' is in use by another rnnlab process (pid {pid}); "
                           "wait for it or choose another --out")
        one_line_error(train("--out", str(run), "--resume"), "is in use", f"pid {pid}")
    assert snapshot(run) == before
    for folder, call in ((lab, lambda: compare("sine", models="rnn", seeds=1, out=str(lab),
                                               jobs=1, **TINY)),
                         (demo, lambda: run_demo(demo, quick=True, jobs=1, progress=False))):
        with held_by_another_process(folder) as pid:
            with pytest.raises(RnnlabError, match=f"in use by another rnnlab process .pid {pid}"):
                call()
        # Nothing written in the holder's folder (killed, it leaves its lock file).
        assert [p.name for p in folder.iterdir()] in ([], [LOCK])


def test_two_trains_into_one_folder(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "train", "--data", "sine",
                              "--model", "gru", "--epochs", "500", "--patience", "1000",
                              "--hidden-size", "8", "--num-layers", "1", "--no-progress",
                              "--out", str(out)], env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "state.pt").exists():  # it holds the folder and is training
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first train never started"
            time.sleep(0.05)
        for extra in ([], ["--overwrite"]):
            second = subprocess.run([sys.executable, "-m", "rnnlab.cli", "train", "--data",
                                     "sine", "--model", "rnn", *QUICK, "--out", str(out),
                                     *extra], env=ENV, capture_output=True, text=True,
                                    timeout=240)
            assert second.returncode == 2, second.stderr
            assert second.stderr == (f"error: '{out}' is in use by another rnnlab process "
                                     f"(pid {first.pid}); wait for it or choose another "
                                     "--out\n")
        assert json.loads((out / "config.json").read_text())["model"]["model"] == "gru"
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=240)
    assert json.loads((out / "metrics.json").read_text())["model"] == "gru"


# --- 4. a refused run leaves no folder, or the folder as it was -------------------------


@pytest.mark.parametrize("option, value, fragment", [
    ("--weight-decay", "nan", "weight_decay must be a finite number, got nan"),
    ("--lr", "inf", "lr must be a finite number, got inf"),
    ("--threads", "100000", "threads must be at most"),
    ("--test-fraction", "0", "test_fraction must be positive, got 0"),
])
def test_bad_values_are_refused_before_any_folder_is_made(tmp_path, option, value,
                                                           fragment):
    new = tmp_path / "new"
    one_line_error(train("--data", "sine", *QUICK, "--out", str(new), option, value),
                   fragment)
    assert not new.exists()
    run = tmp_path / "run"
    run_train(small_config(), run, plots=False, progress=False)
    before = snapshot(run)
    one_line_error(train("--data", "sine", *QUICK, "--out", str(run), "--overwrite", option,
                         value), fragment)
    assert snapshot(run) == before
    # The run was not blocked: a good train still replaces it.
    assert train("--data", "sine", *QUICK, "--out", str(run), "--overwrite").exit_code == 0


# --- 5. the file system ---------------------------------------------------------------


def test_out_under_a_file_or_a_dangling_link_or_a_link_to_overwrite(tmp_path):
    (tmp_path / "file").write_text("mine")
    one_line_error(train("--data", "sine", *QUICK, "--out", str(tmp_path / "file" / "sub")),
                   "lies under", "a file, not a folder")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    one_line_error(train("--data", "sine", *QUICK, "--out", str(tmp_path / "dangling")),
                   "symbolic link", "does not exist")
    assert not (tmp_path / "nowhere").exists()
    run = tmp_path / "run"
    run_train(small_config(), run, plots=False, progress=False)
    (tmp_path / "link").symlink_to(run)
    before = snapshot(run)
    one_line_error(train("--data", "sine", *QUICK, "--out", str(tmp_path / "link"),
                         "--overwrite"), "is a symbolic link")
    assert snapshot(run) == before and (tmp_path / "file").read_text() == "mine"


def test_out_in_a_folder_nobody_may_write(tmp_path):
    if not Path("/sys/kernel").is_dir() or os.access("/sys/kernel", os.W_OK) and \
            _can_create(Path("/sys/kernel")):
        pytest.skip("needs Linux's /sys, read-only even for root")
    one_line_error(train("--data", "sine", *QUICK, "--out", "/sys/rnnlab-test"),
                   "cannot create folder '/sys/rnnlab-test'")
    one_line_error(train("--data", "sine", *QUICK, "--out", "/sys/kernel"),
                   "cannot write in '/sys/kernel'")


def _can_create(folder: Path) -> bool:
    try:
        (folder / ".rnnlab-probe").touch()
    except OSError:
        return False
    (folder / ".rnnlab-probe").unlink()
    return True


@pytest.fixture
def read_only_mount(tmp_path):
    """A tmpfs holding a user's file, then remounted read-only (root ignores chmod 0555)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, timeout=30)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root in a privileged container)")
    try:
        (mount / "old_run").mkdir()
        (mount / "old_run" / "notes.txt").write_text("mine")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, timeout=30)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], timeout=30)


def test_read_only_file_system(read_only_mount):
    one_line_error(train("--data", "sine", *QUICK, "--out", str(read_only_mount / "new")),
                   "cannot create folder", "Read-only file system")
    one_line_error(train("--data", "sine", *QUICK, "--out", str(read_only_mount / "old_run")),
                   "cannot write in", "Read-only file system")
    result = CliRunner().invoke(cli, ["compare", "--data", "sine", "--models", "rnn",
                                      "--seeds", "1", "--epochs", "1", "--jobs", "1",
                                      "--out", str(read_only_mount / "cmp")])
    one_line_error(result, "cannot create folder", "Read-only file system")
    assert (read_only_mount / "old_run" / "notes.txt").read_text() == "mine"


def test_disk_full_in_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old\n")

    def full(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(RnnlabError, match=r"cannot write '.*results.csv': No space left on "
                                          r"device \(ENOSPC\); free some space"):
        atomic_write(path, full)
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "results.csv"]


def test_disk_full_during_train_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("rnnlab.checkpoint.os.fsync", full)
    out = tmp_path / "run"
    one_line_error(train("--data", "sine", *QUICK, "--out", str(out)),
                   "No space left on device")
    assert not out.exists()


def test_a_really_full_disk_is_one_line_for_torch_files_too(tmp_path):
    import torch

    mount = tmp_path / "full"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, timeout=30)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root in a privileged container)")
    try:
        # torch.save turns the disk's ENOSPC into a RuntimeError of its own.
        with pytest.raises(RnnlabError, match="x.pt': No space left on device"):
            atomic_write(mount / "x.pt", lambda fh: torch.save(torch.zeros(100_000), fh))
        assert list(mount.iterdir()) == []
        one_line_error(train("--data", "sine", *QUICK, "--out", str(mount / "run")),
                       "No space left on device (ENOSPC)")
    finally:
        subprocess.run(["umount", str(mount)], timeout=30)


# --- 6. file modes follow the umask ------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        out = tmp_path / "run"
        run_train(small_config(), out, progress=False)
        write_text(tmp_path / "note.txt", "x")
    finally:
        os.umask(previous)
    files = [p for p in out.iterdir() if p.is_file()] + [tmp_path / "note.txt"]
    assert "loss.png" in {p.name for p in files} and len(files) > 6
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {
        p.name: mode for p in files}
    if umask == 0o022:  # the issue's acceptance: readable by group and others
        assert all(p.stat().st_mode & stat.S_IRGRP and p.stat().st_mode & stat.S_IROTH
                   for p in files)


def test_lock_leaves_no_trace_and_removes_a_folder_it_made_empty(tmp_path):
    with locked(tmp_path / "a" / "b"):
        assert (tmp_path / "a" / "b" / LOCK).exists()
    assert not (tmp_path / "a" / "b").exists()
    (tmp_path / "kept").mkdir()
    with locked(tmp_path / "kept"):
        pass
    assert list((tmp_path / "kept").iterdir()) == []


def test_a_marker_left_half_written_by_a_kill_does_not_block_the_next_train(tmp_path):
    # Fault fuzzer, kills: a SIGKILL while the marker was written left only its temporary
    # file beside the lock; training into the folder again must work.
    from rnnlab.folders import LOCK, MARKER, user_files

    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK).write_text("")
    (out / f".{MARKER}.k2x9a.tmp").write_text("{")
    assert user_files(out) == []
    (out / "notes.txt").write_text("mine")
    assert user_files(out) == ["notes.txt"]
