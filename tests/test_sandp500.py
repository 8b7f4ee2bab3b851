"""Every real S&P 500 file loads, or is refused with a reason (skipped if ../shared is absent).

Counts for the note come from `benchmarks/sandp500_scan.py`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnlab.data import load_series
from rnnlab.errors import DataError, RnnlabError
from rnnlab.windows import split_sizes

FOLDER = Path(os.environ.get("RNNLAB_SANDP500", Path(__file__).resolve().parents[2] / "shared"
                             / "data" / "sandp500" / "individual_stocks_5yr"))
# Rows with an empty open (and high, low) but a close, as published.
EMPTY_OPEN = {"BHF": 1, "DHR": 2, "ES": 1, "FTV": 1, "O": 2, "REGN": 1, "UA": 1, "VRTX": 1,
              "WRK": 1}
LEADING_EMPTY_OPEN = {"FTV", "UA"}  # the empty open is on the first row

pytestmark = pytest.mark.skipif(not FOLDER.is_dir(),
                                reason=f"S&P 500 data not found at {FOLDER}")


def path_of(ticker: str) -> str:
    return str(FOLDER / f"{ticker}_data.csv")


def test_every_file_loads_with_default_target():
    files = sorted(FOLDER.glob("*.csv"))
    assert len(files) == 505
    refused = {}
    for path in files:
        try:
            series = load_series(str(path))
        except RnnlabError as exc:
            refused[path.name] = str(exc)
            continue
        assert series.name.endswith(" close")
        assert np.isfinite(series.to_numpy()).all()
        assert series.index.is_unique and series.index.is_monotonic_increasing
    assert refused == {}


def test_aptv_loads_but_is_too_short_to_train():
    series = load_series(path_of("APTV"))
    assert len(series) == 44
    with pytest.raises(DataError, match="APTV has 44 rows.*needs at least 65 rows"):
        split_sizes(len(series), 30, 0.1, 0.2, name="APTV")


@pytest.mark.parametrize("ticker", sorted(EMPTY_OPEN))
def test_empty_open_prices(ticker, caplog):
    raw = pd.read_csv(path_of(ticker))
    close = load_series(path_of(ticker))
    assert len(close) == len(raw)  # close has no gaps: nothing filled or dropped
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        opened = load_series(path_of(ticker), target="open")
    assert np.isfinite(opened.to_numpy()).all()
    if ticker in LEADING_EMPTY_OPEN:
        assert len(opened) == len(raw) - 1
        assert "dropped 1 leading" in caplog.text
        return
    assert len(opened) == len(raw)
    assert f"filled {EMPTY_OPEN[ticker]} missing 'open' values" in caplog.text
    gaps = pd.to_datetime(raw.loc[raw["open"].isna(), "date"])
    for date in gaps:  # each filled value lies between its neighbours
        at = opened.index.get_loc(date)
        low, high = sorted(opened.iloc[[at - 1, at + 1]])
        assert low <= opened.iloc[at] <= high


def test_no_fill_refuses_empty_open_by_line():
    with pytest.raises(DataError, match=r"gap of 1 missing values.*--max-fill 1"):
        load_series(path_of("DHR"), target="open", max_fill=0)
