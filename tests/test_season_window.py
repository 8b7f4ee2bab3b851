"""The default window covers two seasons of a period found on the training part, and the
seasonal naive baseline uses that same period; a seq_len given by the caller always wins."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from helpers import stop_after
from rnnlab.backtest import baseline_predictions
from rnnlab.baselines import SeasonalNaiveForecaster
from rnnlab.cli import cli
from rnnlab.config import DEFAULT_SEQ_LEN, ModelConfig, RunConfig, build, from_flat
from rnnlab.data import load_series
from rnnlab.diagnostics import find_period
from rnnlab.experiment import compare
from rnnlab.forecaster import Forecaster
from rnnlab.runs import forecast_run, run_train
from rnnlab.windows import (
    choose_seq_len,
    longest_seq_len,
    min_length,
    seq_len_for_split,
    split_sizes,
)

TINY = dict(epochs=2, hidden_size=4, num_layers=1, patience=1)


def hourly(n: int = 600, seed: int = 0) -> pd.Series:
    """A daily season on hourly data, with noise."""
    hours = np.arange(n)
    noise = np.random.default_rng(seed).normal(scale=0.3, size=n)
    values = 10 + 3 * np.sin(2 * np.pi * hours / 24) + noise
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=n, freq="h"),
                     name="load")


def noise(n: int = 600) -> pd.Series:
    return pd.Series(np.random.default_rng(1).normal(size=n), name="noise")


def write_csv(series: pd.Series, path) -> str:
    series.rename_axis("date").reset_index().to_csv(path, index=False)
    return str(path)


def config_for(source: str, **params) -> RunConfig:
    config = from_flat({**TINY, **params})
    config.data.source = source
    return config


# --- the choice itself ----------------------------------------------------------------


def test_a_daily_season_on_hourly_data_gets_two_days():
    choice = seq_len_for_split(hourly().to_numpy(), 0.1, 0.2)
    assert (choice.seq_len, choice.period) == (48, 24)
    assert choice.reason == ("seq_len 48: two seasons of the period 24 found on the "
                             "training part (--seq-len sets it)")


def test_a_series_without_a_season_keeps_the_default():
    choice = seq_len_for_split(noise().to_numpy(), 0.1, 0.2)
    assert (choice.seq_len, choice.period) == (DEFAULT_SEQ_LEN, None) == (30, None)
    assert choice.reason == ("seq_len 30 (default; no season found on the training part; "
                             "--seq-len sets it)")


def test_a_short_season_keeps_the_default_and_says_it_spans_two():
    hours = np.arange(600)
    choice = seq_len_for_split(np.sin(2 * np.pi * hours / 7), 0.1, 0.2)
    assert (choice.seq_len, choice.period) == (30, 7)
    assert "default; it spans two seasons of the period 7" in choice.reason


def test_a_given_seq_len_wins_and_the_period_is_still_named():
    choice = seq_len_for_split(hourly().to_numpy(), 0.1, 0.2, given=20)
    assert (choice.seq_len, choice.period) == (20, 24)
    assert choice.reason == "seq_len 20 (set by --seq-len; the training part has the period 24)"


def test_two_seasons_that_do_not_fit_give_the_longest_window_that_does():
    choice = choose_seq_len(hourly().to_numpy()[:420], longest=40)
    assert (choice.seq_len, choice.period) == (40, 24)
    assert "the longest window the series allows; two seasons of the period 24 found on " \
        "the training part need 48" in choice.reason


def test_a_short_series_gets_a_window_that_fits_its_split():
    values = noise(50).to_numpy()
    longest = longest_seq_len(50, 0.1, 0.2)
    assert 1 <= longest < DEFAULT_SEQ_LEN
    assert min_length(longest, 0.1, 0.2) <= 50 < min_length(longest + 1, 0.1, 0.2)
    choice = seq_len_for_split(values, 0.1, 0.2)
    assert choice.seq_len == longest
    split_sizes(50, choice.seq_len, 0.1, 0.2)  # accepted: no DataError
    assert "the default 30 does not fit" in choice.reason


def test_only_the_training_part_is_read():
    values = hourly(1000).to_numpy()
    n_train = split_sizes(1000, 30, 0.1, 0.2).n_train
    before = seq_len_for_split(values, 0.1, 0.2)
    moved = values.copy()
    rng = np.random.default_rng(7)
    # Another season, far larger, in the validation and test parts only.
    moved[n_train:] = 50 * np.sin(2 * np.pi * np.arange(1000 - n_train) / 60) + \
        rng.normal(size=1000 - n_train)
    assert seq_len_for_split(moved, 0.1, 0.2) == before
    fit_part = pd.Series(moved[:900])
    naive_before = SeasonalNaiveForecaster().fit(pd.Series(values[:900]), val_size=200)
    naive_after = SeasonalNaiveForecaster().fit(fit_part, val_size=200)
    assert naive_before.period_ == naive_after.period_ == before.period == 24


def test_seasonal_naive_finds_its_period_on_the_training_part_like_the_window():
    series = hourly(1000)
    split = split_sizes(1000, 30, 0.1, 0.2)
    series.iloc[split.n_train:split.n_fit] += 40 * np.sin(np.arange(split.n_val) / 3)
    _, period = baseline_predictions(series, split)
    assert period == seq_len_for_split(series.to_numpy(), 0.1, 0.2).period == 24


def test_co2_shows_its_yearly_season_on_its_training_part():
    """co2's half-year harmonic outstands its year against red noise on the first 70%: the
    period is the multiple whose autocorrelation is positive, as on the whole series."""
    values = load_series("co2").to_numpy()
    n_train = split_sizes(len(values), 30, 0.1, 0.2).n_train
    assert find_period(values[:n_train]) == find_period(values) == 12


# --- the estimator ---------------------------------------------------------------------


def test_forecaster_chooses_at_fit_and_keeps_the_number():
    series = hourly(500)
    f = Forecaster(**TINY, progress=False)
    assert f.seq_len is None
    f.fit(series, val_size=50)
    assert f.seq_len == 48 and f.window_.period == 24
    assert f.get_params()["seq_len"] == 48
    assert f.predict(series).index[0] == series.index[48]
    f.fit(noise(500), val_size=50)  # a refit chooses again for the new series
    assert f.seq_len == 30


def test_forecaster_given_seq_len_wins(tmp_path):
    f = Forecaster(seq_len=20, **TINY, progress=False).fit(hourly(500), val_size=50)
    assert f.seq_len == 20 and not hasattr(f, "window_")
    f.save(tmp_path / "m.pt")
    assert Forecaster.load(tmp_path / "m.pt").seq_len == 20


# --- a run -----------------------------------------------------------------------------


def test_the_run_records_the_window_and_resume_and_forecast_use_it(tmp_path, monkeypatch):
    source = write_csv(hourly(600), tmp_path / "load.csv")
    config = config_for(source, epochs=4, patience=10)
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr("rnnlab.runs.interruptible", lambda: stop_after(1))
        stopped = run_train(config, out, plots=False, progress=False)
    assert stopped["status"] == "incomplete"
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["seq_len"] == 48
    assert saved["window"] == {"seq_len": 48, "period": 24, "reason": (
        "seq_len 48: two seasons of the period 24 found on the training part "
        "(--seq-len sets it)"), "recurrent_len": None}
    assert config.model.seq_len is None  # the caller's config is left as it was
    resumed = run_train(None, out, resume=True, plots=False, progress=False)
    assert resumed["status"] == "complete"
    assert resumed["seq_len"] == 48 and resumed["window"] == saved["window"]["reason"]
    assert resumed["seasonal_period"] == 24  # seasonal naive uses the window's period
    assert Forecaster.load(out / "model.pt").seq_len == 48
    assert len(forecast_run(out, horizon=3)) == 3


def test_a_run_with_a_given_seq_len_keeps_it(tmp_path):
    source = write_csv(hourly(600), tmp_path / "load.csv")
    metrics = run_train(config_for(source, seq_len=20), tmp_path / "run", plots=False,
                        progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["seq_len"] == metrics["seq_len"] == 20
    assert metrics["seasonal_period"] == 24


def test_a_run_on_a_short_series_trains_with_a_window_that_fits(tmp_path):
    source = write_csv(noise(50).set_axis(pd.date_range("2024-01-01", periods=50)),
                       tmp_path / "short.csv")
    metrics = run_train(config_for(source), tmp_path / "run", plots=False, progress=False)
    assert metrics["status"] == "complete"
    assert metrics["seq_len"] == longest_seq_len(50, 0.1, 0.2) < 30


def test_train_prints_the_window_line(tmp_path):
    source = write_csv(hourly(600), tmp_path / "load.csv")
    runner = CliRunner()
    tiny = ["--epochs", "1", "--hidden-size", "4", "--num-layers", "1"]
    auto = runner.invoke(cli, ["train", "--data", source, *tiny, "--no-progress",
                               "--out", str(tmp_path / "a")])
    assert auto.exit_code == 0, auto.output
    assert ("seq_len 48: two seasons of the period 24 found on the training part "
            "(--seq-len sets it)\n") in auto.output
    given = runner.invoke(cli, ["train", "--data", source, *tiny, "--seq-len", "20",
                                "--no-progress", "--out", str(tmp_path / "g")])
    assert given.exit_code == 0, given.output
    assert "seq_len 20 (set by --seq-len; the training part has the period 24)\n" in \
        given.output


def test_compare_resolves_the_window_per_series(tmp_path):
    source = write_csv(hourly(400), tmp_path / "load.csv")
    results = compare(source, models="linear", seeds=1, out=str(tmp_path / "c"), jobs=1,
                      progress=False, **TINY)
    assert results["seq_len_used"].tolist() == [48]
    assert results["seasonal_period"].tolist() == [24]


@pytest.mark.parametrize("text", ["none", ""])
def test_seq_len_none_from_a_sweep_param_means_auto(text):
    assert build(ModelConfig, {"seq_len": text}).seq_len is None


def test_inspect_names_the_window_train_would_choose():
    from click.testing import CliRunner

    from rnnlab.cli import cli

    text = CliRunner().invoke(cli, ["inspect", "--data", "sine"])
    assert text.exit_code == 0, text.output
    assert "rnnlab train's default window: seq_len 126: two seasons of the period 63" in \
        text.output
    as_json = CliRunner().invoke(cli, ["inspect", "--data", "noise", "--json"])
    payload = json.loads(as_json.output)
    assert payload["train_seq_len"] == 30 and "no season" in payload["train_window"]
