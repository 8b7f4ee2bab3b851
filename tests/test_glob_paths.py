"""Global multi-step paths: past values only, the same as the one-series-at-a-time loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnlab.global_forecaster import GlobalForecaster


def panel(n=160):
    rng = np.random.default_rng(3)
    t = np.arange(n)
    return {f"s{k}": pd.Series(5.0 * (k + 1) + np.sin(2 * np.pi * t / (8 + 4 * k))
                               + rng.normal(0, 0.1, n), name=f"s{k}") for k in range(3)}


@pytest.fixture(scope="module", params=[("window", False), ("standard", True)],
                ids=["window", "standard-embedding"])
def fitted(request):
    scaler, embedding = request.param
    data = panel()
    g = GlobalForecaster(model="gru", seq_len=12, hidden_size=8, epochs=2, scaler=scaler,
                         series_embedding=embedding, progress=False, seed=0)
    return g.fit({k: v.iloc[:120] for k, v in data.items()}), data


def test_paths_never_read_a_value_at_or_after_their_origin(fitted):
    g, data = fitted
    horizon = 5
    for origin in (120, 131, 155):
        paths = g.paths_parts(data, {k: np.array([origin]) for k in data}, horizon)
        moved = {k: v.copy() for k, v in data.items()}
        for v in moved.values():
            v.iloc[origin:] += 1e3 * np.arange(1, len(v) - origin + 1)
        again = g.paths_parts(moved, {k: np.array([origin]) for k in data}, horizon)
        for k in data:
            assert np.array_equal(paths[k], again[k]), (k, origin)


def test_paths_match_the_step_by_step_forecast_of_each_series(fitted):
    g, data = fitted
    origins = {k: np.array([120, 140, 150]) for k in data}
    paths = g.paths_parts(data, origins, 4)
    for k, series in data.items():
        assert paths[k].shape == (3, 4)
        for row, origin in enumerate(origins[k]):
            one = g.forecast(k, 4, series.iloc[:origin]).to_numpy()
            assert np.allclose(paths[k][row], one, rtol=1e-5, atol=1e-5), (k, origin)


def test_origins_without_a_full_window_are_refused(fitted):
    g, data = fitted
    with pytest.raises(ValueError, match="origins of s0 must lie in"):
        g.paths_parts(data, {"s0": np.array([5])}, 3)


def test_all_series_and_origins_go_through_the_net_in_horizon_passes(fitted):
    g, data = fitted
    calls = []
    hook = g.model_.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    try:
        paths = g.paths_parts(data, {k: np.arange(120, 160) for k in data}, 6)
    finally:
        hook.remove()
    assert calls == [3 * 40] * 6  # one pass per step, every series and origin together
    assert all(p.shape == (40, 6) for p in paths.values())
