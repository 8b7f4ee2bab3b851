"""The candidate pool (issue 23): each candidate's contract, the folds, the one rule, and
what it chooses on simulated processes whose right answer is known."""

import warnings

import numpy as np
import pandas as pd
import pytest

from rnnlab.candidates import ETS, TSB, Linear, Mean, Naive, SeasonalNaive, Theta
from rnnlab.choose import COMBINE_FACTOR, choose, combine, make_folds, plausible
from rnnlab.errors import DataError
from rnnlab.forecaster import Forecaster

FAST = dict(hidden_size=8, num_layers=1, epochs=3, progress=False)


def monthly(values) -> pd.Series:
    return pd.Series(np.asarray(values, float),
                     index=pd.date_range("1990-01-01", periods=len(values), freq="MS"))


def seasonal_series(n=180, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 0.3 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1.5, n)


# --- each candidate --------------------------------------------------------------------


@pytest.mark.parametrize("form", [(None, False, None), ("add", False, "add"),
                                  ("add", True, "mul"), ("add", True, None)])
def test_ets_paths_are_statsmodels_forecasts(form):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = seasonal_series()
    ets = ETS(12).fit(y, form)
    model = ETSModel(y, error="add", trend=form[0], damped_trend=form[1], seasonal=form[2],
                     seasonal_periods=12 if form[2] else None,
                     initialization_method="estimated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(disp=False, maxiter=200)
    np.testing.assert_allclose(ets.paths(y, np.array([len(y)]), 18)[0], result.forecast(18),
                               rtol=1e-9)
    one_step = ets.paths(y, np.arange(len(y)), 1)[:, 0]
    np.testing.assert_allclose(one_step, result.fittedvalues, rtol=1e-9)


def test_theta_paths_are_statsmodels_forecasts():
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = seasonal_series()
    theta = Theta(12).fit(y)
    expected = ThetaModel(y, period=12).fit().forecast(15)
    np.testing.assert_allclose(theta.paths(y, np.array([len(y)]), 15)[0], expected, rtol=1e-9)


ALL = [lambda: Naive(), lambda: SeasonalNaive(12), lambda: Mean(), lambda: ETS(12),
       lambda: Theta(12), lambda: TSB(), lambda: Linear(24, "window", "direct", horizon=6),
       lambda: Linear(24, "standard", "recursive", log=True)]


@pytest.mark.parametrize("make", ALL)
def test_a_path_reads_only_the_values_before_its_origin(make):
    y = seasonal_series()
    candidate = make().fit(y[:120])
    origins = np.arange(100, 150)
    later = y.copy()
    later[140:] += 1000.0
    a, b = candidate.paths(y, origins, 6), candidate.paths(later, origins, 6)
    np.testing.assert_array_equal(a[origins <= 140], b[origins <= 140])
    assert not np.allclose(a[origins > 141], b[origins > 141]) or make is ALL[2]


@pytest.mark.parametrize("make", ALL)
def test_a_saved_state_and_a_tail_forecast_as_the_whole_history(make):
    from rnnlab.candidates import candidate_from_state

    y = seasonal_series()
    candidate = make().fit(y[:150])
    whole = candidate.paths(y, np.array([180]), 8)
    state = candidate.advance(y[:100])
    tail = candidate.paths(y[100:], np.array([80]), 8, state)
    np.testing.assert_allclose(tail, whole, rtol=1e-10)
    again = candidate_from_state(candidate.family, candidate.to_state())
    np.testing.assert_allclose(again.paths(y, np.array([180]), 8), whole, rtol=1e-12)


def test_tsb_decays_towards_zero_while_no_demand_comes():
    y = np.r_[np.tile([0.0, 3.0, 0.0, 0.0, 5.0], 10), np.zeros(30)]
    tsb = TSB().fit(y[:50])
    levels = tsb.paths(y, np.array([50, 60, 80]), 1)[:, 0]
    assert levels[0] > levels[1] > levels[2] > 0


# --- folds and the rule -------------------------------------------------------------------


def test_folds_widen_to_the_budget_and_leave_half_to_fit():
    assert make_folds(300, 24, 38).span == 120  # five folds of 24
    assert make_folds(72, 12, 9).start == 36  # half the values
    assert make_folds(1000, 1, 125).span == 125  # one step ahead: the validation share
    with pytest.raises(DataError, match="need at least 22 .* use a shorter --horizon"):
        make_folds(20, 12, 3, "tiny")


def test_the_rule_keeps_the_best_member_of_each_family_close_to_the_best():
    rng = np.random.default_rng(0)
    base = 1 + rng.random(48)
    losses = np.array([base, base + 0.001, base * 3, base * 1.4, base * 1.6])
    families = ["ets", "ets", "naive", "theta", "linear"]
    weights = choose(losses, families)
    assert weights.tolist() == [0.5, 0.0, 0.0, 0.5, 0.0]  # one member per family
    assert 1.4 < COMBINE_FACTOR < 1.6  # theta at 1.4x joins, linear at 1.6x does not
    weights = choose(losses, families, usable=np.array([0, 1, 1, 1, 1], bool))
    assert weights[0] == 0 and weights[1] > 0  # an implausible member gives way to another


def test_the_kept_forecasts_combine_by_their_median():
    paths = [np.full((2, 3), v) for v in (1.0, 2.0, 30.0)]
    assert combine(paths).tolist() == [[2.0] * 3] * 2  # one runaway moves nothing
    assert combine(paths[:2]).tolist() == [[1.5] * 3] * 2


def test_a_runaway_path_is_not_plausible():
    values = np.r_[np.linspace(10, 20, 50)]
    paths = np.array([[[19.0, 21.0]], [[19.0, -15.0]]])
    assert plausible(paths, values, np.array([50])).tolist() == [True, False]


# --- what the default chooses where the answer is known ------------------------------------


def _ranked(f: Forecaster) -> list[str]:
    rows = [r for r in f.candidates_ if r["loss"] is not None]
    return [r["family"] for r in sorted(rows, key=lambda r: r["loss"])]


def _fit(values, horizon, **params):
    return Forecaster(horizon=horizon, **FAST, **params).fit(monthly(values))


def test_an_ar2_process_is_forecast_by_a_linear_form():
    rng = np.random.default_rng(1)
    x = np.zeros(600)
    for t in range(2, 600):
        x[t] = 1.3 * x[t - 1] - 0.6 * x[t - 2] + rng.normal()
    f = _fit(x, 4, candidates="naive,mean,linear,ets,theta")
    assert _ranked(f)[0] == "linear"
    assert any(c.family == "linear" for c, _ in f.pool_)


def test_a_damped_multiplicative_seasonal_series_is_forecast_by_ets():
    rng = np.random.default_rng(2)
    level, slope, season = 100.0, 2.0, 1 + 0.3 * np.sin(2 * np.pi * np.arange(12) / 12)
    y = []
    for t in range(240):
        slope *= 0.98
        level += slope
        y.append(level * season[t % 12] * (1 + rng.normal(0, 0.02)))
    f = _fit(y, 12, candidates="naive,seasonal_naive,mean,ets,theta")
    assert _ranked(f)[0] == "ets"
    assert any(c.family == "ets" and c.season_ == "mul" for c, _ in f.pool_)


def test_white_noise_is_forecast_by_its_mean_or_a_tie_with_it():
    y = 5 + np.random.default_rng(3).normal(size=400)
    f = _fit(y, 6, candidates="naive,mean,ets,theta")
    assert "mean" in [c.family for c, _ in f.pool_]
    assert abs(f.forecast(6).mean() - 5) < 0.3


def test_a_random_walk_is_forecast_by_naive():
    y = 50 + np.cumsum(np.random.default_rng(4).normal(size=500))
    f = _fit(y, 8, candidates="naive,mean,theta,linear")
    assert _ranked(f)[0] in ("naive", "theta", "linear")
    assert "mean" not in [c.family for c, _ in f.pool_]
    assert "naive" in [c.family for c, _ in f.pool_]


def _ranked_names(f: Forecaster) -> list[str]:
    rows = [r for r in f.candidates_ if r["loss"] is not None]
    return [r["name"] for r in sorted(rows, key=lambda r: r["loss"])]


def test_intermittent_counts_are_forecast_by_tsb_or_a_zero_aware_naive():
    rng = np.random.default_rng(5)
    y = np.where(rng.random(150) < 0.2, rng.integers(1, 6, 150), 0).astype(float)
    f = _fit(y, 6, candidates="naive,mean,intermittent,ets,theta")
    # Most values are zero: TSB, naive, or the median (zero) forecast best.
    assert _ranked_names(f)[0] in ("intermittent", "naive", "median")
    assert (f.forecast(6) >= 0).all()


def test_demand_that_stopped_is_forecast_as_stopped():
    """As sktime's PBS series: monthly counts, zero for the last three years."""
    rng = np.random.default_rng(6)
    y = np.r_[rng.poisson(4, 84).astype(float), np.zeros(36)]
    f = _fit(y, 12)
    assert "mean" not in [c.name for c, _ in f.pool_]
    assert f.forecast(12).max() < 0.5


def test_no_forecast_goes_below_zero_where_the_data_never_did():
    y = np.r_[np.linspace(100, 5, 120), np.full(4, 4.0)]  # a steep fall to near zero
    f = _fit(y, 24)
    assert (f.forecast(24) >= 0).all()
    assert (f.forecast_interval(24)["lower"] >= 0).all()


def test_the_table_lists_every_candidate_and_the_weights_sum_to_one():
    f = _fit(seasonal_series(), 6)
    names = [r["name"] for r in f.candidates_]
    assert len(names) == len(set(names))
    assert {"naive", "seasonal naive 12", "mean", "theta 12"} <= set(names)
    assert np.isclose(sum(r["weight"] for r in f.candidates_), 1)
    assert np.isclose(sum(w for _, w in f.pool_), 1)


def test_a_checkpoint_and_its_numpy_copy_forecast_as_the_fit(tmp_path):
    import subprocess
    import sys

    from rnnlab.fastpath import load_fast, save_fast

    f = _fit(seasonal_series(), 6, model="gru")
    f.save(tmp_path / "m.pt")
    save_fast(f, tmp_path / "m.pt")
    expected = f.forecast_interval(6)
    loaded = Forecaster.load(tmp_path / "m.pt")
    pd.testing.assert_frame_equal(loaded.forecast_interval(6), expected)
    fast = load_fast(tmp_path / "m.pt")
    np.testing.assert_allclose(fast.forecast(6), expected["forecast"], rtol=1e-5)
    script = (f"import sys; from rnnlab.fastpath import load_fast; "
              f"f = load_fast({str(tmp_path / 'm.pt')!r}); print(len(f.forecast(6))); "
              "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["6", "False"]


def test_a_level_shift_after_the_origins_is_followed(tmp_path):
    """`drop`: the level falls by 4 in the test part. The candidates were chosen before it;
    tracking the shift (`rnnlab.base.track_level`) keeps the forecast at the new level."""
    from rnnlab.data import load_series

    series = load_series("drop")
    f = Forecaster(model="linear", horizon=5, progress=False).fit(series.iloc[:800],
                                                                   val_size=100)
    assert f.error_scale_ is not None
    values = series.to_numpy()
    at = int(np.argmax(np.abs(np.diff(values[800:])))) + 801
    origins = np.arange(at + 5, at + 40)
    targets = values[origins[:, None] + np.arange(5)]
    tracked = np.sqrt(np.mean((f.paths_from(values, origins, 5) - targets) ** 2))
    naive = np.sqrt(np.mean((values[origins - 1][:, None] - targets) ** 2))
    assert tracked < naive
    f.set_history(series)
    f.save(tmp_path / "m.pt")
    loaded = Forecaster.load(tmp_path / "m.pt")
    assert loaded.tail_offsets_ is not None and loaded.tail_offsets_[-1] < -3
    np.testing.assert_allclose(loaded.forecast(5), f.forecast(5))
    assert abs(f.forecast(5).mean() - values[-50:].mean()) < 1.5  # at the new level


def test_compare_records_the_nets_share_and_how_often_it_was_chosen():
    from rnnlab.demo import net_chosen
    from rnnlab.experiment import compare

    table = compare("sine", models="lstm", seeds=2, jobs=1, epochs=2, hidden_size=8,
                    num_layers=1, patience=1)
    runs = table[table["status"] == "ok"]
    assert runs["net_weight"].between(0, 1).all()
    summary = table.attrs["summary"].set_index("model")
    assert summary.loc["lstm", "net_chosen"] == (runs["net_weight"] > 0).mean()
    records = [{"status": "ok", "net_weight": 0.5}, {"status": "ok", "net_weight": 0.0},
               {"status": "failed"}]
    assert net_chosen(records).endswith("1 of these 2 runs used the recurrent net.")


def test_a_compare_reading_says_when_no_forecast_used_the_net():
    from rnnlab.report import compare_reading

    rows = pd.DataFrame({"dataset": ["s"] * 4, "model": ["rnn", "lstm", "naive", "mean"],
                         "rmse_mean": [1.0, 1.0, 1.2, 2.0], "rmse_std": [0.0] * 4,
                         "outcome": ["win", "win", None, None], "against": ["naive"] * 4,
                         "ratio": [0.83, 0.83, None, None],
                         "p_value": [0.01, 0.01, None, None],
                         "net_chosen": [0.0, 0.0, None, None]})
    assert "no run's forecast used its recurrent net" in compare_reading(rows, "s")


@pytest.mark.parametrize("make", [lambda: ETS(1), lambda: Theta(1)])
def test_a_long_series_fits_its_statistical_candidates_on_the_newest_values(make):
    from rnnlab.candidates import STAT_FIT_MAX, candidate_from_state

    rng = np.random.default_rng(0)
    y = 500 + np.cumsum(rng.normal(0, 1, STAT_FIT_MAX + 700))
    skip = len(y) - STAT_FIT_MAX
    whole, recent = make().fit(y), make().fit(y[skip:])
    assert whole.skip_ == skip
    origins = np.array([len(y) - 50, len(y)])
    np.testing.assert_allclose(whole.paths(y, origins, 5),
                               recent.paths(y[skip:], origins - skip, 5))
    again = candidate_from_state(whole.family, whole.to_state())
    np.testing.assert_allclose(again.paths(y, origins, 5), whole.paths(y, origins, 5))
    # A saved state continues from a tail as the whole history would
    state = whole.advance(y[:-30])
    np.testing.assert_allclose(whole.paths(y[-30:], np.array([30]), 5, state),
                               whole.paths(y, np.array([len(y)]), 5))


# --- long series: bounded memory and work --------------------------------------------


def test_paths_in_batches_are_the_paths_made_at_once(monkeypatch):
    """A long test part is forecast ORIGIN_BATCH (pretrained: BATCH) origins at a time, so
    the windows gathered stay small; the paths are those of one pass over every origin."""
    from rnnlab import candidates, pretrained
    from rnnlab.candidates import PretrainedCandidate

    y = seasonal_series(900)
    origins = np.arange(400, 880)
    linear = Linear(24, "window", "direct", False, None, 6).fit(y[:400])
    net = PretrainedCandidate(12).fit(y[:400])
    whole = linear.paths(y, origins, 9), net.paths(y, origins, 70)
    monkeypatch.setattr(candidates, "ORIGIN_BATCH", 7)
    monkeypatch.setattr(pretrained, "BATCH", 5)
    np.testing.assert_allclose(linear.paths(y, origins, 9), whole[0])
    np.testing.assert_allclose(net.paths(y, origins, 70), whole[1])


def test_predictions_from_a_start_are_those_of_the_whole_series():
    """`predict(series, start=k)` (what the test part is scored with) gives the same
    one-step predictions as predicting from the first window on, level tracking included."""
    from rnnlab.data import load_series

    series = load_series("drop")
    f = Forecaster(model="linear", horizon=5, progress=False).fit(series.iloc[:800],
                                                                   val_size=100)
    assert f.error_scale_ is not None
    whole = f.predict(series)
    part = f.predict(series, start=800)
    assert part.index[0] == series.index[800]
    pd.testing.assert_series_equal(part, whole.iloc[-len(part):])


def test_level_shifts_are_looked_for_within_the_statistical_span_before_the_origins(
        monkeypatch):
    """On a long series the tracking reads STAT_FIT_MAX values before the first origin
    asked for, not the whole series: a shift inside that span is still followed."""
    from rnnlab import forecaster as module
    from rnnlab.data import load_series

    series = load_series("drop")
    f = Forecaster(model="linear", horizon=5, progress=False).fit(series.iloc[:800],
                                                                   val_size=100)
    values = series.to_numpy()
    at = int(np.argmax(np.abs(np.diff(values[800:])))) + 801
    origins = np.arange(at + 5, at + 40)
    full = f.paths_from(values, origins, 5)
    seen = []
    original = f._predict_all
    monkeypatch.setattr(f, "_predict_all", lambda v, first: seen.append(first)
                        or original(v, first))
    monkeypatch.setattr(module, "STAT_FIT_MAX", 60)
    near = f.paths_from(values, origins, 5)
    assert min(seen) == origins.min() - 60  # nothing before the span is predicted
    np.testing.assert_allclose(near, full)


def test_a_long_test_part_scores_the_candidates_at_a_bounded_number_of_origins(
        monkeypatch):
    from rnnlab import backtest
    from rnnlab.windows import Split

    y = monthly(seasonal_series(400))
    f = Forecaster(horizon=3, **FAST, candidates="naive,linear").fit(y.iloc[:300])
    monkeypatch.setattr(backtest, "MAX_ORIGINS", 20)
    split = Split(n_train=250, n_val=50, n_test=100)
    rows = backtest.score_paths(y, f, split, 3)[0]["candidates"]
    scored = [r for r in rows if "test_mase" in r]
    assert scored and all(r["test_origins"] == 20 for r in scored)
    assert all(np.isfinite(r["test_mase"]) for r in scored)


def test_a_stop_asked_before_the_nets_training_ends_the_fit_between_candidates(
        monkeypatch):
    """Issue 26, row 17: on a long series the pool's candidates take minutes before the
    first epoch; Ctrl-C or SIGTERM there must not wait for the training to begin."""
    import rnnlab.forecaster

    monkeypatch.setattr(rnnlab.forecaster, "LONG_POOL_SECONDS", 0.0)  # every pool is "long"
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 2  # asked for after two candidates

    with pytest.raises(KeyboardInterrupt):
        Forecaster(horizon=3, **FAST).fit(monthly(seasonal_series(240)),
                                          should_stop=should_stop)
    assert len(asked) == 3


def test_a_short_series_whose_window_is_one_value_fits_with_the_nets_that_need_two():
    # 34 values, H = 10: the window resolves to one value, and level tracking asked the
    # pretrained net (which scales a context by its steps, so needs two values) for a
    # forecast from position 1: "origins must lie in [2, 33] for pretrained".
    values = 100 + np.cumsum(np.random.default_rng(0).normal(0, 1, 34))
    f = Forecaster(horizon=10, progress=False).fit(pd.Series(values))
    assert f.min_history >= max(getattr(c, "min_origin", 1) for c, _ in f.pool_)
    assert np.isfinite(f.forecast(10).to_numpy()).all()
    assert np.isfinite(f.predict(pd.Series(values)).to_numpy()).all()


def test_tracking_is_judged_on_the_origins_only_where_a_shift_came_before_one():
    """Stage 5b skips its two passes over the origins where no shift is found before
    them: there the tracked paths are the plain ones. Where one is (a fall of 40 at 950,
    among 395 origins of a noisy level the median forecasts), tracking is kept exactly
    when it does no harm to the origins' forecasts."""
    values = 10 + np.random.default_rng(0).normal(0, 1, 960)
    values[950:] -= 40
    f = Forecaster(candidates="mean", horizon=6, progress=False).fit(values, val_size=400)
    origins = f.folds_.origins[f.folds_.origins >= f.min_history]
    scale = float(np.sqrt(np.mean((f.folds_.targets(values)[:, 0]
                                   - f.fold_paths_[:, 0]) ** 2)))
    kept = f.error_scale_
    f.error_scale_ = scale  # as stage 5b looks for shifts
    before = origins[origins < 940]  # no shift before any of these
    assert f.shift_events(values, before) == []
    np.testing.assert_array_equal(f._tracked_paths(values, before, 6),
                                  f._combined(values, None, before, 6))
    assert [e[1] for e in f.shift_events(values, origins)] == [950]
    targets = f.folds_.targets(values)[-len(origins):]
    harm = (np.nanmean(np.abs(f._tracked_paths(values, origins, 6) - targets))
            > np.nanmean(np.abs(f._combined(values, None, origins, 6) - targets)))
    assert (kept is None) == harm
