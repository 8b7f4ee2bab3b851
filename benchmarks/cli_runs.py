"""Running the `rnnlab` command as a user would, for the fault fuzzer and the signal bench:
each command in a fresh process group under a timeout, its output kept, and what is left
of the group killed after it.

    from cli_runs import run
    result = run(["-q", "train", "--data", "sine", "--out", "r"], Path("/tmp/x"), 60)
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

# The rnnlab the commands import: this checkout's src, or another (--src) to compare.
SOURCE = {"src": Path(__file__).resolve().parents[1] / "src"}
CLI = [sys.executable, "-c", "from rnnlab.cli import main; main()"]
OUTCOMES = ("ok", "refused", "traceback", "hang", "other")


def use_source(src: str | Path) -> None:
    """Run the commands with the rnnlab package under `src` (a checkout's src folder)."""
    SOURCE["src"] = Path(src).resolve()


class Result:
    def __init__(self, args, rc, stdout, stderr, timed_out, seconds):
        self.args, self.rc, self.stdout, self.stderr = args, rc, stdout, stderr
        self.timed_out, self.seconds = timed_out, seconds

    @property
    def command(self) -> str:
        return " ".join(shlex.quote(a if isinstance(a, str) else os.fsdecode(a))
                        for a in ["rnnlab", *self.args])


def environment(extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SOURCE["src"]), "PYTHONUNBUFFERED": "1",
           **(extra or {})}
    env.pop("RNNLAB_DEBUG", None)
    return env


def start(args: list, cwd: Path, env: dict | None = None,
          python: list | None = None) -> subprocess.Popen:
    """The CLI (or `python` [sys.executable, "-c", code]) in its own process group, so a
    compare's workers can be found and killed."""
    return subprocess.Popen([*(python or CLI), *args], cwd=cwd, env=environment(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def finish(proc: subprocess.Popen, args: list, timeout: float, began: float,
           kill_rest: bool = True) -> Result:
    """Wait for `proc`; then kill what is left of its group (unless `kill_rest` is false,
    so that workers that outlived a killed compare can still be looked for)."""
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        timed_out = True
    if kill_rest:
        kill_group(proc.pid)  # nothing of a finished command may linger either
    return Result(args, proc.returncode, decode(out), decode(err), timed_out,
                  time.monotonic() - began)


def decode(output: bytes) -> str:
    return output.decode("utf-8", "replace")


def run(args: list, cwd: Path, timeout: float, env: dict | None = None,
        python: list | None = None) -> Result:
    began = time.monotonic()
    return finish(start(args, cwd, env, python), args, timeout, began)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid`, read from /proc (zombies are dead)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def wait_gone(pgid: int, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while True:
        left = group_members(pgid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def classify(result: Result) -> str:
    """ok (exit 0), refused (exit 2, one "error: " line), traceback (a traceback, or exit 1
    with "internal error"), hang (the timeout passed) or other."""
    if result.timed_out:
        return "hang"
    text = result.stdout + result.stderr
    if "Traceback" in text or (result.rc == 1 and "internal error" in result.stderr):
        return "traceback"
    if result.rc == 0:
        return "ok"
    lines = [line for line in result.stderr.strip().splitlines()
             if not line.startswith("note: ")]
    if result.rc == 2 and len(lines) == 1 and lines[0].startswith("error: "):
        return "refused"
    return "other"
