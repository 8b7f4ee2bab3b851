"""Global multi-step paths: past values only, the same as the one-series-at-a-time loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnlab.global_forecaster import GlobalForecaster
from rnnlab.panel import PanelWindows


def panel(n=160):
    rng = np.random.default_rng(3)
    t = np.arange(n)
    return {f"s{k}": pd.Series(5.0 * (k + 1) + np.sin(2 * np.pi * t / (8 + 4 * k))
                               + rng.normal(0, 0.1, n), name=f"s{k}") for k in range(3)}


@pytest.fixture(scope="module", params=[("window", False, "recursive"),
                                        ("standard", True, "recursive"),
                                        ("window", False, "direct")],
                ids=["window", "standard-embedding", "direct"])
def fitted(request):
    scaler, embedding, strategy = request.param
    data = panel()
    g = GlobalForecaster(model="gru", seq_len=12, hidden_size=8, epochs=2, scaler=scaler,
                         series_embedding=embedding, horizon=3, strategy=strategy,
                         progress=False, seed=0)
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
    # One pass per step (per 3 steps with direct), every series and origin together.
    assert calls == [3 * 40] * (6 if g.strategy == "recursive" else 2)
    assert all(p.shape == (40, 6) for p in paths.values())


def test_direct_windows_keep_all_their_targets_inside_their_part_of_their_series():
    import torch

    z = torch.arange(40.0)  # series 0: rows 0..19, series 1: rows 20..39
    starts = np.array([0, 20, 40])
    w = PanelWindows(z, starts, 4, np.array([4, 4]), np.array([15, 18]),
                     np.array([False, False]), horizon=3)
    assert len(w) == (15 - 4 - 2) + (18 - 4 - 2)
    x, y = w.batch(slice(None))
    assert y.shape == (len(w), 3)
    first = y[:, 0].long().numpy()
    series = (first >= 20).astype(int)
    local_last = y[:, -1].long().numpy() - starts[series]
    assert (local_last < np.array([15, 18])[series]).all()  # never reaches hi
    assert (x[:, -1, 0] == y[:, 0] - 1).all()  # the look-back ends just before
