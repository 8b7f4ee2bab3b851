"""Many steps ahead, the linear part averages the best few forms on the validation part,
seasonal naive among them (`rnnlab.forecaster.rank_forms`, `combined_forms`, `linear_map`,
`as_skip`)."""

import numpy as np
import pandas as pd
import pytest

from rnnlab.diagnostics import repeated_season
from rnnlab.forecaster import (
    COMBINED_CAP,
    COMBINED_FORMS,
    Forecaster,
    as_skip,
    combined_forms,
    fit_scaler,
    form_label,
    linear_map,
    linear_paths,
    rank_forms,
    standard_doubt,
)
from rnnlab.report import horizon_reading


def seasonal_trend(n: int = 600, seed: int = 0) -> pd.Series:
    """A monthly-like series: a season of 12, a slow trend and AR(1) noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 0.5)
    values = 50 + 0.02 * t + 4 * np.sin(2 * np.pi * t / 12) + noise
    return pd.Series(values, index=pd.date_range("1970-01-01", periods=n, freq="MS"),
                     name="seasonal")


def windows_of(values: np.ndarray, seq_len: int, start: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(values, seq_len)[start - seq_len:]


@pytest.mark.parametrize("kinds", [("standard", "window"), ("window", "window")])
def test_the_average_map_is_held_exactly_by_the_units_it_is_trained_in(kinds):
    values = seasonal_trend().to_numpy()
    n_train, seq_len, horizon = 480, 24, 6
    strategies = ("recursive", "direct")
    maps = []
    for kind, strategy in zip(kinds, strategies, strict=True):
        scaler = fit_scaler(kind, values[:n_train])
        maps.append(linear_map(values[:540], n_train, seq_len, horizon, scaler, strategy, None))
    slopes = np.mean([m[0] for m in maps], axis=0)
    offsets = np.mean([m[1] for m in maps], axis=0)
    # Relative units only where every form's are: otherwise the standard scaler's.
    target = fit_scaler("window" if kinds == ("window", "window") else "standard",
                        values[:n_train])
    weights, bias = as_skip(slopes, offsets, target)
    x = windows_of(values[:540], seq_len, n_train)  # raw windows
    made = target.from_units(linear_paths(weights, bias, target.to_units(x), horizon,
                                          target.relative))
    wanted = np.mean([x @ a + c for a, c in maps], axis=0)
    np.testing.assert_allclose(made, wanted, rtol=1e-9, atol=1e-9)
    # The members differ, so the average is neither of them.
    assert np.abs((x @ maps[0][0] + maps[0][1]) - wanted).max() > 1e-3


def test_a_form_s_map_is_its_own_linear_forecast():
    values = seasonal_trend().to_numpy()[:540]
    scaler = fit_scaler("window", values[:480])
    slopes, offsets = linear_map(values, 480, 24, 6, scaler, "recursive", None)
    # Relative forms move with the level: a shifted window gives a shifted path.
    np.testing.assert_allclose(slopes.sum(0), 1.0, atol=1e-9)
    fitted = Forecaster(model="linear", seq_len=24, horizon=6, scaler="window",
                        strategy="recursive", progress=False)
    fitted.fit(pd.Series(values), val_size=60)
    fitted.error_scale_ = None  # level tracking off: the bare linear part
    origins = np.arange(480, 535)
    x = windows_of(values, 24, 480)[:len(origins)]
    # The linear model is the linear part alone: once chosen, it is fitted again on the
    # training and validation windows, with the strength validation chose.
    assert fitted.refit_
    again = linear_map(values, 480, 24, 6, scaler, "recursive", None, refit=True)
    np.testing.assert_allclose(fitted.paths_from(values, origins, 6), x @ again[0] + again[1],
                               rtol=1e-5, atol=1e-4)
    assert np.abs((x @ slopes + offsets) - (x @ again[0] + again[1])).max() > 1e-4


def test_auto_averages_the_best_forms_and_forecasts_their_mean():
    series = seasonal_trend()
    fit_part, val = series.iloc[:540], 60
    fitted = Forecaster(model="linear", seq_len=24, horizon=6, progress=False)
    fitted.fit(fit_part, val_size=val)
    found, longer = repeated_season(fit_part.to_numpy()[:480])
    period = longer or found
    assert period == 12
    forms = combined_forms(rank_forms(fit_part.to_numpy(), 480, 24, 6, repeat=period),
                           standard_doubt(fit_part.to_numpy()[:480]))
    assert fitted.strategy_ == "direct" and len(fitted.forms_) == COMBINED_FORMS
    assert fitted.forms_ == [form_label(*form) for form in forms]
    values = series.to_numpy()
    origins = np.arange(540, len(values) - 5)
    members = []
    for scaler, strategy, anchor in forms:
        if strategy == "repeat":
            steps = np.arange(6)
            members.append(values[origins[:, None] - anchor + steps % anchor])
            continue
        member = Forecaster(model="linear", seq_len=24, horizon=6, scaler=scaler.kind,
                            strategy=strategy, progress=False).fit(fit_part, val_size=val)
        member.error_scale_ = None
        members.append(member.paths_from(values, origins, 6))
    fitted.error_scale_ = None
    np.testing.assert_allclose(fitted.paths_from(values, origins, 6),
                               np.mean(members, axis=0), rtol=1e-5, atol=1e-4)


def test_seasonal_naive_is_a_form_and_leads_where_each_season_walks():
    # x[t] = x[t - 12] + noise: repeating the last season is the best forecast there is.
    rng = np.random.default_rng(3)
    walks = np.cumsum(rng.normal(0, 1, (60, 12)), axis=0).ravel()
    values = 50 + walks + 5 * np.tile(np.sin(np.arange(12)), 60)
    ranked = rank_forms(values[:660], 600, 24, 6, repeat=12)
    assert form_label(*ranked[0][:3]) == "seasonal naive with period 12"
    slopes, offsets = linear_map(values, 600, 24, 6, ranked[0][0], "repeat", 12)
    x = windows_of(values[:660], 24, 600)
    np.testing.assert_array_equal(x @ slopes + offsets,
                                  x[:, 12 + np.arange(6) % 12])  # the value 12 steps back
    assert form_label(ranked[0][0], "repeat", 1) == "naive"
    # Without the repeat it is not ranked at all.
    assert all(form[1] != "repeat" for form in rank_forms(values[:660], 600, 24, 6))


def test_no_average_one_step_ahead_for_a_set_strategy_or_without_a_linear_part():
    series = seasonal_trend(400)
    one = Forecaster(model="linear", seq_len=24, progress=False).fit(series, val_size=60)
    assert one.forms_ is None and one.strategy_ == "recursive"
    set_ = Forecaster(model="linear", seq_len=24, horizon=6, strategy="recursive",
                      progress=False).fit(series, val_size=60)
    assert set_.forms_ is None and set_.strategy_ == "recursive"
    bare = Forecaster(model="rnn", seq_len=24, horizon=6, linear_skip=False, epochs=1,
                      progress=False).fit(series, val_size=60)
    assert bare.forms_ is None


def test_the_forms_survive_a_checkpoint_and_reach_the_reading(tmp_path):
    series = seasonal_trend(400)
    fitted = Forecaster(model="linear", seq_len=24, horizon=6, progress=False)
    fitted.fit(series.iloc[:340], val_size=50)
    fitted.save(tmp_path / "model.pt")
    loaded = Forecaster.load(tmp_path / "model.pt")
    assert loaded.forms_ == fitted.forms_ and len(loaded.forms_) >= 2
    values = series.to_numpy()
    origins = np.arange(340, 395)
    np.testing.assert_allclose(loaded.paths_from(values, origins, 6),
                               fitted.paths_from(values, origins, 6), rtol=1e-6)
    steps = {"horizon": 6, "strategy": "direct", "forms": fitted.forms_, "origins": 55,
             "overall": {"model": {"rmse": 1.0}, "naive": {"rmse": 2.0}},
             "per_step": {"model": {"rmse": [1.0] * 6}, "naive": {"rmse": [2.0] * 6}}}
    reading = horizon_reading(steps, "linear")
    assert f"the mean of the {len(fitted.forms_)} forms that forecast" in reading
    assert f"{fitted.forms_[-2]} and {fitted.forms_[-1]}) scores" in reading


def test_a_form_far_worse_than_the_best_is_left_out_of_the_average():
    scaler = fit_scaler("standard", np.arange(10.0))
    ranked = [(scaler, "recursive", None, 1.0), (scaler, "direct", None, 2.9),
              (scaler, "repeat", 12, 3.1), (scaler, "direct", 24, 3.2)]
    assert combined_forms(ranked) == [form[:3] for form in ranked[:2]]
    assert COMBINED_CAP == 3.0 and COMBINED_FORMS == 3
    # The best alone: no average, the plain fit of that form.
    assert combined_forms([ranked[0], (scaler, "direct", None, 3.5)]) is None
    # Seasonal naive alone is still the linear part it stands for.
    assert combined_forms([(scaler, "repeat", 12, 1.0), ranked[0][:3] + (9.0,)]) == \
        [(scaler, "repeat", 12)]


def test_standard_forms_stay_out_where_no_change_forecasts_best():
    standard = fit_scaler("standard", np.arange(10.0))
    window = fit_scaler("window", np.arange(10.0))
    ranked = [(window, "repeat", 1, 1.0), (standard, "direct", None, 1.01),
              (window, "direct", None, 1.02), (standard, "recursive", None, 1.03)]
    # Naive leads (a random walk): the standard forms stay out.
    assert combined_forms(ranked) == [ranked[0][:3], ranked[2][:3]]
    # Seasonal naive or a relative fit leading is no random walk: standard forms may join.
    for lead in ((window, "repeat", 12, 1.0), (window, "recursive", None, 1.0)):
        led = [lead, *ranked[1:]]
        assert combined_forms(led) == [form[:3] for form in led[:COMBINED_FORMS]]


def test_an_exact_recurrence_keeps_its_exact_forecasts():
    t = np.arange(800)
    values = np.sin(0.3 * t) + 0.5 * np.sin(0.71 * t)  # exact: a linear recurrence of order 4
    series = pd.Series(values, name="exact")
    fitted = Forecaster(model="linear", seq_len=24, horizon=8, progress=False)
    fitted.fit(series.iloc[:700], val_size=80)
    origins = np.arange(700, 793)
    made = fitted.paths_from(values, origins, 8)
    assert np.sqrt(np.mean((made - values[origins[:, None] + np.arange(8)]) ** 2)) < 1e-3


def test_the_reading_names_one_form_kept_alone():
    steps = {"horizon": 4, "strategy": "direct", "forms": ["seasonal naive with period 12"],
             "origins": 20, "overall": {"model": {"rmse": 1.0}, "naive": {"rmse": 2.0}},
             "per_step": {"model": {"rmse": [1.0] * 4}, "naive": {"rmse": [2.0] * 4}}}
    reading = horizon_reading(steps, "lstm")
    assert "its linear part seasonal naive with period 12, which forecast the validation" \
        in reading
    assert "average" not in reading


def test_a_stopped_horizon_run_resumes_to_the_same_scores(tmp_path, monkeypatch):
    from helpers import stop_after
    from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from rnnlab.runs import run_train

    config = RunConfig(DataConfig("co2"),
                       ModelConfig(seq_len=30, hidden_size=8, num_layers=1, horizon=6),
                       TrainConfig(epochs=4, patience=1000, batch_size=64))
    timing = ("train_seconds", "wall_seconds")
    reference = run_train(config, tmp_path / "ref", plots=False, progress=False)
    assert len(reference["multi_step"]["forms"]) >= 2
    with monkeypatch.context() as patch:
        patch.setattr("rnnlab.runs.interruptible", lambda: stop_after(2))
        stopped = run_train(config, tmp_path / "run", plots=False, progress=False)
    assert stopped["status"] == "incomplete"
    resumed = run_train(config, tmp_path / "run", resume=True, plots=False, progress=False)
    assert {k: v for k, v in resumed.items() if k not in timing} == \
        {k: v for k, v in reference.items() if k not in timing}
    assert Forecaster.load(tmp_path / "run" / "model.pt").forms_ == \
        reference["multi_step"]["forms"]


def test_one_form_alone_keeps_window_scaling_where_validation_leaves_the_range():
    from rnnlab.forecaster import _leaves_range

    # A steady climb with small wiggles: the validation part lies above the training range.
    t = np.arange(120)
    values = 100 + 0.5 * t + np.sin(t) + np.random.default_rng(5).normal(0, 0.2, 120)
    assert _leaves_range(values[:100], values[100:])
    assert not _leaves_range(np.sin(t[:100]), np.sin(t[100:]))
    assert not _leaves_range(values[:100], values[100:100])
    series = pd.Series(values, name="climb")
    one = Forecaster(model="linear", seq_len=12, progress=False).fit(series, val_size=20)
    assert one.scaler_.kind == "window"
    # Standard may still win where the validation part stays inside the range.
    noise = pd.Series(5 + np.random.default_rng(6).normal(size=400), name="noise")
    assert Forecaster(model="linear", seq_len=12, progress=False).fit(
        noise, val_size=60).scaler_.kind == "standard"
