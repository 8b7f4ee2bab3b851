"""Many steps ahead: windows with H targets, direct and recursive forecasts from every
origin, split-conformal intervals, and their scores beside the baselines."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab.backtest import backtest, score_paths
from rnnlab.base import conformal_widths
from rnnlab.baselines import MeanForecaster, NaiveForecaster, SeasonalNaiveForecaster
from rnnlab.data import load_series
from rnnlab.forecaster import Forecaster
from rnnlab.models import MODELS
from rnnlab.windows import Split, Windows

TINY = dict(seq_len=12, hidden_size=8, num_layers=1, epochs=2, progress=False)


def tiny_series(n=200, seed=0):
    t = np.arange(n)
    values = np.sin(t / 4) + 0.05 * np.random.default_rng(seed).standard_normal(n)
    return pd.Series(values, index=pd.RangeIndex(n, name="t"), name="tiny")


def test_windows_with_h_targets_line_up_and_stay_inside_their_part():
    z = torch.arange(20.0)
    w = Windows(z, seq_len=3, start=3, stop=12, relative=False, horizon=4)
    assert len(w) == 12 - 3 - 4 + 1
    for i in range(len(w)):
        assert w.inputs[i].tolist() == list(range(i, i + 3))
        assert w.targets[i].tolist() == list(range(3 + i, 3 + i + 4))
    assert w.targets.max().item() == 11  # the last target is the part's last value
    x, y = Windows(z, 3, 3, 12, relative=True, horizon=4).batch(slice(0, 2))
    assert x[:, -1, 0].tolist() == [0.0, 0.0] and y[0].tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_contract_with_a_horizon(model, strategy):
    series = tiny_series()
    f = Forecaster(model=model, horizon=4, strategy=strategy, **TINY).fit(series[:160])
    predicted = f.predict(series)
    assert predicted.index[-1] == series.index[-1] and np.isfinite(predicted).all()
    future = f.forecast_interval(9)  # past the trained horizon: a direct net chains
    assert list(future.columns) == ["forecast", "lower", "upper"] and len(future) == 9
    assert (future["lower"] < future["forecast"]).all()
    assert (future["forecast"] < future["upper"]).all()
    values = series.to_numpy()
    origins = np.array([140, 170, 196])
    paths = f.paths_from(values, origins, 4)
    assert paths.shape == (3, 4) and np.isfinite(paths).all()
    # An origin's forecast is the one `forecast` makes from the values before it.
    for row, o in zip(paths, origins, strict=True):
        np.testing.assert_allclose(row, f.forecast(4, series[:o]).to_numpy(), rtol=1e-6,
                                   atol=1e-9)


def test_a_path_reads_no_value_at_or_after_its_origin():
    series = tiny_series()
    f = Forecaster(model="gru", horizon=5, **TINY).fit(series[:160])
    values = series.to_numpy()
    before = f.paths_from(values, np.array([170]), 5)
    changed = values.copy()
    changed[170:] += 100.0  # everything the forecast is for, and after
    np.testing.assert_array_equal(f.paths_from(changed, np.array([170]), 5), before)


def test_training_and_interval_never_see_the_test_part():
    series = tiny_series()
    split = Split(140, 20, 40)
    a = backtest(series, Forecaster(model="lstm", horizon=5, **TINY), split)
    changed = series.copy()
    changed.iloc[split.n_fit:] *= -3.0
    b = backtest(changed, Forecaster(model="lstm", horizon=5, **TINY), split)
    np.testing.assert_array_equal(a.forecaster.interval_width_, b.forecaster.interval_width_)
    for (name, p), q in zip(a.forecaster.model_.state_dict().items(),
                            b.forecaster.model_.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    # ... while the scores move with the test values they are scored on.
    assert a.multi_step["overall"]["model"]["rmse"] != b.multi_step["overall"]["model"]["rmse"]


def test_direct_model_has_one_output_per_step_and_recursive_one():
    series = tiny_series()
    direct = Forecaster(model="rnn", horizon=6, strategy="direct", **TINY).fit(series[:160])
    recursive = Forecaster(model="rnn", horizon=6, strategy="recursive", **TINY).fit(
        series[:160])
    x = torch.zeros(2, 12, 1)
    assert direct.model_(x).shape == (2, 6) and recursive.model_(x).shape == (2,)
    assert direct.model_.skip.weight.shape == (6, 12)


def test_baseline_paths_are_their_forecasts_from_each_origin():
    series = tiny_series()
    values = series.to_numpy()
    origins = np.array([60, 100, 150])
    for baseline in (NaiveForecaster(), MeanForecaster(), SeasonalNaiveForecaster(period=25)):
        baseline.fit(series[:140])
        paths = baseline.paths_from(values, origins, 30)
        for row, o in zip(paths, origins, strict=True):
            np.testing.assert_array_equal(row, baseline.forecast(30, series[:o]).to_numpy())


def test_scores_per_step_beside_the_baselines_on_the_same_origins():
    series = tiny_series()
    split = Split(140, 20, 40)
    result = backtest(series, Forecaster(model="linear", horizon=5, **TINY), split)
    steps = result.multi_step
    assert steps["horizon"] == 5 and steps["origins"] == 40 - 5 + 1
    assert set(steps["per_step"]) == {"model", "naive", "mean", "seasonal_naive"}
    for name, scores in steps["per_step"].items():
        assert all(len(v) == 5 for v in scores.values()), name
    # naive's error at step 1 is the one-step naive error on the same targets
    one_step = result.predictions.iloc[:36]
    naive_rmse = float(np.sqrt(np.mean((one_step["actual"] - one_step["naive"]) ** 2)))
    assert steps["per_step"]["naive"]["rmse"][0] == pytest.approx(naive_rmse)
    assert 0 <= steps["overall"]["model"]["coverage"] <= 1
    assert steps["verdict"]["outcome"] in ("win", "tie", "loss")
    json.dumps(steps)  # metrics.json can hold it


def test_conformal_width_is_the_finite_sample_quantile():
    errors = np.arange(1.0, 10.0)[:, None]  # 9 errors: rank ceil(10 * 0.8) = 8
    assert conformal_widths(errors, 0.8).tolist() == [8.0]
    assert conformal_widths(errors, 0.95) is None  # rank 10 of 9: too few origins
    assert conformal_widths(-errors, 0.5).tolist() == [5.0]  # absolute errors


def test_80_percent_interval_covers_about_80_percent_of_an_ar1():
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(4000)
    values = np.zeros(4000)
    for t in range(1, 4000):
        values[t] = 0.7 * values[t - 1] + noise[t]
    series = pd.Series(values, name="ar1")
    split = Split(2800, 400, 800)
    f = Forecaster(model="linear", seq_len=10, horizon=5, scaler="standard", progress=False)
    coverage = backtest(series, f, split).multi_step["per_step"]["model"]["coverage"]
    # 396 calibration origins put the quantile's own coverage within about 2 points
    # (one standard deviation), 796 overlapping test origins add about 2 more.
    assert 0.74 <= coverage[0] <= 0.86 and 0.74 <= coverage[-1] <= 0.86, coverage
    # The spread of an AR(1) forecast grows with the step, and so does the interval.
    assert f.interval_width_[-1] > 1.2 * f.interval_width_[0]


def test_after_the_drop_the_paths_follow_the_new_level():
    series = load_series("drop")
    n = len(series)
    split = Split(int(0.7 * n), int(0.1 * n), n - int(0.7 * n) - int(0.1 * n))
    f = Forecaster(model="linear", horizon=5, progress=False)
    f.fit(series.iloc[:split.n_fit], val_size=split.n_val)
    values = series.to_numpy()
    at = int(np.argmax(np.abs(np.diff(values[split.n_fit:]))) + split.n_fit + 1)
    origins = np.arange(at + 5, at + 25)
    paths = f.paths_from(values, origins, 5)
    naive = NaiveForecaster().fit(series[:split.n_fit]).paths_from(values, origins, 5)
    targets = values[origins[:, None] + np.arange(5)]
    model_rmse = np.sqrt(np.mean((paths - targets) ** 2))
    naive_rmse = np.sqrt(np.mean((naive - targets) ** 2))
    assert model_rmse < 1.5 * naive_rmse, (model_rmse, naive_rmse)


def test_a_horizon_longer_than_the_test_part_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rnnlab.cli", "train", "--data", "sine", "--horizon", "500",
         "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "horizon 500 is longer than the test" in \
        result.stderr
    assert not (tmp_path / "run").exists()


def test_score_paths_matches_the_one_step_scores_at_horizon_1():
    series = tiny_series()
    split = Split(140, 20, 40)
    result = backtest(series, Forecaster(model="gru", **TINY), split)
    steps, losses = score_paths(series, result.forecaster, split, 1)
    # The same float32 nets over other batches of windows: equal to float32's precision
    assert steps["per_step"]["model"]["rmse"][0] == pytest.approx(
        result.metrics["model"]["rmse"], rel=1e-6)
    verdict = result.verdict.to_dict()
    for key, value in verdict.items():
        expected = pytest.approx(value, rel=1e-6) if isinstance(value, float) else value
        assert steps["verdict"][key] == expected, key
    assert len(losses["model"]) == 40


def test_explain_reads_a_direct_net_by_its_next_value():
    from rnnlab.explain import memory_profile

    series = tiny_series()
    split = Split(140, 20, 40)
    f = Forecaster(model="lstm", horizon=4, strategy="direct", **TINY)
    f.fit(series.iloc[:split.n_fit], val_size=split.n_val)
    profile = memory_profile(f, series, split)
    assert len(profile.sensitivity) == 12 and np.isfinite(profile.sensitivity).all()


def test_compare_scores_both_strategies_many_steps_ahead(tmp_path):
    from click.testing import CliRunner

    from rnnlab.cli import cli

    out = tmp_path / "c"
    result = CliRunner().invoke(cli, [
        "-q", "sweep", "--data", "sine", "--model", "gru", "--param",
        "strategy=recursive,direct", "--horizon", "4", "--epochs", "1", "--seeds", "1",
        "--seq-len", "12", "--hidden-size", "8", "--jobs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "results.csv")
    assert (table["status"] == "ok").all(), table["error"].tolist()
    assert {"rmse_h", "outcome_h", "coverage"} <= set(table.columns)
    assert "outcome_h" in result.output and (out / "horizon_sine.png").exists()


def test_backtest_rescores_a_run_at_another_horizon_without_retraining(tmp_path):
    from click.testing import CliRunner

    from rnnlab.cli import cli

    out = tmp_path / "run"
    args = ["train", "--data", "sine", "--epochs", "1", "--seq-len", "12", "--hidden-size",
            "8", "--horizon", "3", "--out", str(out)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    before = (out / "model.pt").read_bytes()
    result = CliRunner().invoke(cli, ["backtest", "--run", str(out), "--horizon", "6",
                                      "--json"])
    assert result.exit_code == 0, result.output
    steps = json.loads(result.output)
    assert steps["horizon"] == 6 and len(steps["per_step"]["model"]["rmse"]) == 6
    saved = json.loads((out / "metrics.json").read_text())["multi_step"]
    # The first 3 steps are the run's own scores: same model, same origins but fewer of
    # them at 6 steps, so only step 1 over the common origins can be compared exactly.
    assert steps["origins"] == saved["origins"] - 3
    assert (out / "model.pt").read_bytes() == before
    text = CliRunner().invoke(cli, ["backtest", "--run", str(out)])
    assert text.exit_code == 0 and "3 steps ahead" in text.output
    missing = CliRunner().invoke(cli, ["backtest", "--run", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "not found" in missing.output


def hourly(n=1000):
    t = np.arange(n)
    values = 10 + 3 * np.sin(2 * np.pi * t / 24) + np.sin(2 * np.pi * t / 168) \
        + 0.3 * np.random.default_rng(0).standard_normal(n)
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=n, freq="h"),
                     name="hourly")


def test_auto_strategy_is_chosen_on_validation_and_kept_by_the_checkpoint(tmp_path):
    series = hourly()
    f = Forecaster(horizon=48, seq_len=30, epochs=1, progress=False).fit(series[:800])
    assert f.strategy == "auto" and f.model_config().strategy == "direct"
    assert f.model_.skip.weight.shape == (48, 30)
    f.save(tmp_path / "m.pt")
    g = Forecaster.load(tmp_path / "m.pt")
    assert g.model_config().strategy == "direct"
    pd.testing.assert_series_equal(f.forecast(60), g.forecast(60))
    short = Forecaster(horizon=1, epochs=1, progress=False).fit(series[:800])
    assert short.model_config().strategy == "recursive"  # one step: nothing to choose


def test_a_series_never_below_zero_gets_no_negative_lower_bound():
    rng = np.random.default_rng(1)
    counts = pd.Series(np.abs(rng.standard_normal(300)), name="counts")  # near zero, >= 0
    f = Forecaster(model="linear", seq_len=10, horizon=3, progress=False).fit(counts)
    bounds = f.forecast_interval(6)
    assert (bounds["lower"] >= 0).all() and (bounds["lower"] == 0).any()
    assert (bounds["upper"] > bounds["forecast"]).all()


def test_overlay_labels_name_settings_not_scores(tmp_path):
    from rnnlab.plots import plot_overlay

    def run(seq_len):
        return {"dataset": "s", "model": "lstm", "seed": 0, "status": "ok", "seq_len": seq_len,
                "coverage": 0.83, "seq_len_used": seq_len, "rmse_h": 0.1,
                "predictions": {"index": [0.0, 1.0, 2.0], "actual": [1.0, 2.0, 3.0],
                                "naive": [0.0, 1.0, 2.0], "model": [1.0, 2.0, 2.5 + seq_len]}}

    import matplotlib
    matplotlib.use("Agg")
    from unittest import mock

    labels = []
    from matplotlib.axes import Axes

    original = Axes.plot

    def spy(self, *args, **kwargs):
        labels.append(kwargs.get("label"))
        return original(self, *args, **kwargs)

    with mock.patch.object(Axes, "plot", spy):
        assert plot_overlay([run(10), run(30)], "s", tmp_path / "o.png")
    assert "lstm seq_len=10" in labels and "lstm seq_len=30" in labels
    assert not any("coverage" in str(label) or "rmse_h" in str(label) for label in labels)


def test_horizon_plot_names_a_far_baseline_and_keeps_the_near_ones(tmp_path):
    from unittest import mock

    from matplotlib.axes import Axes

    from rnnlab.plots import horizon_errors

    labels = []
    original = Axes.plot

    def spy(self, *args, **kwargs):
        labels.append(kwargs.get("label"))
        return original(self, *args, **kwargs)

    curves = {"lstm": [0.3, 0.4, 0.5], "naive": [1.2, 2.3, 3.1],
              "seasonal_naive": [1.8, 1.8, 1.8], "mean": [30.7, 31.0, 32.0]}
    with mock.patch.object(Axes, "plot", spy):
        horizon_errors(curves, tmp_path / "h.png")
    assert "seasonal naive" in labels and "naive" in labels
    assert "mean: off the chart (30.7 to 32)" in labels and "mean" not in labels
    assert (tmp_path / "h.png").stat().st_size > 0


def test_a_short_series_still_calibrates_the_first_steps():
    rng = np.random.default_rng(2)
    series = pd.Series(np.cumsum(rng.standard_normal(60)), name="short")
    f = Forecaster(model="linear", seq_len=10, horizon=13, progress=False).fit(series)
    # 30 origins: the last ones are scored on the steps the data still holds, so the
    # far steps have too few origins for the 80% rank and widen as the square root.
    assert f.n_val_ == 30 and 1 <= len(f.interval_width_) <= 13
    widths = f.interval_widths(13)
    assert len(widths) == 13 and np.all(np.diff(widths) >= 0)
    bounds = f.forecast_interval(13)
    assert np.isfinite(bounds[["lower", "upper"]].to_numpy()).all()


def test_the_interval_never_narrows_with_the_step():
    # Noise: every step's error has the same spread, so the per-step quantiles of a few
    # hundred validation origins dip and rise by chance; the widths pool such dips.
    # Calibration reads the linear part before its refit: without the refit, the model
    # here is the one calibrated, and the raw quantiles can be recomputed from it.
    series = pd.Series(np.random.default_rng(4).standard_normal(1000), name="noise")
    f = Forecaster(model="linear", seq_len=20, horizon=10, refit=False,
                   progress=False).fit(series)
    values = series.to_numpy()
    origins = np.arange(f.n_train_, len(values))
    paths = f.paths_from(values, origins, 10)
    raw, counts = [], []
    for step in range(10):
        inside = origins + step < len(values)
        errors = values[origins[inside] + step] - paths[inside, step]
        raw.append(conformal_widths(errors[:, None], f.interval)[0])
        counts.append(inside.sum())
    assert np.any(np.diff(raw) < 0)  # the raw quantiles do dip here
    widths = f.interval_width_
    assert np.all(np.diff(widths) >= 0)
    # Pooled, not stretched: the mean width weighted by origins stays within 2%...
    assert np.average(widths, weights=counts) == pytest.approx(
        np.average(raw, weights=counts), rel=0.02)
    # ... and without stairs: no three steps in a row share one width (issue 25, item 9).
    assert not np.any((np.diff(widths)[:-1] == 0) & (np.diff(widths)[1:] == 0))
