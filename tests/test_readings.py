"""Readings a learner can trust: no effect said as such, disagreeing seeds named, memory
curves read as they look, and numbers printed as they are."""

import numpy as np
import pandas as pd

from rnnlab.demo import _kpss_p, option_reading
from rnnlab.experiment import results_frame, summarize
from rnnlab.explain import MemoryProfile
from rnnlab.report import mean_pm_std


def record(clip, seed, rmse, epochs=20, best_epoch=5):
    actual = np.sin(np.arange(50.0))
    return {"dataset": "sine", "model": "rnn", "clip_grad_norm": clip, "seed": seed,
            "status": "ok", "error": "", "rmse": rmse, "mae": rmse, "mase": rmse,
            "naive_rmse": 0.137, "mean_rmse": 0.72, "seasonal_naive_rmse": 0.127,
            "naive_mae": 0.1, "mean_mae": 0.6, "seasonal_naive_mae": 0.1, "naive_mase": 1,
            "mean_mase": 5, "seasonal_naive_mase": 1, "train_seconds": 1.0, "epochs": epochs,
            "best_epoch": best_epoch,
            "predictions": {"actual": actual.tolist(), "model": (actual + rmse).tolist(),
                            "naive": (actual + 0.137).tolist(), "mean": np.zeros(50).tolist(),
                            "seasonal_naive": (actual + 0.127).tolist()}}


def reading(records):
    summary = summarize(results_frame(records), ["dataset", "clip_grad_norm", "model"],
                        records=records)
    return option_reading("clip_grad_norm", "sine", summary, records)


def test_a_setting_that_changed_nothing_is_said_to_have_no_effect():
    records = [record(c, s, 0.6869, best_epoch=0) for c in (1.0, 0.0) for s in (0, 1)]
    text = reading(records)
    assert text.startswith("clip_grad_norm had no effect on sine: every setting gave the same "
                           "RMSE to the last digit")
    assert "best epoch 0 in every run" in text


def test_a_failed_seed_is_named_not_hidden_in_a_mean():
    records = [record(1.0, 0, 0.0962), record(1.0, 1, 0.0960),
               record(0.0, 0, 0.0950), record(0.0, 1, 0.1358, epochs=13)]
    text = reading(records)
    assert "seeds disagree: with clip_grad_norm = 0, seed 1 stopped at epoch 13 at RMSE " \
           "0.1358 against 0.095 for the best seed" in text


def test_memory_readings_follow_the_curve():
    u = np.r_[np.linspace(0.06, 0.02, 15), np.linspace(0.02, 0.06, 15)]
    profile = MemoryProfile("lstm", u / u.sum(), 28, 100, strength=0.9)
    assert not profile.flat and "U-shaped" in profile.describe()
    flat = MemoryProfile("lstm", np.full(30, 1 / 30), 27, 100, strength=0.9)
    assert "the curve is flat" in flat.describe()
    weak = MemoryProfile("lstm", u / u.sum(), 28, 100, strength=1e-8)
    assert "no lag to read" in weak.describe() and "largest" not in weak.describe()


def test_numbers_are_printed_as_they_are():
    assert mean_pm_std(1.532e-06, 2.6e-22) == "1.532e-06"
    assert mean_pm_std(0.0898, 0.00027) == "0.0898 ± 0.00027"
    assert _kpss_p(0.1) == "≥ 0.1" and _kpss_p(0.01) == "≤ 0.01" and _kpss_p(0.05) == 0.05


def test_cells_get_the_one_rules_verdict():
    records = [record(1.0, 0, 0.05), record(1.0, 1, 0.05)]
    summary = summarize(results_frame(records), ["dataset", "model"], records=records)
    row = summary[summary["model"] == "rnn"].iloc[0]
    assert row["outcome"] == "win" and row["against"] == "seasonal_naive"
    assert pd.isna(summary[summary["model"] == "naive"].iloc[0].get("outcome"))


def test_sweep_plot_draws_one_line_per_model_whatever_the_summary_holds(monkeypatch, tmp_path):
    from rnnlab import plots

    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.update(fig=fig))
    records = [record(c, s, r) for c, r in ((1.0, 0.096), (0.0, 0.12)) for s in (0, 1)]
    summary = summarize(results_frame(records), ["dataset", "clip_grad_norm", "model"],
                        records=records)
    assert "outcome" in summary and "worst_seed" in summary
    plots.plot_sweep(summary, "sine", "clip_grad_norm", tmp_path / "s.png")
    labels = [t.get_text() for t in drawn["fig"].axes[0].get_legend().get_texts()]
    assert sorted(labels) == ["naive (next = last)", "rnn"]


def test_an_exact_baseline_is_said_so_without_dividing_by_zero():
    from rnnlab.report import versus_naive

    metrics = {"model": {"rmse": 5.0}, "naive": {"rmse": 0.0}, "mean": {"rmse": 3.0},
               "seasonal_naive": {"rmse": 0.0}}
    assert versus_naive(metrics, "lstm") == (
        "lstm loses to next = last, the best baseline here: worse than exact (more than 1%; "
        "no predictions to test); next = last is exact on this test part (naive RMSE 0)")


def test_p_values_carry_their_operator():
    from rnnlab.report import outcome_words

    assert outcome_words("tie", 1.013, 0.94) == (
        "a tie: 1.3% worse (Diebold-Mariano p = 0.94, not distinguishable from chance)")
    assert outcome_words("win", 0.5, 1e-6) == "a win: 50.0% better (Diebold-Mariano p < 0.001)"
