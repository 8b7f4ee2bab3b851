"""The fault fuzzer's "rows" cases: the 28 causes of issue 26, each a scenario with random
variants (which file, which forgery, which signal and when), judged by what must hold.

Used by `fault_fuzz.py --kinds rows`; each case ends as one of

  held            the promise held (a refusal in one line, the files intact, the same scores)
  data loss       a file the user had was replaced or deleted
  wrong result    exit 0 with a result that is wrong: a forged file used, NaN printed, a
                  run marked complete without its files, a search that repeats itself
  hang            the timeout passed
  internal error  a traceback, or exit 1 "internal error"
  other           anything else (exit 1 or 143 without a line, several lines, ...)

Forged files are written with rnnlab's own writers (save_checkpoint, write_sidecar,
write_json), so their checksums are valid.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import math
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

from cli_runs import SOURCE, Result, classify, finish, run, start

VERDICTS = ("held", "data loss", "wrong result", "hang", "internal error", "other")
GROUPS = ("data loss and wrong results", "hangs and memory", "internal errors",
          "smaller promises")
TINY = ["--epochs", "1", "--hidden-size", "4", "--num-layers", "1", "--patience", "1"]
WRITE_TRAIN = ["--data", "sine", "--epochs", "3", "--hidden-size", "8", "--num-layers", "1",
               "--patience", "10", "--batch-size", "64", "--model", "lstm"]
ALL_FILES = {"config.json", "metrics.json", "model.pt", "model.npz", "predictions.csv",
             "test_predictions.png", "loss.png"}
TIMING = ("train_seconds", "wall_seconds")


def rnnlab_modules():
    """rnnlab's own writers, from the source the commands run (to forge with them)."""
    if str(SOURCE["src"]) not in sys.path:
        sys.path.insert(0, str(SOURCE["src"]))
    import rnnlab.checkpoint as checkpoint
    import rnnlab.fastpath as fastpath

    return checkpoint, fastpath


def by_outcome(result, ok_is: str = "wrong result") -> tuple[str, str]:
    """A command that must be refused in one line: its verdict and why."""
    kind = classify(result)
    verdict = {"refused": "held", "ok": ok_is, "traceback": "internal error",
               "hang": "hang"}.get(kind, "other")
    return verdict, kind


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def write_csv(path: Path, values, start: str = "2020-01-01") -> Path:
    import datetime

    day = datetime.date.fromisoformat(start)
    rows = ["date,value"] + [f"{day + datetime.timedelta(days=i)},{v!r}"
                             for i, v in enumerate(values)]
    path.write_text("\n".join(rows) + "\n")
    return path


def wave(n: int = 240, scale: float = 1.0) -> list[float]:
    return [(2 + math.sin(i / 5) + 0.01 * (i % 7)) * scale for i in range(n)]


def forge(model_pt: Path, meta=None, state=None, tensors=None, sidecar: bool = True) -> None:
    """Rewrite model.pt (and model.npz bound to it) after edits, and the weights' record in
    metrics.json, with rnnlab's writers: as an attacker with the package could."""
    checkpoint, fastpath = rnnlab_modules()
    ckpt = checkpoint.load_checkpoint(model_pt) if meta or state or tensors else None
    for edit, part in ((meta, "meta"), (state, "state_dict"), (tensors, "tensors")):
        if edit is not None:
            edit(ckpt[part])
    checkpoint.save_checkpoint(model_pt, ckpt["model"], ckpt["state_dict"], ckpt["meta"],
                               ckpt["tensors"])
    metrics_path = model_pt.parent / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    if "weights_sha256" in metrics:
        metrics["weights_sha256"] = checkpoint.recorded_checksums(model_pt).get("checksum")
        checkpoint.write_json(metrics_path, metrics)
    if sidecar:
        weights = {k: v.numpy() for k, v in ckpt["state_dict"].items()}
        fastpath.write_sidecar(model_pt, weights, ckpt["meta"], ckpt["tensors"]["tail"].numpy())
    else:
        model_pt.with_suffix(".npz").unlink(missing_ok=True)


def status_of(run_dir: Path):
    try:
        return json.loads((run_dir / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def test_scores(run_dir: Path):
    try:
        return json.loads((run_dir / "metrics.json").read_text())["test"]
    except (OSError, ValueError, KeyError):
        return None


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def user_folder(folder: Path, names: list[str]) -> dict[str, bytes]:
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(f"mine: {name}\n".encode())
    return files_of(folder)


# --- data loss and wrong results (rows 1-10) ------------------------------------------


def r01_explain_out(rng, folder, bases, timeout):
    names = rng.sample(["explain.json", "memory.png", "episodes.png", "notes.txt"], 2)
    mine = user_folder(folder / "U", names)
    run_dir = copy_run(bases["finished"], folder / "run")
    result = run(["-q", "explain", "--run", str(run_dir), "--out", "U"], folder, timeout)
    if {k: v for k, v in files_of(folder / "U").items() if k in mine} != mine:
        return "data loss", f"user files {names} replaced", result
    return (*by_outcome(result), result)


def r02_inspect_out(rng, folder, bases, timeout):
    names = rng.sample(["inspection.json", "periodogram.png", "acf_pacf.png", "x.csv"], 2)
    mine = user_folder(folder / "U", names)
    result = run(["-q", "inspect", "--data", "sine", "--out", "U"], folder, timeout)
    if {k: v for k, v in files_of(folder / "U").items() if k in mine} != mine:
        return "data loss", f"user files {names} replaced", result
    return (*by_outcome(result), result)


def r03_explain_during_overwrite(rng, folder, bases, timeout):
    run_dir = copy_run(bases["finished"], folder / "run")
    delay = rng.uniform(0.0, 2.5)
    began = time.monotonic()
    explain = start(["-q", "explain", "--run", "run"], folder)
    time.sleep(delay)
    train = run(["-q", "train", "--data", "noise", *TINY, "--out", "run", "--overwrite"],
                folder, timeout)
    explained = finish(explain, ["explain"], timeout, began)
    detail = f"overwrite {delay:.2f} s after explain (explain {classify(explained)}, train " \
             f"{classify(train)})"
    for result in (explained, train):
        if classify(result) in ("traceback", "hang", "other"):
            return {"traceback": "internal error", "hang": "hang"}.get(classify(result),
                                                                      "other"), detail, result
    try:
        series = json.loads((run_dir / "metrics.json").read_text())["series"]
        shown = json.loads((run_dir / "explain.json").read_text())["series"] \
            if (run_dir / "explain.json").exists() else series
    except (OSError, ValueError, KeyError):
        return "wrong result", detail + ": the run folder is unreadable", train
    if shown != series:
        return "wrong result", detail + f": explain.json of {shown} in a {series} run", train
    return "held", detail, train


def r04_kill_in_write_window(rng, folder, bases, timeout):
    how = rng.choice([signal.SIGKILL, signal.SIGTERM])
    delay = rng.uniform(0.0, 1.2)
    began = time.monotonic()
    proc = start(["-q", "train", *WRITE_TRAIN, "--out", "run"], folder)
    while proc.poll() is None and not (folder / "run" / "model.pt").exists():
        time.sleep(0.01)  # model.pt is the first file of the writing phase
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, how)
    killed = finish(proc, ["train"], timeout, began)
    detail = f"{how.name} {delay:.2f} s into the writing phase (exit {killed.rc})"
    if classify(killed) in ("traceback", "hang"):
        return by_outcome(killed)[0], detail, killed
    again = run(["-q", "train", "--out", "run", "--resume"], folder, timeout) \
        if status_of(folder / "run") != "complete" else killed
    present = {p.name for p in (folder / "run").iterdir() if not p.name.startswith(".")}
    missing = ALL_FILES - present
    if missing:
        return "wrong result", detail + f"; after resume {sorted(missing)} missing", again
    if test_scores(folder / "run") != bases["write_reference"]:
        return "wrong result", detail + "; scores differ from the uninterrupted run", again
    return ("held" if again.rc == 0 else by_outcome(again)[0]), detail, again


def r05_features_resume(rng, folder, bases, timeout):
    how = rng.choice([signal.SIGKILL, signal.SIGINT])
    args = ["-q", "train", "--data", "stock:A", "--features", "open,volume", "--calendar",
            "--horizon", "3", "--epochs", "30", "--patience", "30", "--hidden-size", "4",
            "--num-layers", "1", "--seq-len", "20", "--out", "F"]
    began = time.monotonic()
    proc = start(args, folder)
    while proc.poll() is None and not (folder / "F" / "state.pt").exists():
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, how)
    finish(proc, args, timeout, began)
    if status_of(folder / "F") == "complete":
        return "held", "finished before the signal", Result(args, 0, "", "", False, 0.0)
    again = run(["-q", "train", "--out", "F", "--resume"], folder, timeout)
    verdict = "held" if again.rc == 0 else by_outcome(again, "held")[0]
    if verdict != "held" and classify(again) == "refused":
        verdict = "wrong result"  # a resume that is refused loses the run
    return verdict, f"{how.name} after the first epoch, then --resume", again


ROW6 = ("nan weight", "inf weight", "huge tail", "nan tail", "scale 0", "scale nan")


def r06_forged_numbers(rng, folder, bases, timeout):
    run_dir = copy_run(bases["finished"], folder / "run")
    way = rng.choice(ROW6)
    sidecar = rng.random() < 0.5

    def state(weights):
        first = weights[sorted(weights)[0]]
        first[0] = float("nan") if way == "nan weight" else float("inf")

    def tensors(stored):
        stored["tail"][-3:] = 1e300 if way == "huge tail" else float("nan")

    def meta(saved):
        saved["scaler"]["scale"] = 0.0 if way == "scale 0" else float("nan")

    part = {"nan weight": {"state": state}, "inf weight": {"state": state},
            "huge tail": {"tensors": tensors}, "nan tail": {"tensors": tensors}}.get(
        way, {"meta": meta})
    forge(run_dir / "model.pt", sidecar=sidecar, **part)
    command = rng.choice([["forecast", "--horizon", "3"], ["backtest", "--horizon", "2"],
                          ["explain"]])
    result = run(["-q", command[0], "--run", "run", *command[1:]], folder, timeout)
    return (*by_outcome(result), result)


def r07_mismatched_model(rng, folder, bases, timeout):
    run_dir = copy_run(bases["finished"], folder / "run")
    other = rng.choice(["finished_other", "linear", "noise"])
    for name in ("model.pt", "model.npz"):
        (run_dir / name).unlink(missing_ok=True)
        if (bases[other] / name).exists():
            shutil.copyfile(bases[other] / name, run_dir / name)
    command = rng.choice([["forecast", "--horizon", "3"], ["backtest", "--horizon", "2"],
                          ["explain"]])
    result = run(["-q", command[0], "--run", "run", *command[1:]], folder, timeout)
    verdict, kind = by_outcome(result)
    return verdict, f"model files of the {other} run, then {command[0]} ({kind})", result


def r08_changed_data(rng, folder, bases, timeout):
    values = wave()
    write_csv(folder / "d.csv", values)
    done = run(["-q", "train", "--data", "d.csv", *TINY, "--seq-len", "10", "--out", "run"],
               folder, timeout)
    if done.rc != 0:
        return by_outcome(done, "other")[0], "the run could not be made", done
    values[rng.randrange(200, 240)] += 1.0
    write_csv(folder / "d.csv", values)
    command = rng.choice(["explain", "backtest"])
    result = run(["-q", command, "--run", "run"], folder, timeout)
    return (*by_outcome(result), result)


def trial_params(out: Path) -> list[tuple]:
    with open(out / "trials.csv", newline="") as fh:
        return [tuple(row[k] for k in ("seq_len", "hidden_size", "lr", "scaler"))
                for row in csv.DictReader(fh)]


def r09_tune_repeats(rng, folder, bases, timeout):
    write_csv(folder / "d.csv", wave())
    args = ["-q", "tune", "--data", "d.csv", "--trials", "2", "--epochs", "1", "--seed",
            str(rng.randrange(5)), "--out", "T"]
    for _ in range(2):
        result = run(args, folder, timeout)
        if result.rc != 0:
            return by_outcome(result, "other")[0], "tune did not finish", result
    drawn = trial_params(folder / "T")
    if len(set(drawn)) < len(drawn):
        return "wrong result", f"the re-run drew its trials again: {drawn}", result
    return "held", f"{len(drawn)} distinct trials", result


ROW10 = ("horizon 10**9", "interval 2", "unknown key", "bogus strategy", "n_inputs inf",
         "tail index text", "train_range reversed")


def r10_forged_meta(rng, folder, bases, timeout):
    run_dir = copy_run(bases["finished"], folder / "run")
    way = rng.choice(ROW10)

    def meta(saved):
        params = saved["params"]
        if way == "horizon 10**9":
            params["horizon"] = 10**9
        elif way == "interval 2":
            params["interval"] = 2.0
        elif way == "unknown key":
            params["colour"] = "red"
        elif way == "bogus strategy":
            params["strategy"] = "sideways"
        elif way == "n_inputs inf":
            saved["features"] = {"columns": [], "n_inputs": float("inf"), "scaler": {}}
        elif way == "tail index text":
            saved["tail_index"] = ["not a date"] * len(saved["tail_index"])
        else:
            saved["train_range"] = [5.0, -5.0]

    forge(run_dir / "model.pt", meta=meta, sidecar=True)
    result = run(["-q", "forecast", "--run", "run", "--horizon", "3"], folder, timeout)
    verdict, kind = by_outcome(result)
    return verdict, f"{way} through the numpy path ({kind})", result


# --- hangs and memory (rows 11-18) ------------------------------------------------------


def r11_config_val_fraction(rng, folder, bases, timeout):
    checkpoint, _ = rnnlab_modules()
    run_dir = copy_run(bases["finished"], folder / "run")
    config = json.loads((run_dir / "config.json").read_text())
    config["data"]["val_fraction"] = rng.choice([2.0, 1.0, 0.95, -0.5])
    checkpoint.write_json(run_dir / "config.json", config)
    command = rng.choice([["backtest", "--horizon", "2"], ["explain"],
                          ["forecast", "--data", "sine"]])
    result = run(["-q", command[0], "--run", "run", *command[1:]], folder, timeout)
    return (*by_outcome(result), result)


def r12_views_of_one_storage(rng, folder, bases, timeout):
    import torch

    run_dir = copy_run(bases["finished"], folder / "run")
    big = torch.zeros(rng.choice([250_000, 1_000_000]))
    count = rng.choice([30, 300, 2100])

    def state(weights):
        weights.update({f"view{i}": big for i in range(count)})

    forge(run_dir / "model.pt", state=state, sidecar=False)
    result = run(["-q", "forecast", "--run", "run", "--horizon", "3"], folder, timeout)
    verdict, kind = by_outcome(result)
    return verdict, f"{count} views of a {big.numel():,}-value storage ({kind})", result


def r13_sparse_checkpoint(rng, folder, bases, timeout):
    run_dir = copy_run(bases["finished"], folder / "run")
    size = rng.choice([20 << 30, 200 << 30])
    with open(run_dir / "model.pt", "r+b") as fh:
        fh.truncate(size)
    command = rng.choice([["forecast", "--horizon", "3"], ["backtest"], ["explain"]])
    result = run(["-q", command[0], "--run", "run", *command[1:]], folder, timeout)
    verdict, kind = by_outcome(result)
    return verdict, f"model.pt truncated up to {size >> 30} GB ({kind})", result


def r14_stride_zero(rng, folder, bases, timeout):
    import torch

    run_dir = copy_run(bases["finished"], folder / "run")
    length = rng.choice([10_000, 3 * 10**6])

    def tensors(stored):
        stored["tail"] = torch.zeros(1, dtype=torch.float64).expand(length)

    forge(run_dir / "model.pt", tensors=tensors, sidecar=False)
    result = run(["-q", "forecast", "--run", "run", "--horizon", "3"], folder, timeout)
    verdict, kind = by_outcome(result)
    return verdict, f"a stride-0 tail of {length:,} ({kind})", result


def r15_sparse_run_file(rng, folder, bases, timeout):
    run_dir = copy_run(bases["finished"], folder / "run")
    name = rng.choice(["config.json", "metrics.json", "predictions.csv", ".rnnlab-run"])
    with open(run_dir / name, "r+b") as fh:
        fh.truncate(20 << 30)
    command = rng.choice([["explain"], ["backtest"], ["forecast", "--data", "sine"]])
    result = run(["-q", command[0], "--run", "run", *command[1:]], folder, timeout)
    verdict, kind = by_outcome(result, ok_is="held")  # untouched by this command: fine
    return verdict, f"{name} 20 GB sparse, then {command[0]} ({kind})", result


API = {
    "forecast(10**9)": "f.forecast(10**9)",
    "forecast('5')": "f.forecast('5')",
    "forecast(5.5)": "f.forecast(5.5)",
    "forecast(nan)": "f.forecast(float('nan'))",
    "seq_len='30'": "Forecaster(seq_len='30', epochs=1, progress=False).fit(s)",
    "seq_len=30.7": "Forecaster(seq_len=30.7, epochs=1, progress=False).fit(s)",
    "hidden_size=True": "Forecaster(hidden_size=True, epochs=1, progress=False).fit(s)",
    "val_size=-5": "Forecaster(seq_len=10, epochs=1, progress=False).fit(s, val_size=-5)",
    "val_size=0.5": "Forecaster(seq_len=10, epochs=1, progress=False).fit(s, val_size=0.5)",
    "reversed index": "Forecaster(seq_len=10, epochs=1, progress=False).fit(s.iloc[::-1])",
    "duplicate index": "Forecaster(seq_len=10, epochs=1, progress=False).fit("
                       "pd.Series(s.to_numpy(), index=[1.0] * len(s)))",
    "load_series(Path)": "load_series(Path('nothing-here.csv'))",
}
API_CODE = """
import sys, signal
from pathlib import Path
import pandas as pd
from rnnlab import Forecaster, load_series
from rnnlab.errors import RnnlabError
s = load_series("sine")[:300]
f = Forecaster(seq_len=10, hidden_size=4, num_layers=1, epochs=1, progress=False).fit(s)
try:
    exec(sys.argv[1])
except RnnlabError as exc:
    print("refused:", exc)
    sys.exit(2)
print("accepted")
"""


def r18_23_api(rng, folder, bases, timeout):
    name = rng.choice(sorted(API))
    result = run([API[name]], folder, timeout, python=[sys.executable, "-c", API_CODE])
    if result.timed_out:
        return "hang", name, result
    if result.rc == 2 and "refused:" in result.stdout:
        return "held", name, result
    if result.rc == 0:  # load_series(Path) to a missing file must say "not found"
        return "wrong result", f"{name} accepted", result
    return ("internal error" if "Traceback" in result.stderr else "other"), name, result


# --- internal errors (rows 19, 20) ------------------------------------------------------


def r19_nested(rng, folder, bases, timeout):
    run_dir = copy_run(bases["finished"], folder / "run")
    name = rng.choice(["metrics.json", "config.json", ".rnnlab-run"])
    (run_dir / name).write_text("[" * 200_000 + "]" * 200_000)
    command = rng.choice([["backtest", "--run", "run"], ["explain", "--run", "run"],
                          ["forecast", "--run", "run", "--data", "sine"],
                          ["train", "--out", "run", "--resume"],
                          ["train", "--data", "sine", *TINY, "--out", "run", "--overwrite"]])
    result = run(["-q", *command], folder, timeout)
    verdict, kind = by_outcome(result, ok_is="held")
    return verdict, f"{name} nested 200,000 deep, then {command[0]} ({kind})", result


def r19_nested_record(rng, folder, bases, timeout):
    args = ["-q", "compare", "--data", "sine", "--models", "rnn", "--seeds", "1", *TINY,
            "--jobs", "1", "--out", "C"]
    first = run(args, folder, timeout)
    if first.rc != 0:
        return by_outcome(first, "other")[0], "compare could not run", first
    for record in (folder / "C" / "runs").glob("*.json"):
        record.write_text("{" * 100_000 + "}" * 100_000 if rng.random() < 0.5
                          else "[" * 200_000 + "]" * 200_000)
    again = run(args, folder, timeout)
    return ("held" if again.rc == 0 else by_outcome(again, "held")[0]), "records nested", again


def r19_long_path(rng, folder, bases, timeout):
    command = rng.choice(["forecast", "backtest", "explain"])
    path = str(folder / ("x" * rng.choice([256, 300, 5000])))
    result = run(["-q", command, "--run", path], folder, timeout)
    return (*by_outcome(result), result)


def r19_extreme_values(rng, folder, bases, timeout):
    scale = rng.choice([5e299, 5e-301, 5e-319])
    write_csv(folder / "x.csv", wave(300, scale))
    command = rng.choice([["train", *TINY, "--out", "r"],
                          ["compare", "--models", "rnn", "--seeds", "1", *TINY, "--out", "c"],
                          ["inspect"]])
    result = run(["-q", command[0], "--data", "x.csv", *command[1:]], folder, timeout)
    verdict, kind = by_outcome(result, ok_is="held" if command[0] == "inspect" else
                               "wrong result")
    return verdict, f"values near {scale:g}, {command[0]} ({kind})", result


def r19_options(rng, folder, bases, timeout):
    args = rng.choice([
        ["inspect", "--data", "stock:A", "--date-format", "%Y%Y"],
        ["inspect", "--data", "stock:A", "--date-format", "%m%m/%d"],
        ["train", "--data", "sine", "--val-fraction", "1e-320", "--out", "r"],
        ["train", "--data", "sine", "--test-fraction", "5e-324", "--out", "r"],
        ["train", "--data", "sine", "--hidden-size", "4096", "--num-layers", "64",
         "--epochs", "1", "--out", "r"],
    ])
    result = run(["-q", *args], folder, timeout)
    verdict, kind = by_outcome(result)
    return verdict, f"{' '.join(args[3:5])} ({kind})", result


def r19_market_cache(rng, folder, bases, timeout):
    stocks = folder / "stocks"
    stocks.mkdir()
    for name in ("AAPL", "AMZN", "GOOG"):
        shutil.copyfile(SOURCE["src"] / "rnnlab" / "datasets" / f"{name}_data.csv",
                        stocks / f"{name}_data.csv")
    env = {"RNNLAB_CACHE": str(folder / "cache")}
    args = ["-q", "train", "--data", "stock:A", "--market", "stocks", *TINY, "--seq-len",
            "10", "--out", "r"]
    first = run(args, folder, timeout, env=env)
    caches = list((folder / "cache").glob("market-*.npz"))
    if first.rc != 0 or not caches:
        return by_outcome(first, "other")[0], "the first run made no cache", first
    way = rng.choice(["truncated", "empty", "random bytes", "other arrays", "a folder"])
    data = caches[0].read_bytes()
    if way == "truncated":
        caches[0].write_bytes(data[: len(data) // 2])
    elif way == "empty":
        caches[0].write_bytes(b"")
    elif way == "random bytes":
        caches[0].write_bytes(os.urandom(len(data)))
    elif way == "other arrays":
        import numpy as np

        np.savez(caches[0], returns=np.zeros(3), dates=np.zeros(2), tickers=np.array(["A"]))
    else:
        caches[0].unlink()
        caches[0].mkdir()
    again = run([*args[:-1], "r2"], folder, timeout, env=env)
    return ("held" if again.rc == 0 else by_outcome(again, "held")[0]), \
        f"market cache {way}", again


def running_study(folder: Path, args: list, timeout: float):
    """Start a tune; return it once its study holds a trial (or it ended)."""
    began = time.monotonic()
    proc = start(args, folder)
    deadline = began + timeout
    while proc.poll() is None and time.monotonic() < deadline and not list_trials(folder / "T"):
        time.sleep(0.2)
    return proc, began


def list_trials(out: Path) -> list:
    import sqlite3

    db = out / "study.db"
    if not db.exists() or db.stat().st_size == 0:
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                                timeout=1)) as con:
            return con.execute("select number, state from trials").fetchall()
    except sqlite3.Error:
        return []


def r20_24_tune_signal(rng, folder, bases, timeout):
    how = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
    write_csv(folder / "d.csv", wave(600))
    args = ["-q", "tune", "--data", "d.csv", "--trials", "40", "--epochs", "100", "--seed",
            "0", "--out", "T"]
    proc, began = running_study(folder, args, timeout)
    time.sleep(rng.uniform(0.2, 2.0))
    if proc.poll() is None:
        os.kill(proc.pid, how)
    killed = finish(proc, args, timeout, began)
    detail = f"{how.name} while a trial ran (exit {killed.rc})"
    if "Traceback" in killed.stderr:
        return "internal error", detail + ": a traceback", killed
    lines = [line for line in killed.stderr.splitlines() if not line.startswith("trial ")]
    if how != signal.SIGKILL and (killed.rc not in (130, 143) or len(lines) != 1):
        return "other", detail + f": {len(lines)} lines", killed
    again = run(["-q", "tune", "--data", "d.csv", "--trials", "1", "--epochs", "1", "--seed",
                 "0", "--out", "T"], folder, timeout)
    if again.rc != 0:
        return by_outcome(again, "other")[0], detail + "; the re-run failed", again
    states = [state for _, state in list_trials(folder / "T")]
    if "RUNNING" in states:
        return "wrong result", detail + f"; a trial left RUNNING: {states}", again
    return "held", detail, again


# --- smaller promises (rows 21-24) ------------------------------------------------------


UMASK_CODE = ("import os, sys; os.umask(0o002); sys.argv = ['rnnlab'] + sys.argv[1:]; "
              "from rnnlab.cli import main; main()")


def r21_umask(rng, folder, bases, timeout):
    write_csv(folder / "d.csv", wave())
    result = run(["-q", "tune", "--data", "d.csv", "--trials", "1", "--epochs", "1",
                  "--out", "T"], folder, timeout, python=[sys.executable, "-c", UMASK_CODE])
    if result.rc != 0:
        return by_outcome(result, "other")[0], "tune failed", result
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (folder / "T").iterdir()
             if not p.name.startswith(".")}
    wrong = {k: v for k, v in modes.items() if v != "0o664"}
    return ("wrong result" if wrong else "held"), f"modes under umask 002: {wrong or 'all 664'}", \
        result


def r22_messages(rng, folder, bases, timeout):
    way = rng.choice(["comma", "param twice", "pickle"])
    if way == "comma":
        write_csv(folder / "a,b.csv", wave())
        result = run(["-q", "compare", "--data", "a,b.csv", "--models", "rnn", "--out", "c"],
                     folder, timeout)
        verdict, kind = by_outcome(result)
        if verdict == "held" and "commas separate" not in result.stderr:
            verdict = "other"
    elif way == "param twice":
        result = run(["-q", "sweep", "--data", "sine", "--param", "seq_len=10", "--param",
                      "seq_len=20", *TINY, "--out", "s"], folder, timeout)
        verdict, kind = by_outcome(result)
    else:
        import torch

        run_dir = copy_run(bases["finished"], folder / "run")
        (run_dir / "model.npz").unlink()

        class Payload:
            def __reduce__(self):
                return (os.system, ("echo pwned",))

        torch.save({"format": "rnnlab-checkpoint", "x": Payload()}, run_dir / "model.pt")
        result = run(["-q", "forecast", "--run", "run"], folder, timeout)
        verdict, kind = by_outcome(result)
        if "pwned" in result.stdout:
            verdict = "wrong result"
    return verdict, f"{way} ({kind})", result


def r24_sigterm_at_start(rng, folder, bases, timeout):
    delay = rng.uniform(0.1, 3.0)
    began = time.monotonic()
    proc = start(["-q", "train", *WRITE_TRAIN, "--out", "run"], folder)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
    result = finish(proc, ["train"], timeout, began)
    detail = f"SIGTERM after {delay:.2f} s (exit {result.rc})"
    if classify(result) in ("traceback", "hang"):
        return by_outcome(result)[0], detail, result
    out = folder / "run"
    if out.exists() and {p.name for p in out.iterdir()} <= {".rnnlab.lock"}:
        return "other", detail + ": a folder holding only the lock", result
    lines = result.stderr.strip().splitlines()
    if result.rc not in (0, 143) or (result.rc == 143 and len(lines) != 1):
        return "other", detail + f": {len(lines)} lines", result
    return "held", detail, result


def r24_inspect_lock(rng, folder, bases, timeout):
    out = folder / "U"
    out.mkdir()
    fd = os.open(out / ".rnnlab.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run(["-q", "inspect", "--data", "sine", "--out", "U"], folder, timeout)
    finally:
        os.close(fd)
    verdict, kind = by_outcome(result)
    return verdict, f"inspect into a locked folder ({kind})", result


def r24_forged_record(rng, folder, bases, timeout):
    checkpoint, _ = rnnlab_modules()
    args = ["-q", "compare", "--data", "sine", "--models", "rnn", "--seeds", "1", *TINY,
            "--jobs", "1", "--out", "C"]
    first = run(args, folder, timeout)
    if first.rc != 0:
        return by_outcome(first, "other")[0], "compare could not run", first
    (path,) = (folder / "C" / "runs").glob("*.json")
    record = json.loads(path.read_text())
    record["rmse"] = 1e-9
    checkpoint.write_json(path, record)
    again = run(args, folder, timeout)
    try:
        with open(folder / "C" / "results.csv", newline="") as fh:
            rmse = [float(row["rmse"]) for row in csv.DictReader(fh)]
    except (OSError, KeyError, ValueError):
        return "other", "no results.csv", again
    if 1e-9 in rmse:
        return "wrong result", "the forged rmse 1e-9 was reported", again
    return "held", "the forged record was trained again", again


SCENARIOS = {
    "data loss and wrong results": [r01_explain_out, r02_inspect_out,
                                    r03_explain_during_overwrite, r04_kill_in_write_window,
                                    r05_features_resume, r06_forged_numbers,
                                    r07_mismatched_model, r08_changed_data, r09_tune_repeats,
                                    r10_forged_meta],
    "hangs and memory": [r11_config_val_fraction, r12_views_of_one_storage,
                         r13_sparse_checkpoint, r14_stride_zero, r15_sparse_run_file,
                         r18_23_api],
    "internal errors": [r19_nested, r19_nested_record, r19_long_path, r19_extreme_values,
                        r19_options, r19_market_cache, r20_24_tune_signal],
    "smaller promises": [r21_umask, r22_messages, r24_sigterm_at_start, r24_inspect_lock,
                         r24_forged_record],
}
ORDER = [(group, scenario) for group in GROUPS for scenario in SCENARIOS[group]]


def row_case(index: int, seed: int, folder: Path, bases: dict, timeout: float) -> dict:
    """Case `index` of the rows kind: the scenarios taken in turn, each with its own
    random variant."""
    group, scenario = ORDER[index % len(ORDER)]
    rng = random.Random(f"{seed}-rows-{index}")
    verdict, detail, result = scenario(rng, folder, bases, timeout)
    return {"group": group, "scenario": scenario.__name__, "verdict": verdict,
            "detail": detail, "command": result.command, "rc": result.rc,
            "seconds": round(result.seconds, 2), "stdout": result.stdout[-2000:],
            "stderr": result.stderr[-4000:]}


def make_row_bases(tmp: Path, bases: dict, timeout: float) -> None:
    """What the scenarios copy or compare with: runs of other models and data, and the
    scores of an uninterrupted WRITE_TRAIN run."""
    for name, extra in (("linear", ["--data", "sine", "--model", "linear"]),
                        ("noise", ["--data", "noise", "--model", "lstm"])):
        done = run(["-q", "train", *extra, *TINY, "--out", name], tmp, timeout)
        if done.rc != 0:
            raise SystemExit(f"cannot make the base run {name}: {done.stderr}")
        bases[name] = tmp / name
    done = run(["-q", "train", *WRITE_TRAIN, "--out", "write_reference"], tmp, timeout)
    if done.rc != 0:
        raise SystemExit(f"cannot make the reference run: {done.stderr}")
    bases["write_reference"] = test_scores(tmp / "write_reference")


def row_table(records: list[dict]) -> str:
    head = f"{'group':<28} {'tried':>6} {'held':>6} {'broke':>6}   " + \
        " ".join(f"{v:>14}" for v in VERDICTS[1:])
    lines = [head]
    for group in (*GROUPS, "all"):
        chosen = [r for r in records if group in ("all", r["group"])]
        held = sum(r["verdict"] == "held" for r in chosen)
        counts = [sum(r["verdict"] == v for r in chosen) for v in VERDICTS[1:]]
        lines.append(f"{group:<28} {len(chosen):>6} {held:>6} {len(chosen) - held:>6}   " +
                     " ".join(f"{c:>14}" for c in counts))
    return "\n".join(lines)
