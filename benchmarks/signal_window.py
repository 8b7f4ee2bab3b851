"""Signals in the window between a run's results and its last file: SIGTERM and SIGKILL
sent while `rnnlab train` draws its plots, then resume (or nothing, when it finished), and
the folder checked against an uninterrupted run.

Issue 26 (row 4): train used to mark metrics.json complete before the plots, so a signal
there left a run without loss.png or test_predictions.png that --resume refused to finish.
The window is found from the files themselves: each attempt polls for predictions.csv (the
last result written before the plots, in every version) and signals after a random delay
within the time the plots took in an uninterrupted run. An attempt whose train ended
before the signal missed the window and is tried again.

    .venv/bin/python benchmarks/signal_window.py                     # 20 SIGTERM, 20 SIGKILL
    .venv/bin/python benchmarks/signal_window.py --times 5 --src /work/base/src  # before

Each attempt ends as held (exit 0 after resume, every file there, no temporary or state
file left, test metrics identical to the uninterrupted run) or broke (and why).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

from cli_runs import finish, run, start, use_source

TRAIN = ["-q", "train", "--data", "sine", "--model", "lstm", "--epochs", "3", "--hidden-size",
         "8", "--num-layers", "1", "--patience", "10", "--batch-size", "64"]
FILES = {"config.json", "metrics.json", "model.pt", "model.npz", "predictions.csv",
         "test_predictions.png", "loss.png"}
TIMING = ("train_seconds", "wall_seconds")


def scores(run_dir: Path) -> dict | None:
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return {k: v for k, v in metrics.items() if k not in (*TIMING, "weights_sha256")}


def reference(tmp: Path, timeout: float) -> tuple[dict, float]:
    """An uninterrupted run's scores, and how long its plots took (predictions.csv written
    to the process' end)."""
    folder = tmp / "reference"
    folder.mkdir()
    proc = start([*TRAIN, "--out", "run"], folder)
    began = time.monotonic()
    seen = None
    while proc.poll() is None:
        if seen is None and (folder / "run" / "predictions.csv").exists():
            seen = time.monotonic()
        time.sleep(0.005)
    done = finish(proc, TRAIN, timeout, began)
    if done.rc != 0 or seen is None:
        raise SystemExit(f"the uninterrupted run failed: {done.stderr}")
    return scores(folder / "run"), time.monotonic() - seen


def attempt(folder: Path, how: signal.Signals, delay: float, want: dict,
            timeout: float) -> tuple[str, str]:
    """One signal in the window and the recovery; ("missed" | "held" | "broke", why)."""
    proc = start([*TRAIN, "--out", "run"], folder)
    began = time.monotonic()
    while proc.poll() is None and not (folder / "run" / "predictions.csv").exists():
        time.sleep(0.002)
    time.sleep(delay)
    if proc.poll() is not None:
        finish(proc, TRAIN, timeout, began)
        return "missed", "the run ended before the signal"
    os.kill(proc.pid, how)
    killed = finish(proc, TRAIN, timeout, began)
    if killed.timed_out:
        return "broke", "the signalled train did not end"
    if "Traceback" in killed.stderr:
        lines = [ln for ln in killed.stderr.strip().splitlines() if ln.strip()]
        return "broke", "a traceback: " + " | ".join(lines[-3:])[-300:]
    status = (json.loads((folder / "run" / "metrics.json").read_text()).get("status")
              if (folder / "run" / "metrics.json").exists() else None)
    what = f"exit {killed.rc}, metrics.json {status}"
    if status != "complete":
        again = run(["-q", "train", "--out", "run", "--resume"], folder, timeout)
        what += f", resume exit {again.rc}"
        if again.rc != 0:
            return "broke", what + f" ({again.stderr.strip()[-160:]})"
    names = {p.name for p in (folder / "run").iterdir()}
    missing = FILES - names
    stray = {n for n in names if n.endswith(".tmp") or n == "state.pt"}
    if missing:
        return "broke", what + f"; missing {sorted(missing)}"
    if stray:
        return "broke", what + f"; left {sorted(stray)}"
    if scores(folder / "run") != want:
        return "broke", what + "; metrics differ from the uninterrupted run"
    return "held", what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=20, help="attempts per signal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--src", default=None, help="another checkout's src to test")
    parser.add_argument("--report", default=None, help="write every attempt as JSON here")
    args = parser.parse_args()
    if args.src:
        use_source(args.src)
    rng = random.Random(args.seed)
    began = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="rnnlab-signal-window-") as name:
        tmp = Path(name)
        want, window = reference(tmp, args.timeout)
        print(f"plots took {window:.2f} s after predictions.csv in the uninterrupted run",
              flush=True)
        for how in (signal.SIGTERM, signal.SIGKILL):
            done, missed = 0, 0
            while done < args.times and missed < 5 * args.times:
                folder = Path(tempfile.mkdtemp(dir=tmp))
                delay = rng.uniform(0.0, window * 0.9)
                verdict, why = attempt(folder, how, delay, want, args.timeout)
                if verdict == "missed":
                    missed += 1
                    continue
                done += 1
                results.append({"signal": how.name, "delay": round(delay, 3),
                                "verdict": verdict, "why": why})
                print(f"{how.name} {done:>2} after {delay:.2f} s: {verdict} ({why})",
                      flush=True)
            print(f"{how.name}: {missed} attempt(s) missed the window", flush=True)
    print(f"\n{time.monotonic() - began:.0f} s; rnnlab from {args.src or 'this checkout'}")
    for how in ("SIGTERM", "SIGKILL"):
        count = Counter(r["verdict"] for r in results if r["signal"] == how)
        print(f"{how}: {sum(count.values())} sent, {count['held']} held, {count['broke']} broke")
    if args.report:
        Path(args.report).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
