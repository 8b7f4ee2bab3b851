"""One forecast from each of several cut points of real series, with and without a setting.

M4 scores one forecast per series from its end. On a handful of real series one end is
one draw, so each series is cut at 6 ends spread over its last quarter; each cut fits
`Forecaster(horizon=H)` on everything before its last H values, with defaults and the
setting on or off, and scores those H values by MASE (M4's m). Printed per series: the
mean MASE over its cuts both ways and their ratio; then the geometric mean ratio and on
how many series the setting helped.

The series: statsmodels' elec_equip (monthly, H = 12), the non-daily series of
`other_series.py` (pmdarima's wheel when installed, statsmodels' macrodata) and the
built-in sunspots, co2, elnino and nile.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/refit_cuts.py
    ... benchmarks/refit_cuts.py --setting linear_skip --csv /tmp/cuts.csv
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from other_series import series_set as other_series  # noqa: E402
from rnnlab.metrics import mase  # noqa: E402

CUTS = 6


def series_set() -> list[tuple[str, int, int, pd.Series]]:
    """(name, horizon, M4's m, series) for every series."""
    from statsmodels.datasets import elec_equip

    from rnnlab.data import load_series

    orders = elec_equip.load().data.iloc[:, 0].astype(np.float64)
    out = [("elec_equip", 12, 12, orders)]
    out += [(str(s.name), h, m, s) for group, h, m, s in other_series() if group != "daily"]
    out += [(name, h, m, load_series(name))
            for name, h, m in (("sunspots", 10, 11), ("co2", 12, 12), ("elnino", 12, 12),
                               ("nile", 10, 1))]
    return out


def score(job: tuple) -> tuple:
    import torch

    from rnnlab.forecaster import Forecaster

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    name, horizon, m, series, end, setting, value = job
    part = series.iloc[:end].to_numpy(np.float64)
    known, target = part[:-horizon], part[-horizon:]
    model = Forecaster(horizon=horizon, progress=False, **{setting: value})
    forecast = model.fit(series.iloc[:end - horizon]).forecast(horizon).to_numpy()
    return name, end, value, mase(target, forecast, known, m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="refit", help="a boolean Forecaster "
                        "parameter, on against off [refit]")
    parser.add_argument("--csv", default=None, help="write every cut's score here")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{args.setting} on against off")
    jobs = []
    for name, horizon, m, series in series_set():
        ends = np.unique(np.linspace(int(len(series) * 0.75), len(series), CUTS).astype(int))
        jobs += [(name, horizon, m, series, int(end), args.setting, value)
                 for end in ends for value in (True, False)]
    with Pool(2) as pool:
        rows = pool.map(score, jobs, chunksize=1)
    table = pd.DataFrame(rows, columns=["series", "end", "on", "mase"])
    if args.csv:
        table.to_csv(args.csv, index=False)
    means = table.pivot_table(index="series", columns="on", values="mase", aggfunc="mean")
    means = means.rename(columns={True: "on", False: "off"})[["on", "off"]]
    means["ratio"] = means["on"] / means["off"]
    print(means.round(3).to_string())
    print(f"{len(means)} series, {CUTS} cuts each: mean MASE {means['on'].mean():.4f} on, "
          f"{means['off'].mean():.4f} off; geometric mean ratio "
          f"{np.exp(np.log(means['ratio']).mean()):.4f}; on better on "
          f"{int((means['ratio'] < 1).sum())}, worse on {int((means['ratio'] > 1).sum())}")


if __name__ == "__main__":
    main()
