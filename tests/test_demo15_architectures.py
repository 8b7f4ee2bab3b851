"""The demo's "Would attention, convolutions or skip connections do better?" section: the
reading says when a model only ties the linear one (not worth its parameters) and when
it helps, by the one rule; and the section runs end to end on tiny settings."""

import signal

import numpy as np
import pandas as pd
import pytest

from rnnlab.config import ModelConfig, from_flat
from rnnlab.demo import (
    Plan,
    add_architectures,
    architecture_cells,
    architecture_reading,
    architecture_tasks,
    parameter_count,
)
from rnnlab.report import HtmlReport

PARAMS = {"transformer": 18176, "cnn_rnn": 17088, "residual": 17024, "lstm": 12992,
          "linear": 31}


def cell(model, linear=("tie", 1.0), lstm=("tie", 1.0), dataset="sine"):
    return {"dataset": dataset, "model": model, "params": PARAMS[model],
            "linear_outcome": linear[0], "linear_ratio": linear[1],
            "lstm_outcome": lstm[0], "lstm_ratio": lstm[1]}


def references(dataset="sine"):
    return [cell("lstm", ("tie", 0.99), ("", np.nan), dataset),
            cell("linear", ("", np.nan), ("tie", 1.01), dataset)]


def test_a_tie_with_linear_is_said_not_to_be_worth_its_parameters():
    text = architecture_reading(pd.DataFrame([cell("transformer", ("tie", 0.998))]
                                             + references()))
    assert text.startswith("In short: attention, convolutions and skip connections beat both "
                           "the lstm and the linear model on no series here: they have not "
                           "earned their cost.")
    assert "transformer ties linear on sine at 586x the parameters: not worth it" in text
    assert "For comparison, the lstm (419x the parameters of linear) only ties linear on " \
           "sine (1.0% better)" in text


def test_a_clear_win_over_both_references_is_said_to_help():
    text = architecture_reading(pd.DataFrame(
        [cell("transformer", ("win", 0.7), ("win", 0.8))] + references()))
    assert text.startswith("In short: only transformer on sine beat both the lstm and the "
                           "linear model.")
    assert "transformer beats both the lstm and linear on sine (20.0% better than the lstm): " \
           "it helps there" in text
    assert "not worth it" not in text


def test_beating_linear_but_not_the_lstm_and_losing_are_said_as_such():
    rows = [cell("cnn_rnn", ("win", 0.9), ("tie", 1.0)),
            cell("residual", ("loss", 1.05), ("loss", 1.06), "co2"),
            *references(), *references("co2")]
    text = architecture_reading(pd.DataFrame(rows))
    assert "cnn_rnn beats linear but not the lstm on sine: no better than the lstm there" in text
    assert "residual loses to linear on co2 (5.0% worse) at 549x the parameters" in text
    assert "have not earned their cost" in text


def record(model, errors, seed=0, dataset="sine"):
    """A finished run with hand-made test errors; the baselines are fixed."""
    actual = np.sin(np.arange(200) / 5)
    rmse = float(np.sqrt(np.mean(errors ** 2)))
    naive = np.r_[actual[0], actual[:-1]]
    return {"dataset": dataset, "model": model, "seed": seed, "status": "ok", "error": "",
            "rmse": rmse, "mae": rmse, "mase": rmse, "naive_rmse": 0.2, "mean_rmse": 0.7,
            "seasonal_naive_rmse": 0.2, "naive_mae": 0.2, "mean_mae": 0.6,
            "seasonal_naive_mae": 0.2, "naive_mase": 1, "mean_mase": 3,
            "seasonal_naive_mase": 1, "train_seconds": 1.0, "epochs": 5, "best_epoch": 2,
            "predictions": {"actual": actual.tolist(), "model": (actual + errors).tolist(),
                            "naive": naive.tolist(), "mean": np.zeros(200).tolist(),
                            "seasonal_naive": naive.tolist()}}


def hand_made(transformer_scale):
    rng = np.random.default_rng(0)
    linear = rng.normal(0, 0.1, 200)
    records = [record("linear", linear, seed) for seed in (0, 1, 2)]
    records += [record("lstm", linear + rng.normal(0, 0.001, 200), seed) for seed in (0, 1, 2)]
    records += [record("transformer", linear * transformer_scale, seed) for seed in (0, 1, 2)]
    return records


def test_the_one_rule_decides_head_to_head_on_hand_made_runs():
    cells = architecture_cells(hand_made(0.5), PARAMS).set_index("model")
    assert cells.loc["transformer", "linear_outcome"] == "win"
    assert cells.loc["transformer", "linear_ratio"] == pytest.approx(0.5)
    assert cells.loc["transformer", "lstm_outcome"] == "win"
    assert cells.loc["lstm", "linear_outcome"] == "tie"
    assert cells.loc["transformer", "params"] == 18176
    assert "transformer beats both the lstm and linear on sine" in architecture_reading(
        cells.reset_index())

    same = architecture_cells(hand_made(1.0), PARAMS)
    assert "transformer ties linear on sine at 586x the parameters: not worth it" in \
        architecture_reading(same)


def test_parameter_count_is_the_built_nets_numel():
    from rnnlab.models import build_model

    for model in ("transformer", "cnn_rnn", "residual", "lstm", "linear"):
        net = build_model(ModelConfig(model=model, seq_len=30))
        assert parameter_count(from_flat({"model": model, "seq_len": 30}).to_dict()) == sum(
            p.numel() for p in net.parameters())
    assert parameter_count(from_flat({"model": "linear", "seq_len": 30}).to_dict()) == 31
    # Without a seq_len, the window `rnnlab train` picks for the data: two sine periods.
    assert parameter_count(from_flat({"model": "linear"}).to_dict()) == 126 + 1


@pytest.fixture
def alarm():
    def timeout(signum, frame):
        raise TimeoutError("the architecture section took over 120 s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_the_section_runs_end_to_end_on_tiny_settings(tmp_path, alarm):
    from rnnlab.demo import _architecture_answer
    from rnnlab.tasks import run_tasks, stage_records

    plan = Plan.quick()
    plan.arch_data, plan.arch_overrides = ("sine",), {"patience": 1}
    tasks = architecture_tasks(plan)
    assert sorted(t.labels["model"] for t in tasks) == sorted(PARAMS)
    records = stage_records(tasks, run_tasks(tasks, tmp_path / "runs", jobs=1, progress=False))
    assert [r["status"] for r in records] == ["ok"] * 5
    report = HtmlReport("test")
    add_architectures(report, tmp_path, plan, records)
    html = report.render()
    assert "Would attention, convolutions or skip connections do better?" in html
    assert "this section alone trains with patience = 1 instead of 2 (epochs without " \
           "validation gain before stopping)" in html
    for model in PARAMS:
        assert f"<td>{model}</td>" in html
    assert '<p class="reading">In short: ' in html
    assert (tmp_path / "arch_rmse_bars.png").is_file()
    answer = _architecture_answer(plan, {"architectures": records})
    assert answer.startswith("The study suggests attention") and "In short: " in answer
