"""Outside features (rnnlab.features): leakage, the contract over every model, bad input,
the calendar of future dates and the market factor."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab.backtest import backtest
from rnnlab.base import future_index
from rnnlab.config import MODEL_NAMES, DataConfig, ModelConfig
from rnnlab.errors import ConfigError, DataError
from rnnlab.features import (
    calendar_columns,
    fit_feature_scaler,
    load_inputs,
    market_factor,
    ticker_of,
)
from rnnlab.forecaster import Forecaster
from rnnlab.windows import split_sizes

SRC = Path(__file__).resolve().parents[1] / "src"
# The net alone: it is the candidate that reads the features.
TINY = dict(seq_len=8, hidden_size=4, num_layers=1, epochs=1, progress=False,
            candidates="net")


def frame(n=200, seed=0) -> pd.DataFrame:
    """A price-like target with an open column, a volume column and business dates."""
    rng = np.random.default_rng(seed)
    close = 50 + np.cumsum(rng.normal(0, 0.5, n))
    index = pd.bdate_range("2020-01-01", periods=n, name="date")
    return pd.DataFrame({"close": close, "open": close + rng.normal(0, 0.2, n),
                         "volume": np.exp(rng.normal(14, 0.6, n))}, index=index)


# --- leakage ------------------------------------------------------------------------------


def test_changing_a_feature_in_the_test_part_moves_no_scaler_and_no_weight():
    data = frame(300)
    split = split_sizes(len(data), 8, 0.1, 0.2)
    fits = []
    for scale in (1.0, 1000.0):
        changed = data.copy()
        changed.iloc[split.n_fit:, 2] *= scale  # volume, only in the test part
        changed.iloc[split.n_fit:, 1] += 100 * (scale - 1)
        forecaster = Forecaster(features="open,volume", calendar=True, **{**TINY, "epochs": 3})
        result = backtest(changed, forecaster, split)
        fits.append((forecaster, result))
    (a, ra), (b, rb) = fits
    assert a.feature_scaler_ == b.feature_scaler_
    assert a.scaler_ == b.scaler_
    for name, weight in a.model_.state_dict().items():
        assert torch.equal(weight, b.model_.state_dict()[name]), name
    assert np.array_equal(a.interval_width_, b.interval_width_)
    # The first test prediction reads only windows before the test part: unchanged.
    assert ra.predictions["model"].iloc[0] == rb.predictions["model"].iloc[0]
    # ... while a later one reads the changed features, so the test can fail.
    assert ra.predictions["model"].iloc[-1] != rb.predictions["model"].iloc[-1]


def test_the_feature_scaler_reads_training_rows_only():
    data = frame(200)
    a = Forecaster(features="volume", **TINY).fit(data, val_size=30)
    changed = data.copy()
    changed.iloc[-30:, 2] *= 50.0  # the validation part
    b = Forecaster(features="volume", **TINY).fit(changed, val_size=30)
    assert a.feature_scaler_ == b.feature_scaler_


def test_volume_like_columns_get_a_log_decided_on_the_data():
    data = frame(300)
    scaler = fit_feature_scaler(["open", "volume"], data[["open", "volume"]].to_numpy())
    assert scaler.log == (False, True)
    # The same volumes under another name are still logged: the data decides.
    assert fit_feature_scaler(["x"], data[["volume"]].to_numpy()).log == (True,)


# --- the contract over every model, features off and on -----------------------------------


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("with_features", [False, True])
def test_contract_over_every_model(model, with_features, tmp_path):
    data = frame(160)
    params = dict(features="open,volume", calendar=True) if with_features else {}
    f = Forecaster(model=model, **params, **TINY)
    fitted = f.fit(data if with_features else data["close"])
    assert fitted is f
    pred = f.predict(data if with_features else data["close"])
    assert len(pred) == len(data) - 8 and pred.index[0] == data.index[8]
    assert np.isfinite(pred).all()
    ahead = f.forecast(1)
    assert ahead.index[0] == future_index(data.index, 1)[0]
    f.save(tmp_path / "m.pt")
    loaded = Forecaster.load(tmp_path / "m.pt")
    assert np.allclose(loaded.forecast(1), ahead)


def test_direct_multi_step_with_features_and_its_checkpoint(tmp_path):
    data = frame(200)
    f = Forecaster(features="open,volume", strategy="direct", horizon=4, **TINY).fit(data)
    path = f.paths_from(data, np.array([150, 160]), 4)
    assert path.shape == (2, 4) and np.isfinite(path).all()
    f.save(tmp_path / "m.pt")
    assert np.allclose(Forecaster.load(tmp_path / "m.pt").forecast(4), f.forecast(4))
    with pytest.raises(DataError, match="unknown after the forecast origin"):
        f.forecast(5)


def test_recursive_multi_step_with_named_features_is_refused():
    with pytest.raises(ConfigError, match="use --strategy direct"):
        Forecaster(features="open", horizon=3, strategy="recursive", **TINY).fit(frame(200))


# --- the calendar -----------------------------------------------------------------------


def test_calendar_encodes_weekday_and_month():
    cal = calendar_columns(pd.DatetimeIndex(["2024-01-01", "2024-07-05"]))  # Mon, Fri
    assert np.allclose(cal.iloc[0], [0.0, 1.0, 0.0, 1.0])
    assert np.allclose(cal.iloc[1], [np.sin(2 * np.pi * 4 / 7), np.cos(2 * np.pi * 4 / 7),
                                     np.sin(np.pi), np.cos(np.pi)])
    with pytest.raises(DataError, match="--calendar needs dates"):
        calendar_columns(pd.RangeIndex(5))


def test_calendar_feeds_the_future_dates_of_a_recursive_forecast():
    data = frame(200)[["close"]]
    f = Forecaster(calendar=True, horizon=5, **{**TINY, "epochs": 5}).fit(data)
    inputs = f._inputs(data, extra_dates=5)
    dates = future_index(data.index, 5)
    assert np.allclose(inputs[-5:, 1:], calendar_columns(dates).to_numpy())
    assert np.isnan(inputs[-5:, 0]).all()  # the target is what is forecast
    ahead = f.forecast(5)
    assert list(ahead.index) == list(dates) and np.isfinite(ahead).all()
    # The calendar matters to the net: other future weekdays give another forecast.
    shifted = data.copy()
    shifted.index = shifted.index + pd.Timedelta(days=2)
    assert f.history_.best_epoch > 0  # a trained body: the one part that reads the calendar
    assert not np.array_equal(f.forecast(5, shifted), f.forecast(5, data))


# --- the market factor ------------------------------------------------------------------


def test_market_factor_leaves_out_the_ticker_forecast(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "stocks"
    folder.mkdir()
    dates = pd.bdate_range("2021-01-01", periods=4)
    closes = {"A": [10, 20, 40, 80], "B": [10, 11, 12.1, 13.31], "C": [10, 9, 8.1, 7.29]}
    for name, close in closes.items():
        pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": close, "Name": name}
                     ).to_csv(folder / f"{name}_data.csv", index=False)
    market = market_factor(folder, dates, exclude="A")
    assert np.allclose(market.to_numpy(), [0.0, 0.0, 0.0, 0.0])  # (+10% - 10%) / 2
    with_a = market_factor(folder, dates, exclude=None)
    assert np.allclose(with_a.to_numpy()[1:], [(1.0 + 0.1 - 0.1) / 3] * 3)
    assert list((tmp_path / "cache").glob("market-*.npz"))  # read once, then cached
    assert ticker_of(DataConfig(source="stock:A")) == "A"
    assert ticker_of(DataConfig(source=str(folder / "B_data.csv"))) == "B"


def test_load_inputs_reads_named_columns_of_a_bundled_ticker():
    data = DataConfig(source="stock:A")
    from rnnlab.data import load_data

    got = load_inputs(data, ModelConfig(features="open,volume"), load_data(data))
    assert list(got.columns) == ["stock:A close", "open", "volume"]
    assert got.notna().all().all()


# --- bad input through the CLI: one line, exit 2 --------------------------------------------


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-c", "from rnnlab.cli import main; main()",
                           *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=env)


@pytest.fixture
def bad_csv(tmp_path):
    data = frame(120)
    table = data.reset_index()
    table["date"] = table["date"].dt.strftime("%Y-%m-%d")
    table["note"] = table["open"].astype(str)
    table.loc[40, "note"] = "n/a?"
    table["gappy"] = table["open"]
    table.loc[50:56, "gappy"] = np.nan
    path = tmp_path / "X_data.csv"
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("features, expected", [
    ("open,hgih", "feature column 'hgih' not found in 'X_data.csv'; columns are date, close"),
    ("note", "column 'note' in"),
    ("gappy", "column 'gappy' in"),
])
def test_bad_feature_columns_are_one_line_errors(bad_csv, tmp_path, features, expected):
    done = cli("train", "--data", str(bad_csv), "--features", features, "--epochs", "1",
               "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    if features == "note":
        assert "non-numeric" in lines[0] and "line 42" in lines[0]
        assert "--features" in lines[0]
    if features == "gappy":
        assert "gap of 7" in lines[0] and "2020-03-11" in lines[0]
    assert "Traceback" not in done.stderr


def test_recursive_horizon_with_features_is_refused_by_the_cli(bad_csv, tmp_path):
    done = cli("train", "--data", str(bad_csv), "--features", "open", "--horizon", "3",
               "--strategy", "recursive",
               "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: features other than --calendar are unknown after "
                                   "the forecast origin: use --strategy direct")


def test_auto_strategy_is_direct_with_named_features():
    f = Forecaster(features="open", horizon=3, strategy="auto", **TINY).fit(frame(200))
    assert f.strategy_ == "direct" and f.model_.n_outputs == 3
    assert f.forecast(3).notna().all()


def test_the_linear_skip_reads_the_target_lags_only():
    f = Forecaster(features="open,volume", calendar=True, **TINY).fit(frame(200))
    assert f.model_.n_features == 1 + 2 + 4
    assert tuple(f.model_.skip.weight.shape) == (1, 8)  # seq_len weights, one output


def test_a_calendar_only_model_takes_a_series_and_survives_its_checkpoint(tmp_path):
    series = frame(200)["close"]
    f = Forecaster(calendar=True, horizon=3, **TINY).fit(series)
    f.save(tmp_path / "m.pt")
    loaded = Forecaster.load(tmp_path / "m.pt")
    assert np.allclose(loaded.forecast(3), f.forecast(3))
    assert list(loaded.forecast(3).index) == list(future_index(series.index, 3))
