"""A panel's split: common cut dates or per-series fractions, short series listed, and no
test part ever reaching the fit of the global net or any series' pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from rnnlab.global_forecaster import GlobalForecaster, fit_panel
from rnnlab.panel import split_panel


def random_walks(n_series=3, n=200, seed=0, start="2020-01-01"):
    rng = np.random.default_rng(seed)
    index = pd.bdate_range(start, periods=n)
    return {f"s{k}": pd.Series(100 * (k + 1) + np.cumsum(rng.normal(size=n)), index=index)
            for k in range(n_series)}


def fitted(panel, **params):
    split = split_panel(panel, seq_len=10)
    forecaster = GlobalForecaster(horizon=3, hidden_size=4, num_layers=1, epochs=2,
                                  ensemble=1, progress=False, **params)
    return fit_panel(forecaster, panel, split), split


def test_the_test_parts_never_reach_the_fit():
    panel = random_walks()
    before, split = fitted(panel)
    changed = {name: s.copy() for name, s in panel.items()}
    for name, s in changed.items():
        s.iloc[split.sizes[name].n_fit:] = -1e6  # every test part
    after, _ = fitted(changed)
    for net_a, net_b in zip(before.global_.nets, after.global_.nets, strict=True):
        for key, weight in net_a.state_dict().items():
            torch.testing.assert_close(net_b.state_dict()[key], weight)
    for name in panel:
        assert before.forecasters_[name].candidates_ == after.forecasters_[name].candidates_
        np.testing.assert_array_equal(before.forecasters_[name].interval_width_,
                                      after.forecasters_[name].interval_width_)


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
