"""Many steps ahead each part of the default must earn its place on the validation part:
a standard-scaled form, which forecasts a return to the training mean, where the training
part shows no unit root (`rnnlab.forecaster.standard_doubt`), and the recurrent part where
it beats the linear part alone by the one rule (`rnnlab.forecaster.body_verdict`)."""

import numpy as np
import pandas as pd
import pytest

from rnnlab.diagnostics import adf_pvalue
from rnnlab.forecaster import (
    STANDARD_DOUBT,
    Forecaster,
    combined_forms,
    fit_scaler,
    linear_paths,
    standard_doubt,
)
from rnnlab.report import horizon_reading


def random_walk(n: int = 400, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(100 + np.cumsum(rng.normal(0, 1, n)), name="walk",
                     index=pd.date_range("2010-01-01", periods=n, freq="W-FRI"))


def test_the_doubt_grows_with_the_adf_p_value():
    walk = random_walk().to_numpy()
    noise = np.random.default_rng(1).normal(size=400)
    assert standard_doubt(walk) == pytest.approx(1 + STANDARD_DOUBT * adf_pvalue(walk))
    assert standard_doubt(walk) > 2  # a unit root is not rejected: p well above 0.1
    assert standard_doubt(noise) < 1.01  # no unit root: p ~ 0, standard forms rank as scored
    assert standard_doubt(np.arange(4.0) % 2) == 1.0  # too short to test: no doubt


def test_a_doubted_standard_form_ranks_behind_the_relative_ones():
    standard = fit_scaler("standard", np.arange(10.0))
    window = fit_scaler("window", np.arange(10.0))
    ranked = [(standard, "direct", None, 1.0), (standard, "recursive", None, 1.1),
              (window, "direct", None, 1.3), (window, "recursive", None, 1.4)]
    assert combined_forms(ranked) == [form[:3] for form in ranked[:3]]
    # Weighed by 2, the standard forms cost 2.0 and 2.2: the relative ones lead.
    assert combined_forms(ranked, 2.0) == [ranked[2][:3], ranked[3][:3], ranked[0][:3]]
    # Beyond the cap (3x the best's cost) they join no average.
    assert combined_forms(ranked, 4.0) == [ranked[2][:3], ranked[3][:3]]


def test_a_random_walk_averages_no_standard_form():
    series = random_walk(seed=6)
    doubted = Forecaster(model="linear", horizon=8, progress=False).fit(series)
    assert doubted.forms_ and not any(form.startswith("standard") for form in doubted.forms_)
    # The weight is what keeps them out: without it this walk averages one in.
    import rnnlab.forecaster as module

    kept = module.STANDARD_DOUBT
    try:
        module.STANDARD_DOUBT = 0.0
        trusted = Forecaster(model="linear", horizon=8, progress=False).fit(series)
    finally:
        module.STANDARD_DOUBT = kept
    assert any(form.startswith("standard") for form in trusted.forms_)


def test_a_recurrent_part_that_only_fits_noise_is_left_out():
    series = random_walk(600, seed=5)
    fitted = Forecaster(model="gru", horizon=6, epochs=8, patience=8, progress=False)
    fitted.fit(series)
    history = fitted.history_
    # Training lowered the validation loss a little, as noise allows, and was overruled.
    assert min(history.val_loss) < history.initial_val_loss
    assert fitted.body_ is not None and fitted.body_["kept"] is False
    assert history.best_epoch == 0
    net = fitted.model_
    assert float(net.head.weight.detach().abs().sum() + net.head.bias.detach().abs().sum()) == 0.0
    # The forecast is then the linear part's own.
    values = series.to_numpy()
    origins = np.arange(500, 590)
    windows = np.lib.stride_tricks.sliding_window_view(values, fitted.seq_len)[
        origins - fitted.seq_len]
    scaler = fitted.scaler_
    weights = net.skip.weight.detach().double().numpy().T
    bias = net.skip.bias.detach().double().numpy()
    linear = scaler.from_units(linear_paths(weights, bias, scaler.to_units(windows), 6,
                                            scaler.relative))
    np.testing.assert_allclose(fitted.paths_from(values, origins, 6), linear, rtol=1e-4,
                               atol=1e-3)


def test_a_recurrent_part_that_sees_what_a_line_cannot_is_kept():
    # The logistic map at r = 3.9: chaotic, and a line through it forecasts little.
    values = np.empty(1500)
    values[0] = 0.3
    for i in range(1, len(values)):
        values[i] = 3.9 * values[i - 1] * (1 - values[i - 1])
    series = pd.Series(values, name="logistic")
    fitted = Forecaster(model="gru", seq_len=8, horizon=2, epochs=60, patience=10,
                        hidden_size=32, progress=False, seed=0).fit(series)
    assert fitted.body_["kept"] is True and fitted.body_["p_value"] < 0.05
    assert fitted.history_.best_epoch > 0


def test_one_step_ahead_the_recurrent_part_is_not_judged():
    fitted = Forecaster(model="gru", epochs=2, progress=False).fit(random_walk())
    assert fitted.body_ is None


def test_the_verdict_on_the_recurrent_part_survives_a_checkpoint(tmp_path):
    fitted = Forecaster(model="gru", horizon=4, epochs=3, progress=False).fit(random_walk())
    fitted.save(tmp_path / "model.pt")
    loaded = Forecaster.load(tmp_path / "model.pt")
    assert loaded.body_ == fitted.body_ and loaded.body_ is not None


def test_the_reading_says_whether_the_recurrent_part_was_kept():
    steps = {"horizon": 4, "strategy": "direct", "origins": 20,
             "overall": {"model": {"rmse": 1.0}, "naive": {"rmse": 2.0}},
             "per_step": {"model": {"rmse": [1.0] * 4}, "naive": {"rmse": [2.0] * 4}}}
    left = horizon_reading({**steps, "body": {"kept": False, "ratio": 0.99, "p_value": 0.4}})
    assert "Its recurrent part was left out: it did not beat the linear part alone on the " \
        "validation part (RMSE 0.99x, p = 0.40)." in left
    kept = horizon_reading({**steps, "body": {"kept": True, "ratio": 0.8, "p_value": 1e-5}})
    assert "Its recurrent part was kept: it beat the linear part alone on the validation " \
        "part (RMSE 0.8x, p < 0.001)." in kept
    assert "recurrent part" not in horizon_reading(steps)


def test_the_demo_counts_the_runs_that_kept_their_recurrent_part():
    from rnnlab.demo import kept_bodies

    records = [{"multi_step": {"body": {"kept": True, "ratio": 0.9, "p_value": 0.01}}},
               {"multi_step": {"body": {"kept": False, "ratio": 1.0, "p_value": 0.9}}},
               {"multi_step": {"body": None}}, {"multi_step": None}, {}]
    assert kept_bodies(records).endswith("1 of these 2 runs kept it.")
    assert kept_bodies([{}]) == ""
    records[1]["multi_step"]["refit"] = True
    assert kept_bodies(records).endswith("1 of these 2 runs kept it. The 1 that left it out "
                                         "forecast with their linear part alone, fitted "
                                         "again on the training and validation parts.")


def test_the_reading_says_when_training_never_moved_the_net_off_its_linear_part():
    steps = {"horizon": 4, "strategy": "direct", "origins": 20,
             "overall": {"model": {"rmse": 1.0}, "naive": {"rmse": 2.0}},
             "per_step": {"model": {"rmse": [1.0] * 4}, "naive": {"rmse": [2.0] * 4}},
             "body": {"kept": False, "ratio": 1.0, "p_value": 1.0}}
    assert "Its recurrent part was left out: training never improved on the linear part " \
        "alone on the validation part." in horizon_reading(steps)


def test_compare_reads_the_many_steps_ahead_verdict_and_identical_models():
    from rnnlab.report import compare_reading

    rows = []
    for model, rmse, rmse_h in (("lstm", 1.0, 2.0), ("gru", 1.0, 2.0), ("naive", 1.1, 3.0),
                                ("mean", 5.0, 6.0)):
        rows.append({"dataset": "d", "model": model, "rmse_mean": rmse, "rmse_std": 0.0,
                     "rmse_h_mean": rmse_h,
                     "outcome_h": "win" if model in ("lstm", "gru") else None,
                     "against_h": "naive", "ratio_h": 2 / 3, "p_value_h": 0.01})
    reading = compare_reading(pd.DataFrame(rows), "d")
    assert "lstm, gru score the same: the cell type makes no difference here" in reading
    assert reading.endswith("Many steps ahead (RMSE over all steps from every test origin) "
                            "lstm scores 2 against 3 for next = last, the best baseline "
                            "there: a win: 33.3% better (Diebold-Mariano p = 0.010).")
    one_step = pd.DataFrame(rows).drop(columns=["rmse_h_mean", "outcome_h"])
    assert "Many steps ahead" not in compare_reading(one_step, "d")
    # Where every run left its recurrent part out, that is why the cells score the same.
    left_out = pd.DataFrame(rows).assign(body_kept=[0.0, 0.0, None, None])
    assert "lstm, gru score the same: each left its recurrent part out" in \
        compare_reading(left_out, "d")
    kept_once = left_out.assign(body_kept=[0.0, 0.5, None, None])
    assert "the cell type makes no difference here" in compare_reading(kept_once, "d")


def test_a_compare_cell_counts_the_runs_that_kept_their_recurrent_part():
    from rnnlab.experiment import summarize

    records = [{"dataset": "d", "model": "lstm", "seed": s, "status": "ok", "rmse": 1.0,
                "mae": 1.0, "mase": 1.0, "train_seconds": 0.1, "epochs": 3,
                "multi_step": {"body": {"kept": kept, "ratio": 0.9, "p_value": 0.5}},
                **{f"{b}_{m}": 2.0 for b in ("naive", "seasonal_naive", "mean")
                   for m in ("rmse", "mae", "mase")}}
               for s, kept in ((0, True), (1, False), (2, False), (3, False))]
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "multi_step"} for r in records])
    summary = summarize(frame, ["dataset", "model"], records=records)
    assert summary.set_index("model").loc["lstm", "body_kept"] == 0.25


def test_the_one_rule_counts_the_overlap_of_paths_many_steps_ahead():
    from rnnlab.metrics import diebold_mariano, verdict_of_losses

    # Losses of 10-step paths from consecutive origins: each shares 9 targets with the
    # next, so their differences are a moving sum of 10 shocks.
    rng = np.random.default_rng(0)
    shocks = rng.normal(0.0, 1.0, 209)
    d = 0.4 + np.convolve(shocks, np.ones(10) / 10, mode="valid")  # (200,)
    base = np.full(200, 5.0)
    # n^(1/3) = 5 lags see only part of that correlation; 9 lags see all of it.
    assert diebold_mariano(base + d, base, horizon=10) > 2 * diebold_mariano(base + d, base)
    assert diebold_mariano(base + d, base, horizon=2) == diebold_mariano(base + d, base)
    model = np.maximum(base - 4 * d, 0.0)
    quick, careful = (verdict_of_losses(model, {"naive": base}, h) for h in (1, 10))
    assert careful.p_value > quick.p_value and quick.ratio == careful.ratio


def test_fewer_than_two_separate_paths_are_no_test():
    from rnnlab.metrics import diebold_mariano, verdict_of_losses
    from rnnlab.report import outcome_words

    rng = np.random.default_rng(1)
    base = rng.uniform(4.0, 6.0, 40)
    worse = base * 1.5
    # 19 paths of 10 steps overlap into fewer than two separate ones: no test, a tie.
    assert np.isnan(diebold_mariano(worse[:19], base[:19], horizon=10))
    assert np.isfinite(diebold_mariano(worse[:20], base[:20], horizon=10))
    assert np.isfinite(diebold_mariano(worse[:3], base[:3]))  # one step ahead as before
    found = verdict_of_losses(worse[:19], {"mean": base[:19]}, 10)
    assert found.outcome == "tie" and found.ratio > 1.2
    assert verdict_of_losses(worse[:20], {"mean": base[:20]}, 10).outcome == "loss"
    assert outcome_words(found.outcome, found.ratio, found.p_value).startswith(
        "a tie: 22.5% worse, but with too few origins for the paired test (fewer than two "
        "paths of the horizon's length that do not overlap) the gap cannot be told from")


def test_a_body_judged_on_too_few_validation_windows_is_left_out():
    # 20 validation values give 8 windows of 13 steps: less than two separate paths.
    t = np.arange(300)
    series = pd.Series(np.sin(t / 5) + np.random.default_rng(2).normal(0, 0.1, len(t)))
    f = Forecaster(horizon=13, strategy="direct", epochs=3, progress=False)
    f.fit(series, val_size=20)
    assert f.body_ is not None and not f.body_["kept"] and np.isnan(f.body_["p_value"])
    assert f.refit_
    steps = {"horizon": 13, "origins": 40, "body": f.body_, "refit": True,
             "overall": {"model": {"rmse": 1.0}, "naive": {"rmse": 1.1}},
             "per_step": {"model": {"rmse": [1.0] * 13}, "naive": {"rmse": [1.1] * 13}}}
    assert "the validation part (RMSE " in horizon_reading(steps)
    assert "x, too few windows for the paired test). That linear part was then fitted " \
        "again" in horizon_reading(steps)


def test_a_linear_part_left_alone_is_fitted_again_on_training_and_validation():
    from rnnlab.backtest import backtest
    from rnnlab.windows import Split

    t = np.arange(600)
    series = pd.Series(10 + np.sin(2 * np.pi * t / 24) + 0.01 * t +
                       np.random.default_rng(0).normal(0, 0.3, len(t)), name="s")
    split = Split(420, 60, 120)
    refit = Forecaster(horizon=6, epochs=3, progress=False)
    result = backtest(series, refit, split)
    assert refit.body_ is not None and not refit.body_["kept"] and refit.refit_
    assert result.multi_step["refit"]
    plain = Forecaster(horizon=6, epochs=3, refit=False, progress=False)
    assert not backtest(series, plain, split).multi_step["refit"]
    values = series.to_numpy()
    origins = np.arange(480, 595)
    # Other weights, the same interval: it was calibrated on validation before the refit.
    assert np.abs(refit.paths_from(values, origins, 6) -
                  plain.paths_from(values, origins, 6)).max() > 1e-4
    np.testing.assert_allclose(refit.interval_width_, plain.interval_width_)
