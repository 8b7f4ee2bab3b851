"""The delay task and the LSTM's forget-gate start, which the demo's memory section uses.

The task must hinge on the far lag: the closed-form linear autoregression finds it at
exactly `lag` steps back, and a window shorter than the lag leaves only the easy part.
"""

import numpy as np
import pytest
import torch

from rnnlab.backtest import backtest
from rnnlab.config import ModelConfig
from rnnlab.data import delay, load_series
from rnnlab.explain import memory_profile
from rnnlab.forecaster import Forecaster
from rnnlab.models import build_model
from rnnlab.windows import split_sizes


def linear_backtest(series, seq_len: int):
    split = split_sizes(len(series), seq_len, 0.1, 0.2)
    # The linear net alone: its memory is what these tests read.
    forecaster = Forecaster(model="linear", seq_len=seq_len, scaler="standard",
                            candidates="net", progress=False)
    result = backtest(series, forecaster, split)
    metrics = result.metrics
    return result.forecaster, split, metrics["model"]["rmse"] / metrics["mean"]["rmse"]


@pytest.mark.parametrize("lag", [20, 7])
def test_the_next_value_hangs_on_the_far_lag(lag):
    series = delay(seed=1, lag=lag, n=4000)
    assert (len(series), series.name) == (4000, f"delay{lag}")
    forecaster, split, ratio = linear_backtest(series, lag + 5)
    # A linear model's sensitivity is its |weights|, lag 1 first: most on the far lag,
    # about half as much on the last step (0.6 and 0.3 in the recursion), less elsewhere.
    share = memory_profile(forecaster, series, split).sensitivity
    first, second = np.argsort(share)[::-1][:2] + 1
    assert (first, second) == (lag, 1)
    assert share[lag - 1] > 1.5 * share[0]
    assert ratio < 0.75  # about 0.65 in theory


def test_a_window_shorter_than_the_lag_only_gets_the_easy_part():
    series = delay(seed=0, n=4000)
    assert series.name == "delay"  # as --data names it (issue 25, item 15)
    _, _, short = linear_backtest(series, 25)
    _, _, long = linear_backtest(series, 35)
    # About 0.81 and 0.65 x the mean baseline's RMSE in theory.
    assert short > 0.8
    assert long < short - 0.15


def test_delay_is_a_seeded_builtin():
    np.testing.assert_array_equal(load_series("delay", seed=3), delay(seed=3))
    assert not np.array_equal(delay(seed=3).to_numpy(), delay(seed=4).to_numpy())


@pytest.mark.parametrize("name", ["lstm", "cnn_rnn", "residual"])
def test_lstm_forget_gates_start_at_one(name):
    hidden = 8
    torch.manual_seed(0)
    net = build_model(ModelConfig(model=name, seq_len=10, hidden_size=hidden, num_layers=2))
    cells = [m for m in net.modules() if isinstance(m, torch.nn.LSTM)]
    assert cells
    for cell in cells:
        for layer in range(cell.num_layers):
            # PyTorch adds the two biases; gates are stacked input, forget, cell, output.
            bias = getattr(cell, f"bias_ih_l{layer}") + getattr(cell, f"bias_hh_l{layer}")
            forget = bias[hidden:2 * hidden].detach().numpy()
            np.testing.assert_allclose(forget, 1.0)
            assert bias[:hidden].detach().std() > 0  # the other gates keep their random start
