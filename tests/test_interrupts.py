"""A press of Ctrl-C that lands while an abort is being recorded or the process is
exiting changes neither the record nor the exit status (CI once saw -2: the second
press of test_runs' double Ctrl-C arrived after the first had already ended the fit)."""

import os
import signal
import subprocess
import sys

from rnnlab.runs import signals_held

PROBE = """
import atexit, os, signal, sys, time
import rnnlab.runs

def aborted(*args, **kwargs):
    raise KeyboardInterrupt("interrupted: aborted before the first epoch ended")

def another_press():  # the second Ctrl-C, arriving while the process exits
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)

rnnlab.runs.run_train = aborted
atexit.register(another_press)
from rnnlab.cli import main
sys.argv = ["rnnlab", "train", "--data", "sine", "--out", sys.argv[1]]
main()
"""


def test_a_press_during_the_exit_of_an_abort_keeps_status_130_and_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "interrupted: aborted before the first epoch ended"


def test_signals_are_held_while_an_abort_is_recorded_and_restored_after():
    before = signal.getsignal(signal.SIGINT)
    with signals_held():
        os.kill(os.getpid(), signal.SIGINT)  # ignored: no KeyboardInterrupt here
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is before


def test_the_cli_inside_another_program_leaves_its_signal_handlers(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import rnnlab.runs
    from rnnlab.cli import cli

    def aborted(*args, **kwargs):
        raise KeyboardInterrupt("interrupted: aborted before the first epoch ended")

    monkeypatch.setattr(rnnlab.runs, "run_train", aborted)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    done = CliRunner().invoke(cli, ["train", "--data", "sine", "--out", str(tmp_path / "r")])
    assert done.exit_code == 130, done.output
    assert {sig: signal.getsignal(sig) for sig in before} == before
