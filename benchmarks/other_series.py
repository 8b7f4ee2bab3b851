"""Series the defaults were not designed on, many steps ahead, scored as M4 scores them.

A check against tuning to the study's series and to benchmarks/hourly_weekly.py: real
series of other kinds, each at a horizon of its own frequency, split and scored as
`hourly_weekly.py` does (70/10/20, every test origin, sMAPE, MASE and OWA against Naive2,
the one rule's verdict against naive, seasonal naive and the mean):

- inside pmdarima's wheel (`pip install pmdarima`): Australian wine sales (monthly, 12
  ahead), Canadian lynx trappings (yearly, 10), airline passengers (monthly, 12),
  Australian beer production (quarterly, 8), woollen yarn production (quarterly, 8), a heart
  rate record (10), Microsoft's last 1,500 daily closes (10) and the last 100 years of
  monthly sunspot numbers (18);
- inside statsmodels: US real GDP, CPI, unemployment and inflation (quarterly, 8);
- 8 S&P 500 daily closes drawn with a fixed seed from ../shared (10 ahead), where present.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/other_series.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hourly_weekly import score  # noqa: E402

STOCKS = Path(__file__).resolve().parents[2] / "shared/data/sandp500/individual_stocks_5yr"


def dated(values, name: str, freq: str) -> pd.Series:
    values = pd.Series(np.asarray(values, dtype=np.float64)).dropna().to_numpy()
    return pd.Series(values, name=name,
                     index=pd.date_range("2000-01-01", periods=len(values), freq=freq))


def series_set() -> list[tuple[str, int, int, pd.Series]]:
    """(group, horizon, M4's m, series) for every series of the set."""
    out = []
    try:
        import pmdarima.datasets as bundled
    except ImportError:
        print("pmdarima is not installed: its series are left out")
    else:
        out += [
            ("monthly", 12, 12, dated(bundled.load_wineind(), "wineind", "MS")),
            ("yearly", 10, 1, dated(bundled.load_lynx(), "lynx", "YS")),
            ("monthly", 12, 12, dated(bundled.load_airpassengers(), "airpassengers", "MS")),
            ("quarterly", 8, 4, dated(bundled.load_ausbeer(), "ausbeer", "QS")),
            ("quarterly", 8, 4, dated(bundled.load_woolyrnq(), "woolyrnq", "QS")),
            ("other", 10, 1, dated(bundled.load_heartrate(), "heartrate", "D")),
            ("daily", 10, 1, dated(bundled.load_msft()["Close"].to_numpy()[-1500:], "msft",
                                   "B")),
            ("monthly", 18, 12, dated(bundled.load_sunspots()[-1200:], "sunspots_monthly",
                                      "MS")),
        ]
    import statsmodels.api as sm

    macro = sm.datasets.macrodata.load_pandas().data
    out += [("quarterly", 8, 4, dated(macro[column], column, "QS"))
            for column in ("realgdp", "cpi", "unemp", "infl")]
    files = sorted(STOCKS.glob("*_data.csv"))
    if not files:
        print(f"{STOCKS} is absent: the S&P 500 closes are left out")
    for path in np.random.default_rng(7).choice(files, min(8, len(files)), replace=False) \
            if files else []:
        closes = pd.read_csv(path)["close"].to_numpy()
        out.append(("daily", 10, 1, dated(closes, path.name.split("_")[0], "B")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="[default: rnnlab's, lstm]")
    args = parser.parse_args()
    params = {"model": args.model} if args.model else {}
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {params or 'defaults'}")
    rows = []
    for group, horizon, m, series in series_set():
        row = score(group, horizon, m, series, params)
        rows.append(row)
        print(f"{group:9} {row['series']:16} H {horizon:2} {row['scaler']:8} "
              f"{row['strategy']:9} OWA {row['owa']:.3f}  {row['verdict']}  "
              f"{row['seconds']:.1f} s  {'; '.join(row['forms'] or [])}", flush=True)
    table = pd.DataFrame(rows)
    outcomes = table["verdict"].str.split().str[0].value_counts().to_dict()
    print(f"{len(table)} series: mean OWA {table['owa'].mean():.3f}, median "
          f"{table['owa'].median():.3f}; verdicts {outcomes}")


if __name__ == "__main__":
    main()
