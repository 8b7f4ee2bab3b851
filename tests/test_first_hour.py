"""What surprised a newcomer in their first hour with rnnlab (issue 25), one test per fix.

Each test is named after the issue's item it covers, so a failure says which surprise is back.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from rnnlab import Forecaster, SeasonalNaiveForecaster, inspect
from rnnlab.errors import DataError


def monthly_season(n: int = 240, seed: int = 0) -> pd.Series:
    months = pd.date_range("2000-01-01", periods=n, freq="MS")
    noise = np.random.default_rng(seed).standard_normal(n)
    values = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 12) + 0.3 * noise
    return pd.Series(values, index=months, name="monthly")


# --- item 1: the Python API takes dates in time order, and refuses repeated ones ----------


def test_item1_fit_sorts_shuffled_dates_and_forecasts_after_the_last():
    series = monthly_season()
    shuffled = series.sample(frac=1, random_state=0)
    with pytest.warns(UserWarning, match="monthly was not in time order: sorted it"):
        model = Forecaster(epochs=1, progress=False).fit(shuffled)
    future = model.forecast(3)
    assert list(future.index) == list(pd.date_range("2020-01-01", periods=3, freq="MS"))


def test_item1_inspect_reads_a_shuffled_season_as_seasonal():
    series = monthly_season()
    with pytest.warns(UserWarning, match="not in time order"):
        verdict = inspect(series.sample(frac=1, random_state=1)).verdict
    assert verdict == inspect(series).verdict == "seasonal"


@pytest.mark.parametrize("call", ["fit", "inspect", "predict", "baseline"])
def test_item1_repeated_dates_are_refused_with_the_fix(call):
    series = monthly_season(60)
    repeated = pd.concat([series[:30], series[29:]])
    message = "monthly repeats dates: 2002-06-01 appears 2 times"
    with pytest.raises(DataError, match=message) as caught:
        if call == "fit":
            Forecaster(epochs=1, progress=False).fit(repeated)
        elif call == "inspect":
            inspect(repeated)
        elif call == "baseline":
            SeasonalNaiveForecaster().fit(repeated)
        else:
            model = SeasonalNaiveForecaster().fit(series)
            model.predict(repeated)
    assert "keep one value per date, e.g. series.groupby(level=0).mean()" in str(caught.value)


def test_item1_a_series_in_order_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SeasonalNaiveForecaster().fit(monthly_season()).forecast(2)


# --- item 2: the small regressions run on one BLAS thread, each once per fit ----------------


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_item2_adf_regressions_run_on_one_blas_thread(monkeypatch):
    from rnnlab import diagnostics

    seen = []
    original = diagnostics._ols

    def recording(y, x):
        seen.append(_blas_threads())
        return original(y, x)

    monkeypatch.setattr(diagnostics, "_ols", recording)
    values = np.cumsum(np.random.default_rng(21).standard_normal(300))
    with threadpool_limits(limits=2, user_api="blas"):
        diagnostics.find_period(values)
        assert _blas_threads() == 2 or len(threadpool_info()) == 0  # restored after
    assert seen and set(seen) == {1}


def test_item2_each_statistic_is_computed_once_per_fit(monkeypatch):
    from rnnlab import diagnostics

    calls = {"adf": [], "peak": []}
    adf, peak = diagnostics._adf_regression, diagnostics._spectral_peak

    def counted_adf(x, regression):
        calls["adf"].append((len(x), regression))
        return adf(x, regression)

    def counted_peak(x, max_period=None):
        calls["peak"].append(len(x))
        return peak(x, max_period)

    monkeypatch.setattr(diagnostics, "_adf_regression", counted_adf)
    monkeypatch.setattr(diagnostics, "_spectral_peak", counted_peak)
    series = monthly_season(300, seed=22)  # values no earlier test has seen
    Forecaster(epochs=1, horizon=3, progress=False).fit(series, val_size=30)
    SeasonalNaiveForecaster().fit(series, val_size=30)
    assert len(calls["adf"]) == len(set(calls["adf"])), calls["adf"]
    assert len(calls["peak"]) == len(set(calls["peak"])) == 1, calls["peak"]
