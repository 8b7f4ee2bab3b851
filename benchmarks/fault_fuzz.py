"""Fault fuzzer for the `rnnlab` command: absurd options, random kills, forged run files.

    PYTHONPATH=src .venv/bin/python benchmarks/fault_fuzz.py --cases 300 --seed 0
    PYTHONPATH=src .venv/bin/python benchmarks/fault_fuzz.py --cases 40 --seed 1 \
        --kinds forged --jobs 1 --report /tmp/fuzz.json
    PYTHONPATH=src .venv/bin/python benchmarks/fault_fuzz.py --cases 112 --kinds rows
    .venv/bin/python benchmarks/fault_fuzz.py --kinds rows --src /path/to/other/src  # compare

Every case runs `python -c 'from rnnlab.cli import main; main()' ...` in a fresh temporary
folder under a timeout and ends as one of:

  ok         exit 0
  refused    exit 2 and exactly one stderr line, starting "error: " (runs use `-q`)
  traceback  "Traceback" anywhere in the output, or exit 1 with "internal error"
  hang       the timeout passed (the process group is killed)
  other      anything else: another exit status, several lines, a worker left alive after
             its compare was killed, a resumed run or re-run compare that ends differently
             from an uninterrupted one

Kinds of case (`--cases` is shared out about 30 / 15 / 25 / 30 %):

  options  train, compare, sweep, inspect, forecast, explain with one to three options set
           to values within and beyond their ranges (ints -1, 0, 2**63, 10**9; floats nan,
           inf, -0.0, 1e308; strings empty, unicode, undecodable, 5,000 characters), on tiny
           data and a single epoch. Values within range that only cost time (hidden_size
           4096, 10**6 epochs with a patience of 10**6) are left out: a timeout is a hang.
  kills    `train` or `compare --jobs 2` stopped by SIGKILL, SIGTERM or two SIGTERMs after a
           random delay, then `train --resume` (or train again, when it was killed before
           its folder was claimed) or the same compare again: the re-run must exit 0 with
           the uninterrupted run's scores, and no process of a killed compare may survive.
  forged   a finished or interrupted tiny run with one of config.json, metrics.json,
           model.pt, model.npz, state.pt, predictions.csv or .rnnlab-run damaged (truncated,
           random bytes, another run's file, empty, huge numbers or wrong types in JSON, a
           FIFO, a symbolic link to /dev/zero, a folder, missing), then forecast, explain or
           train --resume on it. A forecast that succeeds but prints other numbers than the
           undamaged run is listed as "changed" (informational: a swapped model.pt is a
           valid model).
  rows     the 28 causes of issue 26, as scenarios in `fuzz_rows.py` taken in turn, each
           with random variants (which forgery, which file, which signal and when), judged
           held / data loss / wrong result / hang / internal error / other, and counted by
           the issue's four groups.

Prints the counts per kind and writes the failing cases (command, exit status, output) to
`--report` (default fault_fuzz.json in the current folder). Every process runs with its
address space capped (`--memory-gb`, default 4) so that a case cannot take the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import random
import resource
import shutil
import signal
import tempfile
import threading
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cli_runs import (
    OUTCOMES,
    classify,
    finish,
    kill_group,
    run,
    start,
    use_source,
    wait_gone,
)
from fuzz_rows import make_row_bases, rnnlab_modules, row_case, row_table

KINDS = ("options", "kills", "forged", "rows")
SHARES = {"options": 0.30, "kills": 0.15, "forged": 0.25, "rows": 0.30}
TIMING = ("train_seconds", "wall_seconds")
# Tiny settings: one run takes a few seconds, most of it importing torch.
TINY = ["--epochs", "1", "--hidden-size", "4", "--num-layers", "1", "--patience", "1"]
KILL_TRAIN = ["--data", "sine", "--epochs", "6", "--hidden-size", "8", "--num-layers", "1",
              "--patience", "10", "--batch-size", "64"]
KILL_COMPARE = ["compare", "--data", "sine", "--models", "rnn,gru", "--seeds", "2",
                "--epochs", "3", "--hidden-size", "4", "--num-layers", "1", "--jobs", "2"]
RUN_FILES = ("config.json", "metrics.json", "model.pt", "model.npz", "state.pt",
             "predictions.csv", ".rnnlab-run")


# --- option values --------------------------------------------------------------------------


HUGE_INTS = [-1, 0, 2**63, 2**63 - 1, -2**63, 10**9, 2**64, 10**30]
FLOATS_BEYOND = ["nan", "inf", "-inf", "-0.0", "1e308", "1e999", "-1", "5e-324", "-1e-300",
                 "0x10", "1_0", " 1 ", "1e", "nan(1)"]
STRINGS = ["", " ", "ü€😀", "x" * 5000, "\n", "-", "--", "a,b", "NaN", os.fsencode("\udcff\udcfe")]

# name: (values within the range, values beyond it); strings are passed as they are.
INT_RANGE = {
    "max-fill": ([0, 3, 10**6], [-1, 10**6 + 1]),
    "data-seed": ([0, 1, 2**32 - 1], [-1, 2**32]),
    "seq-len": ([1, 2, 5, 300, 690], [0, 700, 1000, 10**6]),
    "hidden-size": ([1, 2, 16], [0, 4097, 10**6]),
    "num-layers": ([1, 3], [0, 65, 10**6]),
    "epochs": ([1, 2], [0, 10**6 + 1]),
    "batch-size": ([1, 7, 10**7], [0, 10**7 + 1]),
    "patience": ([0, 1, 3], [-1, 10**6 + 1]),
    "seed": ([0, 7, 2**32 - 1], [-1, 2**32]),
    "threads": ([0, 1, 2, 64], [-1, 1025, 10**5]),
}
FLOAT_RANGE = {
    "val-fraction": (["0", "0.1", "0.5", "0.69"], ["1", "-0.1", "0.7", "0.89"]),
    "test-fraction": (["0.05", "0.2", "0.5"], ["0", "1", "-0.0", "0.9"]),
    "dropout": (["0", "0.5", "0.999"], ["1", "-0.1"]),
    "lr": (["1e-3", "1e-12", "1e3"], ["0", "-1", "1001"]),
    "weight-decay": (["0", "1e-4", "1e3"], ["-1", "1001"]),
    "clip-grad-norm": (["0", "1", "1e12", "1e-300"], ["-1", "2e12"]),
}
CHOICES = {
    "model": ["rnn", "lstm", "gru", "cnn_rnn", "residual", "transformer", "linear", "LSTM",
              " gru ", "lstn", "naive"],
    "scaler": ["auto", "window", "standard", "minmax", "MinMax", "robust"],
    "lr-schedule": ["plateau", "cosine", "none", "None", "step"],
    "device": ["auto", "cpu", "cuda", "cuda:0", "cuda:99", "cuda:", "cuda:-1", "mps", "cpu:0",
               "CPU"],
    "target": ["close", "value", "date", "nope", "Close"],
    "ticker": ["A", "AAPL", "ZZZ"],
    "date-column": ["date", "value", "nope", "Date"],
    "date-format": ["%Y-%m-%d", "%d/%m/%Y", "%", "%Q", "%Y", "%s", "%%", "%Y-%m-%d %H"],
}
DATA = ["sine", "noise", "complex", "random_walk", "drop", "delay", "stock:A", "stock:ZZZ",
        "stock:", "tiny.csv", "tiny.csv", "dmy.csv", "missing.csv", ".", "/dev/zero",
        "/dev/null", "fifo.csv", "sine,noise", "Sine", "sinus"]
DATA_OPTIONS = ("target", "ticker", "date-column", "date-format", "max-fill", "data-seed")
SPLIT_OPTIONS = ("val-fraction", "test-fraction")


def value_for(rng: random.Random, name: str):
    """A value for option `--name`: within its range, beyond it, or any junk."""
    roll = rng.random()
    if name in INT_RANGE:
        within, beyond = INT_RANGE[name]
        pool = within if roll < 0.4 else beyond + HUGE_INTS if roll < 0.85 else \
            FLOATS_BEYOND + STRINGS
    elif name in FLOAT_RANGE:
        within, beyond = FLOAT_RANGE[name]
        pool = within if roll < 0.4 else beyond + FLOATS_BEYOND if roll < 0.85 else \
            [str(v) for v in HUGE_INTS] + STRINGS
    else:
        pool = CHOICES[name] if roll < 0.6 else STRINGS
    value = rng.choice(pool)
    return value if isinstance(value, bytes) else str(value)


def train_options(rng: random.Random, names: tuple[str, ...], count: int) -> list:
    args = []
    for name in rng.sample(names, count):
        args += [f"--{name}", value_for(rng, name)]
    return args


TRAIN_NAMES = tuple([*INT_RANGE, *FLOAT_RANGE, *CHOICES])


def out_value(rng: random.Random, folder: Path) -> str:
    """--out: mostly a new folder, sometimes a path no folder can be made at."""
    roll = rng.random()
    if roll < 0.8:
        return "out"
    (folder / "afile").write_text("x")
    with contextlib.suppress(OSError):
        os.symlink(folder / "nowhere", folder / "dangling")
    return rng.choice(["afile", "afile/sub", "dangling", "", " ", "ü€😀", "x" * 300,
                       "/proc/rnnlab-fuzz", "/dev/null", ".", "a/" * 50 + "b"])


def write_data(folder: Path) -> None:
    """tiny.csv (120 dated rows), dmy.csv (ambiguous day/month dates) and fifo.csv."""
    rows = ["date,value"]
    for i in range(120):
        day = time.strftime("%Y-%m-%d", time.gmtime(1_600_000_000 + 86400 * i))
        rows.append(f"{day},{math.sin(i / 5) + 2 + 0.01 * (i % 7):.5f}")
    (folder / "tiny.csv").write_text("\n".join(rows) + "\n")
    dmy = ["date,close"] + [f"{d:02d}/{m:02d}/2020,{100 + d + m * 0.5}"
                            for m in range(1, 13) for d in range(1, 13)]
    (folder / "dmy.csv").write_text("\n".join(dmy) + "\n")
    os.mkfifo(folder / "fifo.csv")


def options_case(rng: random.Random, folder: Path, bases: dict) -> list:
    """The arguments of one options case, made in `folder`."""
    write_data(folder)
    command = rng.choice(["train", "train", "compare", "sweep", "inspect", "forecast",
                          "explain"])
    data = rng.choice(DATA) if rng.random() < 0.5 else rng.choice(["sine", "tiny.csv"])
    if rng.random() < 0.15:
        data = rng.choice(STRINGS)
    count = rng.choice([1, 1, 2, 3])
    if command == "train":
        args = ["train", "--data", data, *TINY, "--out", out_value(rng, folder)]
        args += train_options(rng, TRAIN_NAMES, count)
        if rng.random() < 0.15:
            args.append(rng.choice(["--resume", "--overwrite", "--linear-skip",
                                    "--no-linear-skip", "--nope", "--progress"]))
    elif command in ("compare", "sweep"):
        if command == "compare":
            models = rng.choice(["rnn", "rnn", "linear", "rnn,gru", "", ",", "rnn,,gru",
                                 "rnn,rnn", "nope", "RNN", "ü", "x" * 2000])
            args = ["compare", "--data", data, "--models", models]
        else:
            param = rng.choice([
                "seq_len=5", "seq_len=5,10", "hidden_size=2,4", "lr=nan", "lr=0.01,inf",
                "seq_len=", "=5", "nope=1", "seq_len=0", "seq_len=1000000000", "epochs=0",
                "num_layers=100000", "model=rnn,gru", "dropout=1.5", "seq_len=5,5",
                "threads=100000", "scaler=nope", "seq_len=5;10", "device=cuda",
                "weight_decay=nan", "data_seed=-1", "seed=1,2", "hidden_size=ü"])
            args = ["sweep", "--data", data, "--model", "rnn", "--param", param]
        seeds = rng.choice(["1", "1", "2", "0", "-1", str(2**63), "x"])
        jobs = rng.choice(["1", "1", "2", "0", str(10**9), str(2**63), ""])
        args += ["--seeds", seeds, "--jobs", jobs, *TINY, "--out", out_value(rng, folder)]
        args += train_options(rng, tuple(n for n in TRAIN_NAMES if n != "model"), count - 1)
    elif command == "inspect":
        args = ["inspect", "--data", data]
        args += train_options(rng, DATA_OPTIONS, count)
        if rng.random() < 0.4:
            args += ["--out", out_value(rng, folder)]
        if rng.random() < 0.4:
            args.append("--json")
    elif command == "forecast":
        run_dir = copy_run(bases["finished"], folder / "run")
        horizon = rng.choice(["1", "10", "20000", "20001", "100000", "0", "-1", "100001",
                              str(2**63), "nan", "1.5", ""])
        args = ["forecast", "--run", str(run_dir), "--horizon", horizon]
        if rng.random() < 0.5:
            args += ["--data", data]
    else:
        run_dir = copy_run(bases["finished"], folder / "run")
        args = ["explain", "--run", str(run_dir)]
        if rng.random() < 0.5:
            args += ["--out", out_value(rng, folder)]
    return ["-q", *args]


# --- kills -------------------------------------------------------------------------------


def kill_case(rng: random.Random, folder: Path, refs: dict, timeout: float) -> tuple:
    """Kill a train or compare after a random delay, then resume or re-run it."""
    how = rng.choice(["SIGKILL", "SIGKILL", "SIGTERM", "SIGTERM twice"])
    delay = rng.uniform(0.3, 9.0)
    if rng.random() < 0.6:
        model = rng.choice(["rnn", "gru", "lstm"])
        first = ["-q", "train", *KILL_TRAIN, "--model", model, "--out", "run"]
        ref_key = ("train", model)
    else:
        first = ["-q", *KILL_COMPARE, "--out", "cmp"]
        ref_key = ("compare",)
    began = time.monotonic()
    proc = start(first, folder)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL if how == "SIGKILL" else signal.SIGTERM)
        if how == "SIGTERM twice":
            time.sleep(rng.uniform(0.05, 1.0))
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
    killed = finish(proc, first, timeout, began, kill_rest=False)
    label = f"{how} after {delay:.2f} s"
    if killed.timed_out:
        return killed, "hang", f"{label}: the killed command did not end"
    if "Traceback" in killed.stdout + killed.stderr or "internal error" in killed.stderr:
        return killed, "traceback", f"{label}: the killed command printed a traceback"
    survivors = wait_gone(proc.pid, 10)
    if survivors:
        kill_group(proc.pid)
        return killed, "other", f"{label}: processes {survivors} outlived the killed command"
    if ref_key[0] == "train":
        status = read_status(folder / "run")
        if status == "complete":
            again = run(["-q", "forecast", "--run", "run", "--horizon", "3"], folder, timeout)
        elif (folder / "run" / "config.json").exists():  # else it has nothing to resume
            again = run(["-q", "train", "--out", "run", "--resume"], folder, timeout)
        else:
            again = run(first, folder, timeout)
    else:
        again = run(first, folder, timeout)
    outcome = classify(again)
    detail = f"{label} (killed run exit {killed.rc}); re-run"
    if outcome == "refused":  # the re-run must succeed: a refusal there is a failure too
        outcome, detail = "other", detail + " refused"
    if outcome == "ok":
        got, want = scores(folder, ref_key), refs.get(ref_key)
        if want is not None and got != want:
            outcome, detail = "other", detail + " differs from the uninterrupted run"
    return again, outcome, detail


def read_status(run_dir: Path):
    try:
        return json.loads((run_dir / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def scores(folder: Path, key: tuple):
    """What must not depend on a kill: train's test metrics, compare's table minus timings."""
    if key[0] == "train":
        try:
            return json.loads((folder / "run" / "metrics.json").read_text())["test"]
        except (OSError, ValueError, KeyError):
            return None
    try:
        with open(folder / "cmp" / "results.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return None
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def references(tmp: Path, timeout: float) -> dict:
    """Uninterrupted runs the killed ones must end equal to."""
    refs = {}
    for model in ("rnn", "gru", "lstm"):
        folder = tmp / f"ref-{model}"
        folder.mkdir()
        done = run(["-q", "train", *KILL_TRAIN, "--model", model, "--out", "run"], folder,
                   timeout)
        if done.rc == 0:
            refs[("train", model)] = scores(folder, ("train",))
    folder = tmp / "ref-compare"
    folder.mkdir()
    if run(["-q", *KILL_COMPARE, "--out", "cmp"], folder, timeout).rc == 0:
        refs[("compare",)] = scores(folder, ("compare",))
    return refs


# --- forged run files ---------------------------------------------------------------------


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def make_bases(tmp: Path, timeout: float) -> dict:
    """Tiny runs to damage: two finished ones and two interrupted ones (with state.pt)."""
    bases = {}
    for name, extra in (("finished", ["--model", "lstm"]),
                        ("finished_other", ["--model", "gru", "--seq-len", "10",
                                            "--test-fraction", "0.3", "--hidden-size", "6"])):
        done = run(["-q", "train", "--data", "sine", *TINY, *extra, "--out", name], tmp,
                   timeout)
        if done.rc != 0:
            raise SystemExit(f"cannot make the base run {name}: {done.stderr}")
        bases[name] = tmp / name
    for name, extra in (("interrupted", ["--model", "lstm"]),
                        ("interrupted_other", ["--model", "gru", "--hidden-size", "6"])):
        bases[name] = interrupted_run(tmp, name, extra, timeout)
    forecasts = {}
    for name in ("finished", "interrupted"):
        for data in ([], ["--data", "sine"]):
            done = run(["-q", "forecast", "--run", str(bases[name]), "--horizon", "3", *data],
                       tmp, timeout)
            forecasts[(name, bool(data))] = done.stdout
    bases["forecasts"] = forecasts
    return bases


def interrupted_run(tmp: Path, name: str, extra: list, timeout: float) -> Path:
    """A train stopped by SIGTERM once its first epoch's state.pt is written; resuming it
    trains at most three more epochs (a long resume would read as a hang)."""
    args = ["-q", "train", "--data", "sine", "--epochs", "4", "--patience", "4",
            "--hidden-size", "4", "--num-layers", "1", "--batch-size", "16", *extra,
            "--out", name]
    proc = start(args, tmp)
    deadline = time.monotonic() + timeout
    while not (tmp / name / "state.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    result = finish(proc, args, timeout, time.monotonic())
    if not (tmp / name / "state.pt").exists() or read_status(tmp / name) != "incomplete":
        raise SystemExit(f"cannot make the interrupted run {name}: {result.stderr}")
    return tmp / name


def damage_json(rng: random.Random, raw: bytes) -> tuple[bytes, str]:
    """Set one leaf of a JSON document to a huge number or a value of the wrong type."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return b"1e999999", "not JSON before: replaced by 1e999999"
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))

    walk(doc, ())
    path = rng.choice(paths)
    new = rng.choice([10**400, -(10**400), 2**63, -1, 0, 1e308, float("nan"), float("inf"),
                      None, True, [], {}, "", "x" * 10000, [1, 2], {"a": 1}, "ü€", 1.5])
    if not path:
        doc = new
    else:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = new
    text = json.dumps(doc).encode()  # nan and inf as NaN and Infinity, as Python writes them
    return text, f"{'/'.join(map(str, path)) or 'the whole document'} set to {str(new)[:30]}"


def damage_npz(rng: random.Random, path: Path) -> str:
    """Rewrite one member of model.npz: a header claiming a huge shape, or scaled values."""
    with zipfile.ZipFile(path) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    name = rng.choice(sorted(members))
    body = members[name]
    if rng.random() < 0.5 and body.startswith(b"\x93NUMPY"):
        start_shape = body.find(b"'shape': (")
        end_shape = body.find(b")", start_shape)
        if start_shape > 0:
            huge = rng.choice([b"1000000000000,", b"100000, 100000", b"-1,", b"0,", b"3, 3, 3"])
            header = body[:start_shape + 10] + huge + body[end_shape:]
            members[name] = header
            what = f"{name}'s header claims shape ({huge.decode()})"
        else:
            members[name], what = body[: len(body) // 2], f"{name} cut in half"
    else:
        cut = len(body) - rng.randint(1, min(64, len(body)))
        members[name] = body[:cut] + bytes(rng.randrange(256) for _ in range(len(body) - cut))
        what = f"the last bytes of {name} randomised"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return what


def damage(rng: random.Random, run_dir: Path, name: str, other: Path) -> str:
    """Damage `run_dir/name` in one random way; returns what was done."""
    path = run_dir / name
    exists = path.is_file()
    ways = ["truncate", "random bytes", "flip bytes", "swap", "empty", "fifo", "dev zero",
            "folder", "missing"]
    if name.endswith(".json") or name == ".rnnlab-run":
        ways += ["json", "json", "json"]
    if name == "model.npz":
        ways += ["npz", "npz"]
    way = rng.choice(ways)
    if not exists and way in ("truncate", "random bytes", "flip bytes", "json", "npz"):
        way = "swap"
    if way == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: rng.randrange(max(1, len(data)))])
        return f"{name} truncated"
    if way == "random bytes":
        size = path.stat().st_size
        path.write_bytes(bytes(rng.randrange(256) for _ in range(max(1, size))))
        return f"{name} replaced by {size} random bytes"
    if way == "flip bytes":
        data = bytearray(path.read_bytes())
        for _ in range(rng.randint(1, 8)):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        return f"bits of {name} flipped"
    if way == "swap":
        source = other / name
        if not source.exists():
            return damage(rng, run_dir, name, other) if exists else f"{name} left missing"
        path.unlink(missing_ok=True)
        shutil.copyfile(source, path)
        return f"{name} swapped with another run's"
    if way == "json":
        text, what = damage_json(rng, path.read_bytes())
        path.write_bytes(text)
        return f"{name}: {what}"
    if way == "npz":
        return damage_npz(rng, path)
    if path.is_symlink() or path.exists():
        path.unlink()
    if way == "empty":
        path.write_bytes(b"")
        return f"{name} empty"
    if way == "fifo":
        os.mkfifo(path)
        return f"{name} a FIFO"
    if way == "dev zero":
        os.symlink("/dev/zero", path)
        return f"{name} a link to /dev/zero"
    if way == "folder":
        path.mkdir()
        return f"{name} a folder"
    return f"{name} deleted"


def forged_case(rng: random.Random, folder: Path, bases: dict) -> tuple[list, str, tuple]:
    name = rng.choice(RUN_FILES)
    interrupted = name == "state.pt" or rng.random() < 0.35
    base = "interrupted" if interrupted else "finished"
    run_dir = copy_run(bases[base], folder / "run")
    what = damage(rng, run_dir, name, bases[base + "_other"])
    if rng.random() < 0.2:  # two damaged files at once
        second = rng.choice([n for n in RUN_FILES if n != name])
        what += "; " + damage(rng, run_dir, second, bases[base + "_other"])
    command = rng.choice(["forecast", "forecast --data", "explain", "resume"] +
                         (["resume", "resume"] if interrupted else []))
    if command == "forecast":
        args = ["forecast", "--run", "run", "--horizon", "3"]
    elif command == "forecast --data":
        args = ["forecast", "--run", "run", "--horizon", "3", "--data", "sine"]
    elif command == "explain":
        args = ["explain", "--run", "run"]
    else:
        args = ["train", "--out", "run", "--resume"]
    return ["-q", *args], what, (base, command == "forecast --data")


# --- the driver ----------------------------------------------------------------------------


def one_case(kind: str, index: int, seed: int, tmp: Path, bases: dict, refs: dict,
             timeout: float) -> dict:
    rng = random.Random(f"{seed}-{kind}-{index}")
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-{index}-", dir=tmp))
    detail, changed = "", False
    try:
        if kind == "rows":
            record = row_case(index, seed, folder, bases, timeout)
            outcome = "ok" if record["verdict"] == "held" else "other"
            return {"kind": kind, "case": index, "outcome": outcome, "changed": False,
                    **record}
        if kind == "options":
            result = run(options_case(rng, folder, bases), folder, timeout)
            outcome = classify(result)
        elif kind == "kills":
            result, outcome, detail = kill_case(rng, folder, refs, timeout)
        else:
            args, detail, key = forged_case(rng, folder, bases)
            result = run(args, folder, timeout)
            outcome = classify(result)
            if outcome == "ok" and args[1] == "forecast":
                changed = result.stdout != bases["forecasts"].get(key)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"kind": kind, "case": index, "outcome": outcome, "changed": changed,
            "detail": detail, "command": result.command, "rc": result.rc,
            "seconds": round(result.seconds, 2), "stdout": result.stdout[-2000:],
            "stderr": result.stderr[-4000:]}


def plan(cases: int, kinds: tuple[str, ...]) -> list[tuple[str, int]]:
    total = sum(SHARES[k] for k in kinds)
    counts = {k: int(round(cases * SHARES[k] / total)) for k in kinds}
    counts[kinds[0]] += cases - sum(counts.values())
    return [(k, i) for k in kinds for i in range(counts[k])]


def table(records: list[dict], kinds: tuple[str, ...]) -> str:
    head = f"{'kind':<9} {'tried':>6} " + " ".join(f"{o:>9}" for o in OUTCOMES) + \
        f" {'changed':>8} {'max s':>6}"
    lines = [head]
    for kind in (*kinds, "all"):
        chosen = [r for r in records if kind in ("all", r["kind"])]
        count = Counter(r["outcome"] for r in chosen)
        slowest = max((r["seconds"] for r in chosen), default=0.0)
        lines.append(f"{kind:<9} {len(chosen):>6} " +
                     " ".join(f"{count[o]:>9}" for o in OUTCOMES) +
                     f" {sum(r['changed'] for r in chosen):>8} {slowest:>6.1f}")
    return "\n".join(lines)


def limit_memory(gigabytes: float) -> None:
    """Cap the address space of this process and so of every command it starts."""
    limit = int(gigabytes * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="cases run at a time")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--memory-gb", type=float, default=4.0)
    parser.add_argument("--report", default="fault_fuzz.json")
    parser.add_argument("--src", default=None,
                        help="the rnnlab to attack: a checkout's src folder [default: this one]")
    args = parser.parse_args()
    if args.src:
        use_source(args.src)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; use {','.join(KINDS)}")
    limit_memory(args.memory_gb)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rnnlab-fault-fuzz-") as name:
        tmp = Path(name)
        print(f"making the base runs in {tmp} ...", flush=True)
        bases = make_bases(tmp, args.timeout) if {"options", "forged", "rows"} & set(kinds) \
            else {}
        if "rows" in kinds:
            rnnlab_modules()  # imported once here, not by two cases' threads at once
            make_row_bases(tmp, bases, args.timeout)
        refs = references(tmp, args.timeout) if "kills" in kinds else {}
        todo = plan(args.cases, kinds)
        records, lock = [], threading.Lock()

        def work(item):
            kind, index = item
            record = one_case(kind, index, args.seed, tmp, bases, refs, args.timeout)
            with lock:
                records.append(record)
                if record["outcome"] in ("traceback", "hang", "other"):
                    shown = record.get("verdict", record["outcome"])
                    print(f"[{len(records)}/{len(todo)}] {shown}: "
                          f"{record['command'][:160]} {record['detail'][:120]}\n    "
                          f"{record['stderr'].strip()[-300:]}", flush=True)
                elif len(records) % 20 == 0:
                    print(f"[{len(records)}/{len(todo)}] ...", flush=True)
            return record

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(work, todo))
    records.sort(key=lambda r: (KINDS.index(r["kind"]), r["case"]))
    failing = [r for r in records if r["outcome"] in ("traceback", "hang", "other")]
    print(f"\nseed {args.seed}, {len(records)} cases, {time.monotonic() - began:.0f} s, "
          f"timeout {args.timeout:g} s, {args.jobs} at a time")
    classic = tuple(k for k in kinds if k != "rows")
    if classic:
        print(table([r for r in records if r["kind"] != "rows"], classic))
    if "rows" in kinds:
        print("\nissue 26's cases (rows), by the issue's groups:")
        print(row_table([r for r in records if r["kind"] == "rows"]))
    Path(args.report).write_text(json.dumps(
        {"seed": args.seed, "cases": len(records),
         "counts": {k: dict(Counter(r["outcome"] for r in records if r["kind"] == k))
                    for k in kinds},
         "failing": failing,
         "all": [{"kind": r["kind"], "outcome": r["outcome"], "group": r.get("group"),
                  "scenario": r.get("scenario"), "verdict": r.get("verdict"),
                  "command": r["command"][:300],
                  "detail": r["detail"][:200], "seconds": r["seconds"],
                  "stderr": r["stderr"].strip()[-300:]} for r in records],
         "changed": [r for r in records if r["changed"]]}, indent=1) + "\n")
    print(f"wrote {args.report}: {len(failing)} failing case(s)")


if __name__ == "__main__":
    main()
