"""Readings and tables of the multi-step scores ("multi_step" in metrics.json), from
hand-made numbers: the right best baseline and outcome, the coverage judged against its
level, one column per chosen step, and compare's curves averaged over seeds."""

import math

import pytest

from rnnlab.errors import ConfigError
from rnnlab.report import (
    compare_horizon_curves,
    coverage_words,
    horizon_reading,
    horizon_steps,
    horizon_table,
)

SCORES = ("rmse", "mae", "mase", "smape")


def multi_step(horizon=10, model=(0.12, 0.55), naive=(0.2, 0.8), seasonal=(0.52, 0.52),
               mean=(0.9, 0.9), interval=0.8, coverage=(0.76, 0.79), overall_coverage=0.78,
               verdict=None, strategy="direct"):
    """A multi_step dict whose per-step RMSE runs linearly between the (step 1, step H)
    pairs given; the overall RMSE of each is the mean of its steps."""

    def line(ends):
        first, last = ends
        return [first + (last - first) * k / max(1, horizon - 1) for k in range(horizon)]

    per_step = {name: {m: line(ends) for m in SCORES} for name, ends in
                (("model", model), ("naive", naive), ("seasonal_naive", seasonal),
                 ("mean", mean))}
    overall = {name: {m: sum(v) / horizon for m, v in scores.items()}
               for name, scores in per_step.items()}
    if interval:
        per_step["model"]["coverage"] = line(coverage)
        overall["model"].update(coverage=overall_coverage, width=1.25)
    return {"horizon": horizon, "strategy": strategy, "origins": 240, "interval": interval,
            "seasonal_period": 12, "per_step": per_step, "overall": overall,
            **({"verdict": verdict} if verdict else {})}


def test_the_reading_names_the_best_baseline_and_the_outcome():
    found = {"outcome": "win", "against": "seasonal_naive", "ratio": 0.335 / 0.52,
             "p_value": 0.004}
    text = horizon_reading(multi_step(verdict=found), "lstm")
    assert text.startswith("10 steps ahead from each of 240 test origins, lstm "
                           "scores RMSE 0.335 against 0.52 for seasonal naive (period 12), "
                           "the best baseline: a win, 35.6% better (Diebold-Mariano "
                           "p = 0.004)")
    assert "its error grows from 0.12 at step 1 to 0.55 at step 10" in text
    assert "under that of seasonal naive at steps 1-9 of 10" in text


def test_without_a_stored_verdict_the_lowest_baseline_rmse_decides_by_the_margin():
    # naive is best overall (0.35 against 0.52 and 0.9); the model is 0.3% worse: a tie
    text = horizon_reading(multi_step(model=(0.121, 0.581), naive=(0.1, 0.6)), "gru")
    assert "against 0.35 for next = last, the best baseline: a tie, 0.3% worse (within 1%;" \
        in text
    assert "under that of next = last at steps 6-10 of 10" in text
    lost = horizon_reading(multi_step(model=(0.5, 0.9), naive=(0.1, 0.6)), "gru")
    assert "the best baseline: a loss, 100.0% worse" in lost
    assert "above that of next = last at every step" in lost


def test_a_flat_error_is_said_to_stay():
    text = horizon_reading(multi_step(model=(0.3, 0.301)), "rnn")
    assert "its error stays at about 0.3 from step 1 to step 10, under that of next = last " \
        "at steps 3-10 of 10" in text


@pytest.mark.parametrize("overall, words", [
    (0.78, "close to the nominal 80%"),
    (0.75, "close to the nominal 80%"),  # 5 points off is still close; more is not
    (0.7499, "too narrow for the nominal 80% (more than 5 points short)"),
    (0.91, "too wide for the nominal 80% (more than 5 points over)"),
])
def test_coverage_is_judged_against_the_nominal_level(overall, words):
    text = horizon_reading(multi_step(overall_coverage=overall), "lstm")
    assert (f"The 80% interval covered {100 * overall:.0f}% of the test values (76% at step 1, "
            f"79% at step 10): {words}") in text
    assert text.endswith("; its mean width is 1.25 in the series' units.")


def test_close_overall_but_off_at_some_steps_names_those_steps():
    text = horizon_reading(multi_step(coverage=(0.70, 0.88), overall_coverage=0.79), "lstm")
    # per step 70%, 72%, 74%, 76% ... 88%: more than 5 points off at steps 1-3 and 9-10
    assert "close to the nominal 80%, though too narrow at steps 1-3 and too wide at " \
        "steps 9-10;" in text


def test_no_interval_no_coverage_sentence():
    text = horizon_reading(multi_step(interval=0.0), "lstm")
    assert "interval" not in text and "coverage" not in text
    assert "coverage" not in horizon_table(multi_step(interval=0.0), "lstm")


def test_one_step_and_no_finite_forecasts():
    one = horizon_reading(multi_step(horizon=1, coverage=(0.8, 0.8)), "lstm")
    assert one.startswith("1 step ahead from each of 240 test origins")
    assert "grows" not in one and "at step 1" not in one
    broken = multi_step()
    broken["overall"]["model"]["rmse"] = math.nan
    assert horizon_reading(broken, "lstm") == ("10 steps ahead from each of 240 test origins, "
                                              "lstm produced no finite forecasts.")


def test_coverage_words_at_other_levels():
    assert coverage_words(0.9, 0.95) == "close to the nominal 95%"
    assert coverage_words(0.89, 0.95).startswith("too narrow for the nominal 95%")
    assert coverage_words(0.975, 0.975) == "close to the nominal 97.5%"


def test_the_table_has_a_column_per_chosen_step_and_all():
    table = horizon_table(multi_step(), "lstm")
    lines = table.splitlines()
    assert lines[0].split() == ["step", "1", "step", "2", "step", "5", "step", "10", "all"]
    labels = [line[:20].strip() for line in lines[1:]]
    assert labels == ["RMSE lstm", "RMSE naive", "RMSE seasonal_naive", "RMSE mean",
                      "MASE lstm", "MASE naive", "MASE seasonal_naive", "MASE mean",
                      "coverage (80%)", "mean width"]
    assert lines[1].split()[2:] == ["0.12", "0.1678", "0.3111", "0.55", "0.335"]
    assert lines[9].split()[2:] == ["76%", "76%", "77%", "79%", "78%"]
    assert len({len(line) for line in lines[:-1]}) == 1  # fixed width: the columns align
    assert lines[-1].split() == ["mean", "width", "1.25"]


def test_the_table_shows_the_steps_asked_for_or_says_which_are_wrong():
    assert horizon_table(multi_step(), "lstm", steps=[3]).splitlines()[0].split() == [
        "step", "3", "all"]
    long = horizon_table(multi_step(horizon=48), "lstm").splitlines()[0]
    assert long.split()[1::2] == ["1", "2", "5", "10", "20", "48"]
    assert horizon_steps(5) == [1, 2, 3, 4, 5] and horizon_steps(7) == [1, 2, 5, 7]
    with pytest.raises(ConfigError, match=r"steps \[0, 11\] are not steps of the horizon 10; "
                                          "pass whole steps from 1 to 10"):
        horizon_table(multi_step(), "lstm", steps=[0, 1, 11])


def record(model, seed, ends, strategy="direct", dataset="sine"):
    return {"dataset": dataset, "model": model, "seed": seed, "status": "ok",
            "multi_step": multi_step(model=ends, strategy=strategy)}


def test_compare_curves_average_seeds_per_model_and_give_each_baseline_once():
    records = [record("lstm", 0, (0.1, 0.5)), record("lstm", 1, (0.3, 0.7)),
               record("gru", 0, (0.2, 0.2)),
               {"dataset": "sine", "model": "rnn", "seed": 0, "status": "failed"}]
    curves = compare_horizon_curves(records)
    assert list(curves) == ["lstm", "gru", "naive", "seasonal_naive", "mean"]
    assert curves["lstm"][0] == pytest.approx(0.2) and curves["lstm"][-1] == pytest.approx(0.6)
    assert curves["gru"] == pytest.approx([0.2] * 10)
    assert curves["naive"] == pytest.approx(records[0]["multi_step"]["per_step"]["naive"]["rmse"])
    coverage = compare_horizon_curves(records, "coverage")
    assert list(coverage) == ["lstm", "gru"]  # baselines have no interval


def test_compare_curves_name_the_strategy_when_runs_differ_in_it():
    records = [record("lstm", 0, (0.1, 0.5)), record("lstm", 0, (0.1, 0.9), "recursive")]
    curves = compare_horizon_curves(records)
    assert list(curves)[:2] == ["lstm (direct)", "lstm (recursive)"]
    assert compare_horizon_curves([]) == {}


def test_compare_curves_refuse_mixed_horizons():
    mixed = [record("lstm", 0, (0.1, 0.5)),
             {**record("gru", 0, (0.1, 0.5)), "multi_step": multi_step(horizon=5)}]
    with pytest.raises(ConfigError, match=r"horizons \[5, 10\]"):
        compare_horizon_curves(mixed)
