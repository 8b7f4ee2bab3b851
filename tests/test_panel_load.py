"""load_panel: a folder of per-series CSVs or one long CSV; bad series skipped and listed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnlab.errors import ConfigError, DataError
from rnnlab.panel import load_panel, split_panel

SANDP500 = Path(os.environ.get("RNNLAB_SANDP500", Path(__file__).resolve().parents[2]
                               / "shared" / "data" / "sandp500" / "individual_stocks_5yr"))


def write_folder(folder: Path, n: int = 120) -> Path:
    folder.mkdir(exist_ok=True)
    dates = pd.bdate_range("2021-01-04", periods=n).strftime("%Y-%m-%d")
    for k, name in enumerate(["AAA", "BBB", "CCC"]):
        close = 10.0 * (k + 1) + np.sin(np.arange(n) / (k + 2))
        pd.DataFrame({"date": dates, "close": close.round(4), "Name": name}).to_csv(
            folder / f"{name}_data.csv", index=False)
    (folder / "BAD_data.csv").write_text("date,close,Name\n2021-01-04,abc,BAD\n")
    return folder


def test_a_folder_gives_series_by_name_with_dates(tmp_path):
    panel = load_panel(write_folder(tmp_path / "f"))
    assert sorted(panel) == ["AAA", "BBB", "CCC"]
    assert isinstance(panel["BBB"].index, pd.DatetimeIndex)
    assert panel["BBB"].iloc[0] == pytest.approx(20.0)
    assert list(panel.skipped) == ["BAD"]
    assert "BAD_data.csv" in panel.skipped["BAD"]
    frame = panel.to_frame()
    assert list(frame.columns) == ["id", "date", "value"] and len(frame) == 3 * 120


def test_a_long_csv_with_an_id_column(tmp_path):
    rows = load_panel(write_folder(tmp_path / "f")).to_frame()
    rows = rows.rename(columns={"id": "ticker", "value": "close"})
    rows["date"] = rows["date"].dt.strftime("%Y-%m-%d")
    broken = pd.DataFrame({"ticker": "ZZZ", "date": ["2021-01-04", "2021-01-04"],
                           "close": [1.0, 2.0]})  # a repeated date
    path = tmp_path / "long.csv"
    pd.concat([rows, broken]).to_csv(path, index=False)
    panel = load_panel(path, id_column="ticker")
    assert sorted(panel) == ["AAA", "BBB", "CCC"]
    assert panel["CCC"].iloc[0] == pytest.approx(30.0)
    assert list(panel.skipped) == ["ZZZ"]
    assert f"'{path}' (ticker ZZZ)" in panel.skipped["ZZZ"]
    assert "rnnlab-panel" not in panel.skipped["ZZZ"]


def test_missing_id_column_names_the_columns(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("date,close,ticker\n2021-01-04,1,A\n")
    with pytest.raises(DataError, match=r"id column 'Name' not found in .*long.csv'; columns "
                       r"are date, close, ticker; pass --id-column"):
        load_panel(path, id_column="Name")
    with pytest.raises(DataError, match="needs a series-id column .*pass --id-column NAME"):
        load_panel(path)


def test_empty_or_unusable_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="folder '.*empty' holds no .csv files"):
        load_panel(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "X.csv").write_text("date,close\n2021-01-04,abc\n")
    with pytest.raises(DataError, match=r"no usable series in '.*bad': 1 skipped \(first: X"):
        load_panel(bad)
    with pytest.raises(DataError, match="'.*nowhere' not found"):
        load_panel(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="--id-column 'Name' is for one long CSV"):
        load_panel(write_folder(tmp_path / "f"), id_column="Name")


@pytest.mark.skipif(not SANDP500.is_dir(), reason=f"S&P 500 data not found at {SANDP500}")
def test_sandp500_loads_and_short_tickers_are_listed():
    panel = load_panel(SANDP500)
    assert len(panel) == 505 and not panel.skipped
    assert len(panel["AAPL"]) == 1259 and len(panel["APTV"]) == 44
    split = split_panel(panel, seq_len=30)
    assert split.how == "date" and split.cuts == ("2016-08-09", "2017-02-08")
    assert "APTV has 44 rows" in split.skipped["APTV"]
    assert "BHF" in split.skipped and "AAPL" in split.sizes
    assert sum(s.n_train - 30 for s in split.sizes.values()) > 400_000


def test_a_long_csv_that_breaks_midway_is_one_line(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("date,close,Name\n2021-01-04,1,A\n2021-01-05,2,A,extra,fields\n")
    with pytest.raises(DataError, match=r"cannot read '.*long.csv' as CSV: "):
        load_panel(path)


def test_a_wide_csv_has_a_series_per_column_each_with_its_own_gaps(tmp_path):
    path = tmp_path / "wide.csv"
    years = pd.date_range("1960-01-01", periods=40, freq="YS").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"year": years, "JPN": np.linspace(2.0, 1.4, 40),
                          "IND": np.linspace(5.9, 2.5, 40)})
    frame.loc[37:, "JPN"] = np.nan  # its last three years not yet known
    frame.to_csv(path, index=False)
    panel = load_panel(path)
    assert sorted(panel) == ["IND", "JPN"] and not panel.skipped
    assert len(panel["JPN"]) == 37 and len(panel["IND"]) == 40
    assert panel["IND"].index[0] == pd.Timestamp("1960-01-01")
    # Without dates, or with one series only, it still needs an id column.
    frame.drop(columns="year").to_csv(path, index=False)
    with pytest.raises(DataError, match="needs a series-id column or a date column beside"):
        load_panel(path)


def test_many_series_with_gaps_give_a_few_notes_and_a_count(tmp_path, caplog):
    path = tmp_path / "wide.csv"
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=30).strftime("%Y-%m-%d")})
    for k in range(8):
        frame[f"s{k}"] = np.arange(30.0) + k
    frame.loc[29, [f"s{k}" for k in range(8)]] = np.nan  # the last day not yet in
    frame.to_csv(path, index=False)
    with caplog.at_level("INFO", logger="rnnlab"):
        panel = load_panel(path)
    assert len(panel) == 8 and all(len(s) == 29 for s in panel.values())
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 4 and "no 's0' value" in notes[0]
    assert notes[-1].endswith("5 more notes like these while reading its series")
