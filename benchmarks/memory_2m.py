"""Peak memory (max RSS) and wall time of `rnnlab train` on a long synthetic CSV.

Windows are `unfold` views of one tensor, so memory should grow with the number of rows,
not with rows x seq_len. The script writes a noisy sine with an hourly date column under
/tmp, runs the CLI in a child process for each size and prints the child's peak RSS.

    .venv/bin/python benchmarks/memory_2m.py                  # 2,000,000 rows, 1 epoch
    .venv/bin/python benchmarks/memory_2m.py --rows 200000 2000000 --epochs 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A noisy sine (period ~63 rows) with hourly dates: `date,value`."""
    t = np.arange(rows) * 0.1
    values = np.sin(t) + np.random.default_rng(seed).normal(0.0, 0.1, rows)
    dates = pd.date_range("2000-01-01", periods=rows, freq="h")
    pd.DataFrame({"date": dates, "value": values}).to_csv(path, index=False,
                                                          float_format="%.6f")


def peak_rss_of(command: list[str]) -> tuple[int, float, int, str]:
    """Run `command` in a child process; return (peak RSS bytes, wall s, exit code, stderr).

    Each measurement runs in its own intermediate process so RUSAGE_CHILDREN holds only
    that child's peak, not the largest of all earlier ones.
    """
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - start\n"
        "kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(kib, wall, proc.returncode)\n"
        "sys.stderr.write(proc.stderr[-2000:])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                          text=True, check=True)
    kib, wall, code = done.stdout.split()
    return int(kib) * 1024, float(wall), int(code), done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the CSVs and run folders")
    args = parser.parse_args()

    rnnlab = str(Path(sys.executable).with_name("rnnlab"))
    work = Path(tempfile.mkdtemp(prefix="rnnlab-mem-"))
    threads = os.environ.get("OMP_NUM_THREADS", "torch default")
    print(f"model {args.model}, hidden {args.hidden_size}, epochs {args.epochs}, "
          f"{os.cpu_count()} cores, OMP_NUM_THREADS {threads}; files under {work}")
    print(f"{'rows':>10} {'csv MiB':>8} {'peak RSS MiB':>13} {'wall s':>8}  exit")
    try:
        for rows in args.rows:
            csv_path = work / f"sine_{rows}.csv"
            write_csv(csv_path, rows)
            command = [rnnlab, "--quiet", "train", "--data", str(csv_path), "--target", "value",
                       "--model", args.model, "--hidden-size", str(args.hidden_size),
                       "--epochs", str(args.epochs), "--out", str(work / f"run_{rows}")]
            peak, wall, code, stderr = peak_rss_of(command)
            print(f"{rows:>10,} {csv_path.stat().st_size / 2**20:>8.1f} "
                  f"{peak / 2**20:>13.0f} {wall:>8.1f}  {code}", flush=True)
            if code != 0:
                print(stderr, file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
