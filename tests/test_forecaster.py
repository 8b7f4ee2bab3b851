"""The estimator contract, over every forecaster: networks and baselines alike."""

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab.baselines import MeanForecaster, NaiveForecaster, SeasonalNaiveForecaster
from rnnlab.data import load_series
from rnnlab.errors import ConfigError, DataError, NotFittedError
from rnnlab.forecaster import Forecaster
from rnnlab.models import MODELS

TINY = dict(seq_len=12, hidden_size=8, num_layers=1, epochs=2, progress=False)


def tiny_series(n=160, dates=True):
    t = np.arange(n)
    values = np.sin(t / 4) + 0.05 * np.random.default_rng(0).standard_normal(n)
    index = pd.bdate_range("2020-01-01", periods=n, name="date") if dates else pd.RangeIndex(n)
    return pd.Series(values, index=index, name="tiny")


FORECASTERS = [pytest.param(lambda m=m: Forecaster(model=m, **TINY), id=m) for m in MODELS] + [
    pytest.param(NaiveForecaster, id="naive"),
    pytest.param(MeanForecaster, id="mean"),
    pytest.param(lambda: SeasonalNaiveForecaster(period=25), id="seasonal_naive"),
]


@pytest.mark.parametrize("make", FORECASTERS)
def test_contract(make):
    series = tiny_series()
    forecaster = make()
    assert set(forecaster.get_params()) == set(type(forecaster).param_names())
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        forecaster.predict(series)
    assert forecaster.fit(series[:130]) is forecaster
    predicted = forecaster.predict(series)
    assert isinstance(predicted, pd.Series)
    assert predicted.index[-1] == series.index[-1]
    assert predicted.index.isin(series.index).all()
    assert np.isfinite(predicted.to_numpy()).all()
    future = forecaster.forecast(3)
    assert len(future) == 3 and (future.index > series.index[129]).all()


@pytest.mark.parametrize("model", list(MODELS))
def test_save_load_round_trip_gives_identical_predictions(model, tmp_path):
    series = tiny_series()
    f = Forecaster(model=model, **TINY).fit(series[:130])
    f.save(tmp_path / "m.pt")
    g = Forecaster.load(tmp_path / "m.pt")
    pd.testing.assert_series_equal(f.predict(series), g.predict(series))
    pd.testing.assert_series_equal(f.forecast(4), g.forecast(4))
    assert g.get_params() == {**f.get_params(), "progress": False}


def test_training_lowers_the_loss():
    series = load_series("sine")[:600]
    f = Forecaster(model="lstm", linear_skip=False, hidden_size=16, num_layers=1, epochs=8,
                   batch_size=32, patience=100, progress=False).fit(series)
    h = f.history_
    assert h.epochs_run == 8
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.best_val_loss < 0.5 * h.initial_val_loss


def test_same_seed_same_weights_other_seed_other_weights():
    series = tiny_series()
    a = Forecaster(model="gru", seed=3, **TINY).fit(series)
    b = Forecaster(model="gru", seed=3, **TINY).fit(series)
    c = Forecaster(model="gru", seed=4, **TINY).fit(series)
    for (name, wa), wb in zip(a.model_.state_dict().items(), b.model_.state_dict().values(),
                              strict=True):
        assert torch.equal(wa, wb), name
    assert not torch.equal(a.model_.rnn.weight_ih_l0, c.model_.rnn.weight_ih_l0)


def test_forecast_continues_trading_days_and_numeric_steps():
    stock = load_series("stock:A")
    f = NaiveForecaster().fit(stock)
    dates = f.forecast(3).index
    assert [d.strftime("%a %Y-%m-%d") for d in dates] == [
        "Thu 2018-02-08", "Fri 2018-02-09", "Mon 2018-02-12"]
    sine = load_series("sine")
    assert NaiveForecaster().fit(sine).forecast(2).index.tolist() == [100.0, 100.1]


def test_forecast_after_a_new_series():
    series = tiny_series()
    f = Forecaster(model="linear", **TINY).fit(series[:130])
    after_fit = f.forecast(2, series[:130])
    assert after_fit.index[0] == series.index[130]
    later = f.forecast(2, series)
    assert later.index[0] > series.index[-1]


def test_linear_model_reproduces_an_exact_recurrence():
    series = load_series("complex")
    f = Forecaster(model="linear", progress=False).fit(series[:1600])
    err = f.predict(series)[-400:] - series[-400:]
    assert np.abs(err).max() < 1e-3


def test_bad_series_and_params_are_refused_by_name():
    with pytest.raises(DataError, match="NaN or infinite"):
        Forecaster(**TINY).fit(pd.Series([1.0, np.nan] * 100))
    with pytest.raises(DataError, match="lstm seq_len 12 needs 28 values before the first "
                                         "origin to train, has 25; use a shorter seq_len"):
        Forecaster(**TINY, candidates="net").fit(tiny_series(30))
    short = Forecaster(**TINY).fit(tiny_series(30))  # the other candidates still forecast
    assert "lstm" not in [c.name for c, _ in short.pool_]
    assert any(row["note"].startswith("seq_len 12 needs") for row in short.candidates_)
    with pytest.raises(ConfigError, match="unknown model 'lsmt'; valid models are rnn, lstm"):
        Forecaster(model="lsmt").fit(tiny_series())
    with pytest.raises(ConfigError, match="unknown lr_schedule 'step'"):
        Forecaster(lr_schedule="step", **TINY).fit(tiny_series())
