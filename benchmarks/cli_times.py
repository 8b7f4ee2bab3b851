"""Wall time of whole `rnnlab` commands, with the load average beside each figure.

    .venv/bin/python benchmarks/cli_times.py                          # inspect and train on delay
    .venv/bin/python benchmarks/cli_times.py --busy                   # and beside a CPU hog
    .venv/bin/python benchmarks/cli_times.py --src /old/checkout/src --src src   # before/after
    .venv/bin/python benchmarks/cli_times.py --case demo-quick --repeats 1

Each repeat runs every case once in a fresh process, for each `--src` in turn (that folder
first on PYTHONPATH, so one virtual environment times two checkouts under the same load).
`--busy` starts one CPU-bound process (a Python busy loop) beside them, as another user
of the machine would be, and stops it at the end. Printed per case and source: the median
wall and CPU seconds (user + system) over the repeats, the range of the walls, and the
one-minute load average read before each run (its median and range). On a shared machine
a wall time means little without that load: report the two together.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = "import sys; from rnnlab.cli import main; sys.argv[0] = 'rnnlab'; main()"
CASES = {
    "inspect-delay": ["inspect", "--data", "delay"],
    "train-delay": ["train", "--data", "delay", "--no-progress", "--out", "{tmp}/train"],
    "demo-quick": ["demo", "--quick", "--no-progress", "--out", "{tmp}/demo"],
}


def busy_loop() -> subprocess.Popen:
    """One process that keeps a core busy until it is stopped."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run_once(src: str, args: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, one-minute load average before) of one fresh `rnnlab` process."""
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-c", CLI, *(a.format(tmp=tmp) for a in args)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=1800)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"rnnlab {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES),
                        help="what to time (repeatable)  [default: inspect-delay, train-delay]")
    parser.add_argument("--src", action="append",
                        help="a checkout's src folder (repeatable)  [default: src]")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--busy", action="store_true",
                        help="run one CPU-bound process beside the commands")
    args = parser.parse_args(argv)
    cases = args.case or ["inspect-delay", "train-delay"]
    sources = args.src or ["src"]
    hog = busy_loop() if args.busy else None
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    try:
        if hog is not None:
            time.sleep(5)  # let the load average notice it
        for _ in range(args.repeats):
            for case in cases:
                for src in sources:
                    results.setdefault((case, src), []).append(run_once(src, CASES[case]))
    finally:
        if hog is not None:
            hog.terminate()
            hog.wait()
    print(f"{args.repeats} repeats{', one CPU-bound process beside' if args.busy else ''}; "
          f"{os.cpu_count()} CPUs")
    print(f"{'case':<14} {'src':<28} {'wall s (median)':>15} {'wall range':>13} "
          f"{'cpu s':>7} {'load avg (median, range)':>26}")
    for (case, src), runs in results.items():
        walls, cpus, loads = zip(*runs, strict=True)
        print(f"{case:<14} {src[-28:]:<28} {statistics.median(walls):>15.2f} "
              f"{min(walls):>6.1f}-{max(walls):<6.1f} {statistics.median(cpus):>7.2f} "
              f"{statistics.median(loads):>12.2f} ({min(loads):.2f}-{max(loads):.2f})")


if __name__ == "__main__":
    main()
