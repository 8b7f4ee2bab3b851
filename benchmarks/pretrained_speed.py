"""How fast the shipped pretrained net forecasts, after import.

- one series: `Forecaster(model="pretrained", candidates="net")` fitted on a 1,000-point
  hourly series and its 24-step forecast with the interval, as `rnnlab forecast --model
  pretrained` makes it (the members scored on the series' rolling origins included);
- one pass of the net alone: its quantiles for the last 384 values of each of 1,000
  series, as one (1000, 384, 2) batch.

Medians of --repeats runs in this process, beside the load average.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/pretrained_speed.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from hourly_weekly import synthetic_hourly
    from rnnlab import pretrained as P
    from rnnlab.forecaster import Forecaster

    load = os.getloadavg()[0]
    series = synthetic_hourly(0, n=1000)
    net = P.load_net()
    one = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        model = Forecaster(model="pretrained", candidates="net", horizon=24, progress=False)
        model.fit(series).forecast_interval(24)
        one.append(time.perf_counter() - started)
    rng = np.random.default_rng(0)
    panel = [np.log(50 + np.cumsum(rng.normal(0, 1, 1000)) ** 2) for _ in range(1000)]
    raws, pads = zip(*(P.gather(u, np.array([len(u)])) for u in panel), strict=True)
    raw, pad = np.concatenate(raws), np.concatenate(pads)
    floors = np.array([P.scale_floor(u) for u in panel])
    batch = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        x, _, _ = P.normalise(raw, pad, floors)
        q = net.forward(x)
        batch.append(time.perf_counter() - started)
    print(f"one 1,000-point series, fit on its origins and 24 steps with the interval: "
          f"median {statistics.median(one):.3f} s ({args.repeats} runs)")
    print(f"1,000 series in one pass of the net: median {statistics.median(batch):.3f} s, "
          f"output {q.shape}")
    print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
