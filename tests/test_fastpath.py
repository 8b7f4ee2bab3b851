"""The torch-free forecast path: same forecasts as the torch path, safe sidecar handling."""

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab.checkpoint import weights_checksum
from rnnlab.fastpath import arrays_checksum, load_fast, save_fast, sidecar_path
from rnnlab.forecaster import Forecaster
from rnnlab.runs import load_for_forecast

# The net alone, so the forecasts compared are the network's own.
TINY = dict(seq_len=12, hidden_size=8, num_layers=2, epochs=1, progress=False,
            candidates="net")


def save(forecaster, path):
    """As `rnnlab train` saves a run: the checkpoint, then its numpy copy."""
    forecaster.save(path)
    save_fast(forecaster, path)


def wavy(n=200, trend=0.0):
    t = np.arange(n)
    values = 3 + np.sin(t / 4) + trend * t + 0.05 * np.random.default_rng(0).standard_normal(n)
    return pd.Series(values, index=pd.bdate_range("2021-01-04", periods=n, name="date"),
                     name="wavy")


def fitted(model, linear_skip, scaler, scramble=True):
    series = wavy(trend=0.02 if scaler == "window" else 0.0)
    forecaster = Forecaster(model=model, linear_skip=linear_skip, scaler=scaler, **TINY)
    forecaster.fit(series)
    if scramble:
        # One epoch barely moves the zero-initialised head: give every weight a real value
        # so each gate and layer of the numpy forward pass is exercised.
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in forecaster.model_.parameters():
                p.copy_(0.4 * torch.randn(p.shape, generator=gen))
    return forecaster, series


CASES = [(m, skip, scaler) for m in ("rnn", "lstm", "gru") for skip in (True, False)
         for scaler in ("standard", "window")] + [("linear", True, "standard"),
                                                  ("linear", True, "window")]


@pytest.mark.parametrize("model,linear_skip,scaler", CASES)
def test_numpy_forecast_matches_torch(tmp_path, model, linear_skip, scaler):
    forecaster, series = fitted(model, linear_skip, scaler)
    path = tmp_path / "model.pt"
    save(forecaster, path)
    fast = load_fast(path)
    assert fast is not None
    expected = Forecaster.load(path).forecast(8)
    got = fast.forecast(8)
    pd.testing.assert_index_equal(got.index, expected.index)
    assert np.allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-5)
    # After other data, too, and on many windows at once against the network itself.
    other = wavy(120, trend=0.05)
    assert np.allclose(fast.forecast(3, other), forecaster.forecast(3, other),
                       rtol=1e-5, atol=1e-5)
    x = np.random.default_rng(2).standard_normal((64, TINY["seq_len"])).astype(np.float32)
    with torch.no_grad():
        net_out = forecaster.model_(torch.from_numpy(x)[..., None]).numpy()
    assert np.allclose(fast.numpy_net_.forward(x.astype(np.float64))[:, 0], net_out,
                       atol=1e-5)


def test_checksum_matches_checkpoint():
    forecaster, _ = fitted("gru", True, "standard")
    state = forecaster.model_.state_dict()
    arrays = {k: v.numpy() for k, v in state.items()}
    assert arrays_checksum(arrays) == weights_checksum(state)
    arrays["head.bias"] = arrays["head.bias"] + 1
    assert arrays_checksum(arrays) != weights_checksum(state)


def test_stale_or_damaged_sidecar_falls_back_to_torch(tmp_path):
    path = tmp_path / "model.pt"
    forecaster, _ = fitted("lstm", True, "standard")
    save(forecaster, path)
    sidecar = sidecar_path(path)
    kept = sidecar.read_bytes()
    # model.pt replaced by another model: the old sidecar must not be used.
    save(fitted("lstm", False, "standard")[0], path)
    sidecar.write_bytes(kept)
    assert load_fast(path) is None
    assert isinstance(load_for_forecast(path), Forecaster)
    # Weights altered inside the sidecar: its checksum no longer holds.
    save(forecaster, path)
    with np.load(sidecar, allow_pickle=False) as npz:
        files = {name: npz[name] for name in npz.files}
    files["weights/head.bias"] = files["weights/head.bias"] + 1
    np.savez(sidecar, **files)
    assert load_fast(path) is None
    # Not a zip at all.
    sidecar.write_bytes(b"not an npz")
    assert load_fast(path) is None
    assert isinstance(load_for_forecast(path), Forecaster)


def test_sidecar_refuses_pickled_objects(tmp_path):
    path = tmp_path / "model.pt"
    save(fitted("rnn", True, "standard", scramble=False)[0], path)
    with np.load(sidecar_path(path), allow_pickle=False) as npz:
        files = {name: npz[name] for name in npz.files}
    files["meta"] = np.array([{"params": {}}], dtype=object)
    np.savez(sidecar_path(path), **files)
    assert load_fast(path) is None


def test_models_without_numpy_pass_write_no_sidecar(tmp_path):
    path = tmp_path / "model.pt"
    save(fitted("lstm", True, "standard", scramble=False)[0], path)
    assert sidecar_path(path).exists()
    save(fitted("cnn_rnn", True, "standard", scramble=False)[0], path)
    assert not sidecar_path(path).exists()
    assert isinstance(load_for_forecast(path), Forecaster)


@pytest.mark.parametrize("strategy", ["recursive", "direct"])
def test_a_horizon_fit_forecasts_without_torch_as_with_it(tmp_path, strategy):
    # Issue 25, item 14: many steps ahead the numpy copy is written and used too.
    series = wavy()
    forecaster = Forecaster(horizon=4, strategy=strategy, **{**TINY, "candidates": "auto"})
    forecaster.fit(series)
    path = tmp_path / "model.pt"
    forecaster.save(path)
    assert not sidecar_path(path).exists()  # save writes the checkpoint alone
    save_fast(forecaster, path)
    fast = load_fast(path)
    assert fast is not None
    expected = Forecaster.load(path).forecast_interval(6)
    got = fast.forecast_interval(6)
    assert np.allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-5)
