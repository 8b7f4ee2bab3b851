"""The global recurrent net and the panel forecaster (issue 24): windows that never cross
a series, normalisation from each series' own past, monotone quantiles, pooled intervals
that cover, and checkpoints."""

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab.global_forecaster import GlobalForecaster
from rnnlab.globalnet import (
    QUANTILES,
    build_global_net,
    patch_length,
    prepare,
    series_space,
    windows_for,
)

FAST = dict(hidden_size=8, num_layers=1, epochs=3, ensemble=1, progress=False)


def small_panel(n_series=6, n=80, seed=0) -> dict[str, pd.Series]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    out = {}
    for k in range(n_series):
        level = rng.uniform(10, 100)
        values = level * (1 + 0.2 * np.sin(2 * np.pi * t / 12)) + rng.normal(0, 1, n)
        out[f"s{k}"] = pd.Series(values, index=pd.date_range("2000-01-01", periods=n,
                                                             freq="MS"))
    return out


def test_no_window_crosses_a_series_and_each_reads_only_its_own_past():
    values = [np.arange(1.0, 31.0), 100 + np.arange(20.0), np.arange(50.0) % 7 - 3]
    stops = [20, 12, 40]
    train, val = windows_for(prepare(values, stops, 1), stops, context=16, horizon=4)
    x, y = train.batch(slice(None))
    # Another series changed beyond recognition: no window of the first one moves.
    other = [values[0], values[1] * 1000, values[2] * -5]
    x2, y2 = windows_for(prepare(other, stops, 1), stops, context=16, horizon=4)[0].batch(
        slice(None))
    first = (train.series == 0).numpy()
    assert torch.equal(x[first], x2[first]) and torch.equal(y[first], y2[first], )
    # A series' own later values: the windows before them do not move.
    later = [np.r_[values[0][:18], values[0][18:] * 50], values[1], values[2]]
    x3, _ = windows_for(prepare(later, stops, 1), stops, context=16, horizon=4)[0].batch(
        slice(None))
    early = first & (train.origin.numpy() <= 18)
    assert early.any() and torch.equal(x[early], x3[early])
    # A context that starts before its series is padded, and says so.
    assert (x[..., 1] == 1).any() and (x[x[..., 1] == 1][:, 0] == x[x[..., 1] == 1][:, 0]).all()
    # Targets past a window's stop are unknown (NaN), never another series' values.
    vx, vy = val.batch(slice(None))
    assert torch.isnan(vy).any()


def test_the_log_and_the_season_come_from_the_values_before_the_first_origin():
    rng = np.random.default_rng(1)
    season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(120) / 12)
    values = 50 * season * np.exp(rng.normal(0, 0.02, 120))
    u, logged, indices = series_space(values, 90, 12)
    later = values.copy()
    later[90:] *= 3
    u2, logged2, indices2 = series_space(later, 90, 12)
    assert logged and logged2 and np.array_equal(indices, indices2)
    np.testing.assert_array_equal(u[:90], u2[:90])
    assert series_space(np.r_[0.0, values[1:]], 90, 12)[1] is False  # a zero: no logs


def test_validation_windows_are_capped_evenly_over_series_and_origins(monkeypatch):
    from rnnlab import globalnet

    values = [np.arange(1.0, 101.0) + 10 * k for k in range(5)]
    stops = [60] * 5
    prep = prepare(values, stops, 1)
    _, every = windows_for(prep, stops, context=16, horizon=4)
    assert len(every) == 5 * 40  # every origin from each series' first one on
    monkeypatch.setattr(globalnet, "MAX_VAL_WINDOWS", 50)
    _, capped = windows_for(prep, stops, context=16, horizon=4)
    assert len(capped) == 50
    series = capped.series.numpy()
    assert np.bincount(series).tolist() == [10] * 5  # every series keeps its share
    first = capped.first.numpy()
    origins = capped.origin.numpy() - first
    for k in range(5):  # spread over its origins, from the first to the last, in order
        own = origins[series == k]
        assert own[0] < 64 and own[-1] >= 96 and np.all(np.diff(own) >= 4)
    # the capped windows are some of the full set's, unchanged
    x_all, y_all = every.batch(slice(None))
    x, y = capped.batch(slice(None))
    keys = {(int(s), int(o)): i
            for i, (s, o) in enumerate(zip(every.series, every.origin, strict=True))}
    rows = [keys[(int(s), int(o))] for s, o in zip(capped.series, capped.origin, strict=True)]
    assert torch.equal(x, x_all[rows]) and torch.equal(y.isnan(), y_all[rows].isnan())


def test_an_epoch_draws_at_most_its_bound_of_windows_afresh(monkeypatch):
    from rnnlab import globalnet
    from rnnlab.config import TrainConfig
    from rnnlab.train import train

    monkeypatch.setattr(globalnet, "MAX_EPOCH_WINDOWS", 30)
    values = [np.sin(np.arange(120.0) / 3) + 5 + k for k in range(4)]
    stops = [90] * 4
    train_w, val_w = windows_for(prepare(values, stops, 1), stops, context=16, horizon=4)
    assert len(train_w) == 4 * 64  # every series' windows are there to draw from
    drawn = []
    batch = train_w.batch
    monkeypatch.setattr(train_w, "batch", lambda idx: drawn.append(idx.clone()) or batch(idx))
    net = build_global_net("lstm", 16, 4, 8, 1)
    train([net], train_w, val_w, TrainConfig(epochs=2, batch_size=8, patience=5),
          progress=False)
    epochs = [torch.cat(drawn[:4]), torch.cat(drawn[4:])]  # 30 windows: 4 batches of <= 8
    assert len(drawn) == 8 and [len(e) for e in epochs] == [30, 30]
    assert all(len(set(e.tolist())) == 30 for e in epochs)  # without replacement
    assert set(epochs[0].tolist()) != set(epochs[1].tolist())  # drawn afresh


def test_the_recurrence_reads_every_value_once_in_patches_padded_in_front():
    context = 50
    net = build_global_net("lstm", context, 6, 8, 1)
    assert net.patch == patch_length(context) == 4 and net.rnn.input_size == 8
    x = torch.stack([torch.arange(1.0, 51.0), torch.zeros(50)], dim=-1)[None]
    tokens = net.tokens(x)  # (1, 13, 8): two padded values in front of the fifty
    assert tokens.shape == (1, 13, 8)
    flat = tokens.reshape(-1, 2)
    assert flat[2:, 0].tolist() == list(range(1, 51))  # in order, each once
    assert flat[:2, 0].tolist() == [1.0, 1.0] and flat[:2, 1].tolist() == [1.0, 1.0]
    assert flat[2:, 1].abs().sum() == 0  # only the padding is flagged
    assert x[0, 0, 1] == 0  # the caller's context is left as it was


def test_the_quantile_heads_never_cross():
    torch.manual_seed(0)
    net = build_global_net("lstm", 16, 5, 8, 1)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=1.0)
    q = net(torch.randn(64, 16, 2))
    assert q.shape == (64, 5, len(QUANTILES))
    assert (torch.diff(q, dim=-1) >= 0).all()


def test_a_gaussian_panel_is_covered_at_its_level():
    rng = np.random.default_rng(2)
    panel = {f"g{k}": pd.Series(rng.normal(5, 1, 120)) for k in range(30)}
    fit = {k: s.iloc[:-6] for k, s in panel.items()}
    g = GlobalForecaster(horizon=6, interval=0.8, **FAST).fit(fit)
    covered = []
    for name, s in panel.items():
        bounds = g.forecast_interval(name, 6)
        y = s.to_numpy()[-6:]
        covered.append(np.mean((y >= bounds["lower"].to_numpy()) & (y <= bounds["upper"]
                                                                       .to_numpy())))
    assert 0.7 <= np.mean(covered) <= 0.9, np.mean(covered)


def test_a_panel_forecaster_chooses_per_series_and_survives_a_checkpoint(tmp_path):
    panel = small_panel()
    g = GlobalForecaster(horizon=6, **FAST).fit({k: s.iloc[:-6] for k, s in panel.items()})
    assert sorted(g.names_) == sorted(panel)
    chosen = {name: [c.family for c, _ in f.pool_] for name, f in g.forecasters_.items()}
    assert all(families for families in chosen.values())
    assert all(any(r["family"] == "global" for r in f.candidates_)
               for f in g.forecasters_.values())
    g.save(tmp_path / "g.pt")
    loaded = GlobalForecaster.load(tmp_path / "g.pt")
    for name in panel:
        pd.testing.assert_frame_equal(loaded.forecast_interval(name, 6),
                                      g.forecast_interval(name, 6))


@pytest.mark.parametrize("candidates", ["net", "naive,net"])
def test_in_a_panel_the_net_family_is_the_global_net_and_no_series_trains_its_own(
        candidates, monkeypatch):
    from rnnlab import recurrent

    def refuse(*args, **kwargs):
        raise AssertionError("a series' own net was trained in a panel")

    monkeypatch.setattr(recurrent, "train_nets", refuse)
    g = GlobalForecaster(horizon=6, candidates=candidates, **FAST).fit(small_panel(3))
    wanted = {"global"} if candidates == "net" else {"global", "naive"}
    for f in g.forecasters_.values():
        assert {r["family"] for r in f.candidates_} == wanted


def test_an_unknown_or_skipped_series_is_one_line():
    panel = small_panel(3)
    panel["short"] = pd.Series([1.0, 2.0, 3.0])
    g = GlobalForecaster(horizon=6, **FAST).fit(panel)
    with pytest.raises(Exception, match="'short' was skipped at training .* skipped.csv"):
        g.forecast("short", 3)
    with pytest.raises(Exception, match="'S1' is not one the model .* did you mean s1"):
        g.forecast("S1", 3)


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_the_series_pools_on_worker_processes_match_those_fitted_here(backend):
    import functools

    from rnnlab.tasks import pool_map, ray_map

    if backend == "ray":
        pytest.importorskip("ray", reason="--backend ray needs the ray extra")
    mapper = functools.partial(pool_map, jobs=2) if backend == "local" else \
        functools.partial(ray_map, jobs=2)
    panel = {k: s.iloc[:-6] for k, s in small_panel(4).items()}
    here = GlobalForecaster(horizon=6, **FAST).fit(panel)
    there = GlobalForecaster(horizon=6, **FAST).fit(panel, mapper=mapper)
    for name in panel:
        assert here.forecasters_[name].candidates_ == there.forecasters_[name].candidates_
        pd.testing.assert_frame_equal(here.forecast_interval(name, 6),
                                      there.forecast_interval(name, 6))


def test_the_panel_forecaster_is_importable_from_the_package_as_the_docs_name_it():
    import rnnlab

    assert rnnlab.GlobalForecaster is GlobalForecaster
    assert "GlobalForecaster" in rnnlab.__all__
