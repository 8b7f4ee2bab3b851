"""Global windows: one tensor, never crossing a series, scalers fitted per series on its own
training part only, and a chronological split per series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab.global_forecaster import GlobalForecaster, fit_panel
from rnnlab.panel import PanelWindows, panel_tensor, split_panel
from rnnlab.windows import Scaler, Windows, fit_scaler

IDENTITY = Scaler("standard", 0.0, 1.0, relative=False)


def tagged(lengths):
    """Series k holds 1000 k + its local position: each value says whose and where."""
    return [1000.0 * k + np.arange(n) for k, n in enumerate(lengths)]


@pytest.mark.parametrize("relative", [False, True])
def test_no_window_crosses_a_series_boundary(relative):
    seq_len, lengths = 5, [12, 7, 30, 6]
    values = tagged(lengths)
    z, starts = panel_tensor(values, [IDENTITY] * len(values))
    windows = PanelWindows(z, starts, seq_len, np.full(4, seq_len), np.array(lengths),
                           np.full(4, relative))
    assert len(windows) == sum(n - seq_len for n in lengths)
    x, y = windows.batch(slice(None))
    offsets = windows.offsets().numpy()
    x = x[..., 0].numpy() + offsets[:, None]
    y = y.numpy() + offsets
    for i in range(len(windows)):  # every window, every row it reads
        s = int(windows.series[i])
        pos = int(windows.pos[i])
        assert starts[s] + seq_len <= pos < starts[s + 1]
        rows = np.append(x[i], y[i])
        assert (rows // 1000 == s).all(), f"window {i} of series {s} reads {rows}"
        local = rows - 1000 * s
        np.testing.assert_array_equal(local, np.arange(local[0], local[0] + seq_len + 1))


def test_a_range_that_would_leave_its_series_is_refused():
    z, starts = panel_tensor(tagged([10, 10]), [IDENTITY] * 2)
    with pytest.raises(ValueError):
        PanelWindows(z, starts, 5, np.array([4, 5]), np.array([10, 10]), np.zeros(2, bool))
    with pytest.raises(ValueError):
        PanelWindows(z, starts, 5, np.array([5, 5]), np.array([11, 10]), np.zeros(2, bool))


def test_batches_match_one_series_windows():
    rng = np.random.default_rng(0)
    values = [np.cumsum(rng.normal(size=n)) + 50 for n in (80, 120)]
    scalers = [fit_scaler("window", v[:60]) for v in values]
    z, starts = panel_tensor(values, scalers)
    windows = PanelWindows(z, starts, 10, np.array([10, 10]), np.array([60, 60]),
                           np.ones(2, bool))
    x, y = windows.batch(torch.arange(50, 100))  # the second series' windows
    own = Windows(z[starts[1]:starts[2]], 10, 10, 60, relative=True)
    x1, y1 = own.batch(slice(None))
    torch.testing.assert_close(x, x1)
    torch.testing.assert_close(y, y1)


def random_walks(n_series=3, n=200, seed=0, start="2020-01-01"):
    rng = np.random.default_rng(seed)
    index = pd.bdate_range(start, periods=n)
    return {f"s{k}": pd.Series(100 * (k + 1) + np.cumsum(rng.normal(size=n)), index=index)
            for k in range(n_series)}


def fitted(panel, **params):
    split = split_panel(panel, seq_len=10)
    forecaster = GlobalForecaster(model="linear", seq_len=10, progress=False, **params)
    return fit_panel(forecaster, panel, split), split


def test_scalers_see_only_their_own_training_part():
    panel = random_walks()
    before, split = fitted(panel)
    changed = dict(panel)
    n_train = split.sizes["s0"].n_train
    s0 = panel["s0"].copy()
    s0.iloc[n_train:] *= 50  # s0's validation and test parts
    changed["s0"] = s0
    changed["s2"] = panel["s2"] * 7 - 300  # another series entirely
    after, _ = fitted(changed)
    assert after.scalers_["s0"] == before.scalers_["s0"]
    assert after.scalers_["s1"] == before.scalers_["s1"]
    assert after.scalers_["s2"] != before.scalers_["s2"]
    for name, series in panel.items():
        own = series.to_numpy()[: split.sizes[name].n_train]
        assert before.scalers_[name] == fit_scaler("window", own, name)


def test_the_test_parts_never_reach_the_fit():
    panel = random_walks()
    before, split = fitted(panel)
    changed = {name: s.copy() for name, s in panel.items()}
    for name, s in changed.items():
        s.iloc[split.sizes[name].n_fit:] = -1e6  # every test part
    after, _ = fitted(changed)
    for key, weight in before.model_.state_dict().items():
        torch.testing.assert_close(after.model_.state_dict()[key], weight)


def test_common_cut_dates_when_series_share_dates():
    panel = random_walks()
    panel["late"] = panel["s1"].iloc[100:] + 1.0  # starts halfway: shorter training part
    split = split_panel(panel, seq_len=10)
    assert split.how == "date"
    assert split.sizes["s0"].n_train == 140 and split.sizes["s0"].n_test == 40
    cut = pd.Timestamp(split.cuts[1])
    for name, sizes in split.sizes.items():
        index = panel[name].index
        assert (index[sizes.n_fit:] >= cut).all() and (index[: sizes.n_fit] < cut).all()
    assert split.sizes["late"].n_train == 40 and split.sizes["late"].n_test == 40


def test_per_series_fractions_when_dates_differ():
    panel = {"old": random_walks(1, 100, start="1990-01-01")["s0"],
             "new": random_walks(1, 300, start="2020-01-01")["s0"]}
    split = split_panel(panel, seq_len=10)
    assert split.how == "fraction" and split.cuts is None
    assert split.sizes["old"].n_test == 20 and split.sizes["new"].n_test == 60


def test_too_short_series_are_skipped_and_listed():
    panel = random_walks()
    panel["tiny"] = panel["s0"].iloc[-30:]
    split = split_panel(panel, seq_len=10)
    assert set(split.sizes) == {"s0", "s1", "s2"}
    assert "tiny has 30 rows" in split.skipped["tiny"]
    assert "seq_len 10 needs 26 training rows" in split.skipped["tiny"]


def test_a_constant_series_is_skipped_at_fit():
    panel = random_walks()
    panel["flat"] = pd.Series(5.0, index=panel["s0"].index)
    forecaster, _ = fitted(panel)
    assert "flat" not in forecaster.scalers_
    assert "constant" in forecaster.skipped_["flat"]


def test_save_and_load_predict_alike(tmp_path):
    panel = random_walks()
    forecaster = GlobalForecaster(model="gru", seq_len=10, hidden_size=4, num_layers=1,
                                  epochs=2, progress=False).fit(panel)
    forecaster.save(tmp_path / "model.pt")
    loaded = GlobalForecaster.load(tmp_path / "model.pt")
    pd.testing.assert_series_equal(loaded.predict("s1", panel["s1"]),
                                   forecaster.predict("s1", panel["s1"]))
    pd.testing.assert_series_equal(loaded.forecast("s2", 4), forecaster.forecast("s2", 4))
    assert loaded.forecast("s2", 4).index[0] > panel["s2"].index[-1]


def test_a_series_embedding_trains_saves_and_tells_series_apart(tmp_path):
    panel = random_walks()
    forecaster = GlobalForecaster(model="gru", seq_len=10, hidden_size=4, num_layers=1,
                                  epochs=2, series_embedding=True, progress=False).fit(panel)
    rows = forecaster.model_.embedding.weight.detach()
    assert rows.shape == (3, 4)
    window = panel["s0"].iloc[:40]
    # The same values read as two different series give two different predictions (once
    # the zero-initialised head is no longer zero).
    torch.nn.init.normal_(forecaster.model_.net.head.weight)
    forecaster.scalers_["s1"] = forecaster.scalers_["s0"]
    assert not np.allclose(forecaster.predict("s0", window), forecaster.predict("s1", window))
    forecaster.save(tmp_path / "model.pt")
    loaded = GlobalForecaster.load(tmp_path / "model.pt")
    assert loaded.series_embedding
    pd.testing.assert_series_equal(loaded.predict("s1", window),
                                   forecaster.predict("s1", window))
