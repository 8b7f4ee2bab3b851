"""Every bad input gets one line that names the file, column or row, the rule and the fix.

Checked by message text, through the Python API and through `rnnlab train`, which must
exit 2 with one `error:` line and leave no run directory behind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rnnlab.cli import cli
from rnnlab.data import load_series, read_csv
from rnnlab.errors import ConfigError, DataError, RnnlabError
from rnnlab.windows import split_sizes

HEADER = "date,open,high,low,close,volume,Name\n"


def stock_csv(path, closes, dates=None):
    dates = dates or [f"2020-01-{d:02d}" for d in range(1, len(closes) + 1)]
    rows = "".join(f"{d},1,2,0.5,{c},100,A\n" for d, c in zip(dates, closes, strict=True))
    path.write_text(HEADER + rows)
    return path


def message(call) -> str:
    with pytest.raises(RnnlabError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text
    return text


def test_missing_file_names_path(tmp_path):
    text = message(lambda: load_series(str(tmp_path / "prices.csv")))
    assert "prices.csv' not found" in text and "check the path" in text


def test_unknown_source_lists_valid_names():
    text = message(lambda: load_series("sinus"))
    assert "unknown data source 'sinus'" in text
    for name in ("sine", "noise", "complex", "random_walk", "drop", "stock:TICKER"):
        assert name in text


def test_unknown_ticker_lists_bundled_ones():
    text = message(lambda: load_series("stock:ZZZ"))
    assert "no bundled ticker 'ZZZ'" in text and "A, AAPL" in text


def test_unknown_model_lists_valid_names():
    from rnnlab.config import ModelConfig
    from rnnlab.models import build_model

    with pytest.raises(ConfigError) as info:
        build_model(ModelConfig(model="lstmm"))
    assert "unknown model 'lstmm'" in str(info.value)
    assert "lstm" in str(info.value).split("valid models are")[1]


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty"),
    (b"PK\x03\x04\x00\x00binary\x00junk", "is binary, not a text CSV"),
    (b'date,close\n2020-01-01,"1\n', "cannot read"),
    (b"date,close\n", "has a header but no data rows"),
])
def test_unreadable_csv(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    text = message(lambda: read_csv(path))
    assert expected in text and "bad.csv" in text


def test_folder_instead_of_file(tmp_path):
    assert "is a folder" in message(lambda: read_csv(tmp_path))


def test_no_such_column_lists_columns(tmp_path):
    path = stock_csv(tmp_path / "A.csv", [1.0, 2.0])
    text = message(lambda: read_csv(path, target="clsoe"))
    assert "column 'clsoe' not found" in text
    assert "columns are date, open, high, low, close, volume, Name" in text
    assert "--target" in text


def test_column_case_hint(tmp_path):
    path = stock_csv(tmp_path / "A.csv", [1.0, 2.0])
    assert "did you mean 'close'" in message(lambda: read_csv(path, target="Close"))


def test_no_target_candidates(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("date,a,b\n2020-01-01,1,2\n")
    said = message(lambda: read_csv(path))
    assert "pass --target NAME" in said
    assert "train --global" in said  # a wide CSV of many series is a panel
    only_dates = tmp_path / "dates.csv"
    only_dates.write_text("date\n2020-01-01\n")
    assert "no column to forecast" in message(lambda: read_csv(only_dates))


def test_non_numeric_value_names_line(tmp_path):
    path = stock_csv(tmp_path / "A.csv", ["1.0", "2.0", "abc", "4.0"])
    text = message(lambda: read_csv(path))
    assert "non-numeric values at line 4" in text and "(first: 'abc')" in text


def test_decimal_comma_hint(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text('date;close\n2020-01-01;"1,5"\n2020-01-02;"2,5"\n')
    assert "decimal point, not a comma" in message(lambda: read_csv(path))


def test_infinite_value_names_line(tmp_path):
    path = stock_csv(tmp_path / "A.csv", ["1.0", "inf", "3.0"])
    assert "infinite values at line 3" in message(lambda: read_csv(path))


def test_long_nan_gap_refused_with_fix(tmp_path):
    path = stock_csv(tmp_path / "A.csv", ["1", "NaN", "", "nan", "NA", "6"])
    text = message(lambda: read_csv(path, max_fill=3))
    assert "gap of 4 missing values" in text and "--max-fill 4" in text


def test_short_nan_gap_is_interpolated(tmp_path):
    path = stock_csv(tmp_path / "A.csv", ["1", "NaN", "", "4"])
    assert read_csv(path, max_fill=3).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_all_values_missing(tmp_path):
    path = stock_csv(tmp_path / "A.csv", ["", "NaN"])
    assert "has no values" in message(lambda: read_csv(path))


def test_duplicate_dates_name_lines(tmp_path):
    path = stock_csv(tmp_path / "A.csv", [1, 2, 3], dates=["2020-01-01", "2020-01-02",
                                                             "2020-01-02"])
    assert "repeats dates: 2020-01-02 at lines 3, 4" in message(lambda: read_csv(path))


def test_bad_and_empty_dates_name_lines(tmp_path):
    path = stock_csv(tmp_path / "A.csv", [1, 2], dates=["2020-01-01", "someday"])
    assert "not dates at line 3 (first: 'someday')" in message(lambda: read_csv(path))
    path = stock_csv(tmp_path / "B.csv", [1, 2], dates=["2020-01-01", ""])
    assert "is empty at line 3" in message(lambda: read_csv(path))


def test_combined_file_needs_ticker(tmp_path):
    path = tmp_path / "all.csv"
    path.write_text(HEADER + "2020-01-01,1,1,1,1,1,A\n2020-01-01,1,1,1,2,1,B\n")
    assert "holds 2 tickers (A, B); pass --ticker" in message(lambda: read_csv(path))
    assert "ticker 'C' not in" in message(lambda: read_csv(path, ticker="C"))
    assert read_csv(path, ticker="B").tolist() == [2.0]


def test_unsorted_dates_are_sorted(tmp_path):
    path = stock_csv(tmp_path / "A.csv", [3, 1, 2], dates=["2020-01-03", "2020-01-01",
                                                             "2020-01-02"])
    series = read_csv(path)
    assert series.tolist() == [1.0, 2.0, 3.0] and series.index.is_monotonic_increasing


def test_too_short_says_rows_needed():
    with pytest.raises(DataError) as info:
        split_sizes(40, 30, 0.1, 0.2, name="A.csv close")
    text = str(info.value)
    assert "A.csv close has 40 rows" in text and "needs at least 65 rows" in text
    split_sizes(65, 30, 0.1, 0.2)  # the figure in the message is enough
    with pytest.raises(DataError):
        split_sizes(64, 30, 0.1, 0.2)


def test_csv_over_memory_limit_refused_with_figures(tmp_path, monkeypatch):
    path = stock_csv(tmp_path / "A.csv", [1.0] * 2000)
    monkeypatch.setattr("rnnlab.data.max_csv_bytes", lambda: 10 * 1024)
    text = message(lambda: read_csv(path))
    assert f"is {path.stat().st_size / 1024:.1f} KiB, over the 10.0 KiB" in text
    assert "split it or keep only the date and target columns" in text


# --- through the CLI: exit 2, one line, no run directory ----------------------------


def constant_csv(tmp_path):
    return str(stock_csv(tmp_path / "flat.csv", [5.0] * 80,
                         dates=[str(d.date()) for d in pd.date_range("2020-01-01",
                                                                     periods=80)]))


@pytest.mark.parametrize("args, expected", [
    (["--data", "missing.csv"], "not found"),
    (["--data", "sinus"], "unknown data source 'sinus'"),
    (["--data", "stock:A", "--target", "clsoe"], "columns are date, open"),
    (["--data", "sine", "--model", "lstmm"], "unknown model 'lstmm'; valid models are"),
    (["--data", "sine", "--seq-len", "990"], "needs at least"),
    (["--data", "sine", "--scaler", "zscore"], "unknown scaler 'zscore'"),
    (["--data", "sine", "--lr", "-1"], "lr must be positive"),
    (["--data", "CONSTANT"], "is constant"),
])
def test_cli_bad_input_one_line_and_no_run_dir(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    args = [constant_csv(tmp_path) if a == "CONSTANT" else a for a in args]
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", *args, "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert not out.exists()


def test_a_constant_series_is_forecast_as_it_is_and_the_net_says_why_it_is_out():
    from rnnlab.forecaster import Forecaster

    series = pd.Series(np.full(200, 3.0))
    f = Forecaster(epochs=1, progress=False).fit(series)
    assert f.forecast(4).tolist() == [3.0] * 4
    assert any(r["family"] == "net" and "never change" in r["note"] for r in f.candidates_)


def test_numeric_time_column_is_a_time_axis(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("time,value\n2,5.0\n0,1.5\n1,2.5\n")
    series = read_csv(path)
    assert series.index.tolist() == [0, 1, 2] and series.tolist() == [1.5, 2.5, 5.0]
    path.write_text("time,value\n0.0,1\n0.5,2\n0.5,3\n")
    assert "repeats dates: 0.5 at lines 3, 4" in message(lambda: read_csv(path))


def test_date_column_cannot_be_the_target(tmp_path):
    path = stock_csv(tmp_path / "A.csv", [1.0, 2.0])
    text = message(lambda: read_csv(path, date_column="close"))
    assert "'close' is both the target and the date column" in text
    assert "columns are date, open" in text


def test_values_whose_squares_overflow_are_refused_by_fit():
    from rnnlab.forecaster import Forecaster

    series = pd.Series(np.linspace(1.0, 2.0, 200))
    series.iloc[150] = -2e178  # a finite float64 whose square is not
    with pytest.raises(DataError, match=r"1 values beyond ±1e\+100 \(first -2e\+178 at 150\)"):
        Forecaster(epochs=1, progress=False).fit(series)


def test_a_value_beyond_float32_in_model_units_is_named():
    from rnnlab.windows import as_tensor

    assert as_tensor(np.array([1.0, 1e30])).dtype.is_floating_point
    with pytest.raises(DataError, match=r"value 2 of the series is 1e\+50 in model units"):
        as_tensor(np.array([1.0, 1e50]))
