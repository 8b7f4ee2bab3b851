"""A monthly CSV whose date column is called 'month' reads without --date-column."""

import pandas as pd

from rnnlab.config import DataConfig
from rnnlab.data import load_data


def test_a_month_column_is_the_dates_and_the_other_column_the_target(tmp_path):
    path = tmp_path / "wine.csv"
    pd.DataFrame({"month": pd.date_range("1980-01-01", periods=60, freq="MS").strftime("%Y-%m"),
                  "bottles": range(100, 160)}).to_csv(path, index=False)
    series = load_data(DataConfig(source=str(path)))
    assert series.index[0] == pd.Timestamp("1980-01-01") and series.iloc[-1] == 159
    assert series.name == "wine.csv bottles"


def test_a_date_column_wins_over_a_month_number_beside_it(tmp_path):
    path = tmp_path / "sales.csv"
    dates = pd.date_range("2020-01-01", periods=60, freq="D")
    pd.DataFrame({"month": dates.month, "date": dates.strftime("%Y-%m-%d"),
                  "sales": range(60)}).to_csv(path, index=False)
    series = load_data(DataConfig(source=str(path)))
    assert series.index[1] == pd.Timestamp("2020-01-02") and series.name == "sales.csv sales"
