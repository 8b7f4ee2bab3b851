import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab.backtest import backtest
from rnnlab.config import DataConfig, check
from rnnlab.errors import ConfigError, DataError
from rnnlab.forecaster import Forecaster
from rnnlab.windows import Windows, fit_scaler, split_sizes


def test_split_is_chronological_and_sized():
    split = split_sizes(1000, 30, 0.1, 0.2)
    assert (split.n_train, split.n_val, split.n_test) == (700, 100, 200)
    assert split.n_fit == 800


def test_split_too_short_says_how_many_rows_are_needed():
    with pytest.raises(DataError, match=r"has 44 rows.*needs at least 65 rows"):
        split_sizes(44, 30, 0.1, 0.2, name="APTV close")


def test_config_rejects_fractions_leaving_no_training():
    with pytest.raises(ConfigError, match="val_fraction \\+ test_fraction"):
        check(DataConfig(val_fraction=0.5, test_fraction=0.45))


def test_target_i_is_the_value_right_after_window_i():
    z = torch.arange(20, dtype=torch.float32)
    w = Windows(z, seq_len=5, start=5, stop=20, relative=False)
    assert len(w) == 15
    for i in range(len(w)):
        assert torch.equal(w.inputs[i], z[i:i + 5])
        assert w.targets[i] == z[i + 5]


def test_windows_are_views_of_the_series_not_copies():
    z = torch.randn(1000)
    w = Windows(z, seq_len=30, start=30, stop=1000, relative=False)
    assert w.inputs.untyped_storage().data_ptr() == z.untyped_storage().data_ptr()
    assert w.inputs.shape == (970, 30)


def test_validation_windows_borrow_lookback_but_not_targets():
    z = torch.arange(100, dtype=torch.float32)
    val = Windows(z, seq_len=10, start=70, stop=80, relative=False)
    assert val.inputs[0].tolist() == list(range(60, 70))  # look-back from the train part
    assert val.targets.tolist() == list(range(70, 80))  # targets only from its own part


def test_relative_windows_are_changes_from_the_last_value():
    z = torch.tensor([1.0, 2.0, 4.0, 7.0, 11.0])
    w = Windows(z, seq_len=3, start=3, stop=5, relative=True)
    x, y = w.batch(slice(None))
    assert x.shape == (2, 3, 1)
    assert x[0, :, 0].tolist() == [-3.0, -2.0, 0.0]
    assert y.tolist() == [3.0, 4.0]
    assert w.offsets().tolist() == [4.0, 7.0]


def test_scalers_fit_on_the_training_values_only():
    train = np.array([0.0, 2.0, 4.0])
    assert fit_scaler("standard", train).center == pytest.approx(2.0)
    minmax = fit_scaler("minmax", train)
    assert minmax.to_units(train).tolist() == [-1.0, 0.0, 1.0]
    window = fit_scaler("window", train)
    assert window.relative and window.scale == pytest.approx(2.0)


def test_auto_scaler_uses_windows_for_a_random_walk_and_standard_for_noise():
    rng = np.random.default_rng(1)
    assert fit_scaler("auto", np.cumsum(rng.standard_normal(700))).kind == "window"
    assert fit_scaler("auto", rng.standard_normal(700)).kind == "standard"


def test_constant_training_part_is_refused_by_name():
    with pytest.raises(DataError, match="flat.csv close is constant \\(5\\)"):
        fit_scaler("auto", np.full(100, 5.0), name="flat.csv close")


def test_unknown_scaler_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid scalers are auto, window, standard, minmax"):
        fit_scaler("robust", np.arange(10.0))


def test_changing_the_test_part_moves_nothing_learnt_from_the_past():
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(300) / 5) + 0.1 * rng.standard_normal(300)
    series = pd.Series(values)
    split = split_sizes(300, 20, 0.1, 0.2)
    perturbed = series.copy()
    perturbed.iloc[split.n_fit + 10:] += 100.0  # future values change from test step 10 on

    def run(s):
        f = Forecaster(model="lstm", seq_len=20, hidden_size=8, num_layers=1, epochs=3,
                       progress=False)
        return backtest(s, f, split)

    a, b = run(series), run(perturbed)
    assert a.forecaster.scaler_ == b.forecaster.scaler_
    # The pool's rolling origins lie in the fit part: every fold loss and weight is the same
    assert a.forecaster.candidates_ == b.forecaster.candidates_
    for (name, wa), wb in zip(a.forecaster.model_.state_dict().items(),
                              b.forecaster.model_.state_dict().values(), strict=True):
        assert torch.equal(wa, wb), name
    # Predictions of the first 10 test points only use the unchanged past.
    np.testing.assert_array_equal(a.predictions["model"].iloc[:11],
                                  b.predictions["model"].iloc[:11])
    assert not np.allclose(a.predictions["model"].iloc[12:], b.predictions["model"].iloc[12:])
    assert a.metrics["mean"] != b.metrics["mean"]  # the test part really changed
