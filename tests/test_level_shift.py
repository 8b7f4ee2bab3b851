"""The default model after an abrupt level shift, and the `--scaler auto` rule (issue 11)."""

import numpy as np
import pandas as pd
import pytest

from rnnlab import windows
from rnnlab.forecaster import Forecaster, choose_scaler

N, N_FIT, DROP_AT = 600, 480, 540


def seasonal_with_drop(drop: float = -3.0, seed: int = 0) -> pd.Series:
    """5 + sin(2 pi t / 40) + N(0, 0.1), the level falling by `drop` at step 540."""
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    values = 5 + np.sin(2 * np.pi * t / 40) + 0.1 * rng.standard_normal(N)
    values[DROP_AT:] += drop
    return pd.Series(values, name="drop_test")


def fit(series: pd.Series, **params) -> Forecaster:
    params = {"epochs": 2, "progress": False, **params}
    return Forecaster(**params).fit(series.iloc[:N_FIT], val_size=60)


def after_drop_ratio(forecaster: Forecaster, series: pd.Series, steps: int = 20) -> float:
    pred = forecaster.predict(series.iloc[N_FIT - forecaster.seq_len:])
    actual = series.iloc[DROP_AT:DROP_AT + steps].to_numpy()
    model = pred.loc[DROP_AT:DROP_AT + steps - 1].to_numpy()
    naive = series.iloc[DROP_AT - 1:DROP_AT + steps - 1].to_numpy()
    return float(np.sqrt(np.mean((model - actual) ** 2) / np.mean((naive - actual) ** 2)))


# auto is the default; standard (what main's auto picked for a stationary training part)
# is the representation that cannot leave the old level without the tracking.
@pytest.mark.parametrize("scaler", ["auto", "standard"])
def test_default_model_recovers_after_a_drop_within_a_few_steps(scaler):
    series = seasonal_with_drop()
    forecaster = fit(series, scaler=scaler)
    assert after_drop_ratio(forecaster, series) <= 1.5
    # Past the first steps the model is back to its own accuracy, well under naive's.
    pred = forecaster.predict(series.iloc[N_FIT - 30:])
    late = (pred.loc[DROP_AT + 15:] - series.loc[DROP_AT + 15:]).to_numpy()
    assert np.sqrt(np.mean(late**2)) < 0.2


def test_without_tracking_the_same_model_stays_at_the_old_level():
    series = seasonal_with_drop()
    forecaster = fit(series, scaler="standard")
    forecaster.error_scale_ = None  # what main did
    assert after_drop_ratio(forecaster, series) > 2.0


def test_no_shift_means_no_change_to_the_predictions():
    series = seasonal_with_drop(drop=0.0)
    forecaster = fit(series)
    tracked = forecaster.predict(series)
    raw = forecaster._predict_next(series.to_numpy(np.float64), all_windows=True)
    np.testing.assert_array_equal(tracked.to_numpy(), raw)


@pytest.mark.parametrize("series", [
    seasonal_with_drop(drop=0.0),
    pd.Series(np.cumsum(np.random.default_rng(3).standard_normal(N)) + 50, name="walk"),
], ids=["stationary", "random_walk"])
def test_auto_does_not_flip_on_a_borderline_adf_p_value(monkeypatch, series):
    kinds = set()
    for p in (0.049, 0.051):
        monkeypatch.setattr(windows, "adf_pvalue", lambda values, p=p: p)
        kinds.add(fit(series, model="linear").scaler_.kind)
        kinds.add(choose_scaler(series.to_numpy()[:N_FIT], 420, 30).kind)
    assert len(kinds) == 1


def test_auto_keeps_standard_for_noise_and_window_for_a_random_walk():
    # Only the level predicts white noise: a window of changes cannot see it.
    noise = 5 + np.random.default_rng(3).standard_normal(N_FIT)
    walk = np.cumsum(np.random.default_rng(3).standard_normal(N_FIT)) + 50
    assert choose_scaler(noise, 420, 30).kind == "standard"
    assert choose_scaler(walk, 420, 30).kind == "window"


def test_changing_the_test_part_changes_nothing_the_rule_chose():
    series = seasonal_with_drop()
    other = series.copy()
    other.iloc[N_FIT:] = other.iloc[N_FIT:] * -3 + 40  # a different future entirely
    a, b = fit(series, scaler="standard"), fit(other, scaler="standard")
    assert a.scaler_ == b.scaler_
    a, b = fit(series), fit(other)
    assert a.scaler_ == b.scaler_
    assert a.error_scale_ == b.error_scale_


def test_a_prediction_never_reads_its_own_or_later_values():
    series = seasonal_with_drop()
    forecaster = fit(series, scaler="standard")
    base = forecaster.predict(series)
    for cut in (DROP_AT + 1, DROP_AT + 3, DROP_AT + 14, N - 5):
        moved = series.copy()
        moved.iloc[cut:] += 7.0
        pred = forecaster.predict(moved)
        np.testing.assert_array_equal(pred.loc[:cut].to_numpy(), base.loc[:cut].to_numpy())


def test_error_scale_survives_save_and_load(tmp_path):
    series = seasonal_with_drop()
    forecaster = fit(series)
    forecaster.save(tmp_path / "m.pt")
    loaded = Forecaster.load(tmp_path / "m.pt")
    assert loaded.error_scale_ == forecaster.error_scale_
    np.testing.assert_allclose(loaded.predict(series), forecaster.predict(series))


def test_forecast_after_a_drop_continues_at_the_new_level(tmp_path):
    from rnnlab.fastpath import load_fast

    series = seasonal_with_drop()
    forecaster = fit(series, scaler="standard")
    forecaster.set_history(series)  # the drop is 60 steps back, before the 50-value tail
    future = forecaster.forecast(10).to_numpy()
    assert ((future > 0.5) & (future < 3.5)).all()  # the new level 2, season +-1
    forecaster.save(tmp_path / "m.pt")
    np.testing.assert_allclose(load_fast(tmp_path / "m.pt").forecast(10).to_numpy(), future,
                               atol=1e-4)
    np.testing.assert_allclose(Forecaster.load(tmp_path / "m.pt").forecast(10).to_numpy(),
                               future, atol=1e-6)
    forecaster.error_scale_ = None  # what main did: back towards the old level
    forecaster.set_history(series)
    assert forecaster.forecast(10).to_numpy().mean() > 3.5
