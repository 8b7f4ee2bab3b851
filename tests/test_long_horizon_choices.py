"""The choices made for many steps ahead: the window's season, the body's length, and the
linear fit anchored on a long season (issue 11)."""

import numpy as np
import pandas as pd

from rnnlab.baselines import SeasonalNaiveForecaster
from rnnlab.diagnostics import longer_season
from rnnlab.forecaster import Forecaster
from rnnlab.windows import choose_seq_len


def weekly_hours(weeks: int = 6, seed: int = 0) -> np.ndarray:
    """Hourly values with a daily cycle and a lower weekend: the week repeats, the day not."""
    hours = np.arange(24 * 7 * weeks)
    rng = np.random.default_rng(seed)
    day = 10 + 3 * np.sin(2 * np.pi * hours / 24)
    weekend = np.where(hours % 168 >= 120, -4.0, 0.0)
    return day + weekend + rng.normal(0, 0.3, len(hours))


def test_a_weekly_season_under_a_daily_one_sets_the_window():
    train = weekly_hours()
    choice = choose_seq_len(train, 700)
    assert choice.period == 24 and choice.seq_len == 168
    assert "a season of 168 steps (7 x the period 24" in choice.reason
    # Seasonal naive repeats the week too; M4's m (base_period_) stays the day.
    series = pd.Series(train, index=pd.date_range("2024-01-01", periods=len(train), freq="h"))
    fit = SeasonalNaiveForecaster().fit(series)
    assert (fit.period_, fit.base_period_) == (168, 24)


def test_a_daily_season_alone_keeps_two_days_and_noise_finds_no_longer_season():
    hours = np.arange(24 * 7 * 6)
    daily = 10 + 3 * np.sin(2 * np.pi * hours / 24) + \
        np.random.default_rng(1).normal(0, 0.3, len(hours))
    assert longer_season(daily, 24, 500) is None
    assert choose_seq_len(daily, 700).seq_len == 48
    assert longer_season(np.random.default_rng(2).normal(size=800), 7, 400) is None
    assert longer_season(daily, None, 500) is None


def test_the_longer_season_must_fit_in_the_limit():
    assert longer_season(weekly_hours(), 24, 100) is None  # 168 does not fit in 100


def test_the_body_reads_only_its_recurrent_len_and_the_skip_the_whole_window():
    import torch

    from rnnlab.config import ModelConfig
    from rnnlab.models import build_model

    for model in ("lstm", "transformer", "gru"):
        torch.manual_seed(0)
        net = build_model(ModelConfig(model=model, seq_len=40, recurrent_len=10,
                                      linear_skip=False))
        for p in net.parameters():  # a non-zero head, so the body shows in the output
            torch.nn.init.normal_(p, std=0.3)
        x = torch.randn(5, 40, 1)
        early = x.clone()
        early[:, :30] = torch.randn(5, 30, 1)  # only what the body does not read
        late = x.clone()
        late[:, -3:] += 1.0
        with torch.no_grad():
            assert torch.allclose(net(x), net(early)), model
            assert not torch.allclose(net(x), net(late)), model


def test_a_window_spanning_a_longer_season_gets_a_short_body_that_survives_a_checkpoint(
        tmp_path):
    values = weekly_hours(weeks=6)
    series = pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values),
                                                   freq="h"))
    fit = Forecaster(epochs=2, horizon=12, progress=False).fit(series, val_size=100)
    assert (fit.seq_len, fit.recurrent_len, fit.model_.recent) == (168, 48, 48)
    fit.save(tmp_path / "m.pt")
    assert not list(tmp_path.glob("*.npz"))  # the numpy fast path reads whole windows only
    loaded = Forecaster.load(tmp_path / "m.pt")
    assert (loaded.recurrent_len, loaded.model_.recent) == (48, 48)
    assert np.allclose(fit.forecast(12).to_numpy(), loaded.forecast(12).to_numpy())
    own = Forecaster(epochs=1, recurrent_len=20, progress=False).fit(series, val_size=100)
    assert (own.seq_len, own.model_.recent) == (168, 20)  # a length given always wins
    given = Forecaster(epochs=1, seq_len=168, progress=False).fit(series, val_size=100)
    assert given.model_.recent is None  # a window given: the body reads all of it


def test_an_anchored_ridge_shrinks_towards_seasonal_naive():
    import torch

    from rnnlab.train import fit_ridge
    from rnnlab.windows import Windows

    rng = np.random.default_rng(5)
    season = rng.normal(size=12)
    # Noisy seasons to train on, then exact ones to validate on: there the strongest
    # shrinkage is best, and for an anchored fit that is seasonal naive itself.
    values = np.tile(season, 60) + np.r_[rng.normal(0, 0.5, 600), np.zeros(120)]
    z = torch.as_tensor(values, dtype=torch.float32)
    for horizon in (1, 6):
        train = Windows(z, 24, 24, 600, False, horizon)
        val = Windows(z, 24, 624, 720, False, horizon)
        weights, bias, strength = fit_ridge(train, val, anchor=12)
        selector = np.zeros((24, horizon))
        selector[12 + np.arange(horizon) % 12, np.arange(horizon)] = 1.0
        assert np.abs(np.reshape(weights, (24, horizon)) - selector).max() < 0.02, horizon
        plain, _, _ = fit_ridge(train, val)  # shrinks towards the mean instead
        assert np.abs(np.reshape(plain, (24, horizon)) - selector).max() > 0.05, horizon


def test_a_wandering_level_does_not_hide_the_year_under_its_quarter():
    """Monthly orders (statsmodels' elec_equip) whose periodogram peaks at the quarter and
    whose level wanders: on the values, repeating last year erred about as much as the
    last quarter, since the level drifts further over 12 months than over 3. On the
    changes the year repeats clearly better, and seasonal naive repeats it."""
    from statsmodels.datasets import elec_equip

    orders = elec_equip.load().data.iloc[:, 0].astype(np.float64)
    train = orders.to_numpy()[:180]
    assert longer_season(train, 3, 90) == 12
    fit = SeasonalNaiveForecaster().fit(orders.iloc[:206], val_size=26)
    assert (fit.base_period_, fit.period_) == (3, 12)
    # inspect says so beside the period it finds.
    from rnnlab.diagnostics import inspect

    assert any(line.startswith("a season of 12 samples (4 x the period 3)")
               for line in inspect(orders).findings)
