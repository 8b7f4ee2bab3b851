"""The real series shipped inside statsmodels as built-in sources: dates, inspect, train."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rnnlab.base import future_index
from rnnlab.cli import cli
from rnnlab.data import DATASETS, load_series, source_names

TINY = ["--epochs", "2", "--hidden-size", "8", "--num-layers", "1", "--patience", "1"]

# name: (length, first, last); yearly series are indexed by the integer year.
EXPECTED = {
    "sunspots": (309, 1700, 2008),
    "co2": (526, pd.Timestamp("1958-03-01"), pd.Timestamp("2001-12-01")),
    "elnino": (732, pd.Timestamp("1950-01-01"), pd.Timestamp("2010-12-01")),
    "nile": (100, 1871, 1970),
}


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_series_loads_with_its_dates(name):
    length, first, last = EXPECTED[name]
    series = load_series(name)
    assert series.name == name and series.dtype == np.float64
    assert len(series) == length and np.isfinite(series.to_numpy()).all()
    assert series.index[0] == first and series.index[-1] == last
    assert series.index.is_unique and series.index.is_monotonic_increasing
    if isinstance(first, int):
        assert pd.api.types.is_integer_dtype(series.index) and series.index.name == "year"
        assert (np.diff(series.index.to_numpy()) == 1).all()  # one value a year, no gap
    else:
        assert isinstance(series.index, pd.DatetimeIndex)
        assert series.index.equals(pd.date_range(first, last, freq="MS"))  # no month missing
    assert load_series(name, seed=5).equals(series)  # no seed: the data is the data


def test_values_are_the_statsmodels_ones():
    from statsmodels.datasets import co2, elnino

    table = elnino.load_pandas().data
    series = load_series("elnino")
    assert series["1951-03-01"] == table.loc[table.YEAR == 1951, "MAR"].item()
    assert series["2010-12-01"] == table.loc[table.YEAR == 2010, "DEC"].item()
    weekly = co2.load_pandas().data["co2"]
    monthly = load_series("co2")
    assert monthly["1990-07-01"] == pytest.approx(weekly["1990-07"].mean())
    # 1964-02..04 has no week: filled on the line between January and May.
    jan, may = monthly["1964-01-01"], monthly["1964-05-01"]
    assert monthly["1964-03-01"] == pytest.approx(jan + (may - jan) / 2)


def test_sources_are_listed_and_unknown_names_list_them():
    for name in DATASETS:
        assert name in source_names()
    assert "sunspots, co2, elnino, nile" in run("--help").output
    result = CliRunner().invoke(cli, ["inspect", "--data", "sunspot"])
    assert result.exit_code == 2 and "sunspots, co2, elnino, nile" in result.output


def test_monthly_series_continue_month_by_month():
    for name in ("co2", "elnino"):
        index = load_series(name).index
        after = future_index(index, 3)
        expected = pd.date_range(index[-1], periods=4, freq="MS")[1:]
        assert list(after) == list(expected)


# What inspect measured: period 11 on sunspots, 12 on co2 and elnino; nile has no season.
@pytest.mark.parametrize("name, verdict, periods", [
    ("sunspots", "seasonal", range(9, 13)),
    ("co2", "seasonal", [12]),
    ("elnino", "seasonal", [12]),
    ("nile", "stationary", None),
])
def test_inspect_reads_each_series_sensibly(name, verdict, periods):
    result = run("inspect", "--data", name)
    assert result.exit_code == 0, result.output
    line = [t for t in result.output.splitlines() if t.startswith("verdict:")][0]
    assert line.startswith(f"verdict: {verdict}:"), line
    if periods is not None:
        assert any(f"period ≈ {p} samples" in line for p in periods), line


def test_train_on_sunspots_then_forecast_the_next_years(tmp_path):
    out = tmp_path / "run"
    result = run("train", "--data", "sunspots", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sunspots: lstm on the last"), result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "complete"
    assert all(np.isfinite(part["rmse"]) for part in metrics["test"].values())
    predictions = pd.read_csv(out / "predictions.csv")
    assert predictions.iloc[-1, 0] == 2008  # the test part ends with the data

    result = run("forecast", "--run", str(out), "--horizon", "5")
    assert result.exit_code == 0, result.output
    rows = [r for r in result.output.strip().splitlines() if not r.startswith("note:")]
    assert rows[0].split()[1:] == ["forecast", "lower", "upper"]
    assert [r.split()[0] for r in rows[1:]] == ["2009", "2010", "2011", "2012", "2013"]
    assert all(np.isfinite(float(r.split()[1])) for r in rows[1:])


def test_help_still_does_not_import_statsmodels():
    probe = ("import sys; sys.argv = ['rnnlab', '--help']\n"
             "from rnnlab.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('LOADED=' + ','.join(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    loaded = [t for t in done.stdout.splitlines() if t.startswith("LOADED=")][-1]
    modules = set(loaded[len("LOADED="):].split(","))
    assert "sunspots, co2, elnino, nile" in done.stdout
    assert not modules & {"statsmodels", "pandas", "numpy", "torch", "scipy"}
