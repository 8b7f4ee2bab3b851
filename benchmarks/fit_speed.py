"""The time of one default fit plus a 48-step forecast of a 1,000-point hourly series.

Each repeat runs in a fresh process (imports included, as a user's script pays them), on
the synthetic hourly series of `hourly_weekly.py` (seeds 0, 1, 2, ... in turn); the median
wall time is printed with the load average before and after. `--src` times another copy
of rnnlab (e.g. a checkout of an earlier commit) the same way, so both can run in turn.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/fit_speed.py --repeats 5
    ... benchmarks/fit_speed.py --src /work/base/src --src src --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, {bench!r})
from hourly_weekly import synthetic_hourly
from rnnlab.forecaster import Forecaster
series = synthetic_hourly({seed}, n=1000)
fit_started = time.perf_counter()
model = Forecaster(horizon=48, progress=False).fit(series)
forecast = model.forecast(48)
done = time.perf_counter()
print(json.dumps({{"wall": done - started, "fit": done - fit_started}}))
"""


def one(src: str, seed: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve()), "OPENBLAS_NUM_THREADS": "1"}
    code = CHILD.format(bench=str(HERE), seed=seed)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", help="src folder(s) to time [src]")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sources = args.src or [str(HERE.parent / "src")]
    times: dict[str, list] = {src: [] for src in sources}
    before = os.getloadavg()
    for k in range(args.repeats):
        for src in sources:  # in turn, so both see the same load
            times[src].append(one(src, k))
    after = os.getloadavg()
    for src in sources:
        fit = statistics.median(t["fit"] for t in times[src])
        wall = statistics.median(t["wall"] for t in times[src])
        print(f"{src}: fit + forecast median {fit:.2f} s, whole process {wall:.2f} s "
              f"({args.repeats} runs)")
    if len(sources) == 2:
        ratio = statistics.median(a["fit"] / b["fit"] for a, b in
                                  zip(times[sources[1]], times[sources[0]], strict=True))
        print(f"same-run ratio {sources[1]} / {sources[0]}: {ratio:.2f}")
    print(f"load average {before[0]:.2f} before, {after[0]:.2f} after")


if __name__ == "__main__":
    main()
