"""fit_seeds and the k-net training loop: several seeds trained together must behave like
separate fits."""

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab import stacked as stacking
from rnnlab import train as training
from rnnlab.config import ModelConfig, TrainConfig
from rnnlab.errors import DataError
from rnnlab.forecaster import Forecaster, fit_seeds
from rnnlab.models import build_model
from rnnlab.windows import Windows, as_tensor

# The nets alone: these tests are about training several seeds as one.
TINY = dict(seq_len=12, hidden_size=8, num_layers=2, progress=False, candidates="net")
VAL_SIZE = 40


def tiny_series(n=240):
    t = np.arange(n)
    values = np.sin(t / 4) + 0.1 * np.random.default_rng(0).standard_normal(n)
    index = pd.bdate_range("2020-01-01", periods=n, name="date")
    return pd.Series(values, index=index, name="tiny")


def separate(template, series, seeds):
    return [Forecaster(**{**template.get_params(), "seed": s}).fit(series, val_size=VAL_SIZE)
            for s in seeds]


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_stacked_forward_equals_each_nets_forward(model):
    torch.manual_seed(0)
    nets = [build_model(ModelConfig(model=model, seq_len=12, hidden_size=8)) for _ in range(3)]
    for net in nets:
        torch.nn.init.normal_(net.head.weight)
        net.set_skip(torch.randn(12), float(torch.randn(())))
    x = torch.randn(3, 16, 12, 1)
    expected = torch.stack([net(x_m) for net, x_m in zip(nets, x, strict=True)])
    torch.testing.assert_close(stacking.stacked_forward(nets, x), expected)


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_stacked_fits_match_separate_fits(model):
    series = tiny_series()
    template = Forecaster(model=model, epochs=3, patience=10, **TINY)
    seeds = [0, 1, 2]
    stacked = fit_seeds(template, series, VAL_SIZE, seeds)
    alone = separate(template, series, seeds)
    assert [f.seed for f in stacked] == seeds
    for a, b in zip(stacked, alone, strict=True):
        np.testing.assert_allclose(a.predict(series), b.predict(series), rtol=0, atol=1e-5)
        np.testing.assert_allclose(a.history_.val_loss, b.history_.val_loss, rtol=1e-4)
        assert a.history_.best_epoch == b.history_.best_epoch
        assert a.scaler_ == b.scaler_
        assert [(r["name"], r["weight"]) for r in a.candidates_] == \
            [(r["name"], r["weight"]) for r in b.candidates_]
        np.testing.assert_allclose([r["loss"] for r in a.candidates_],
                                   [r["loss"] for r in b.candidates_], rtol=1e-6)
        assert (a.n_train_, a.n_val_) == (b.n_train_, b.n_val_)
        pd.testing.assert_series_equal(a.tail_, b.tail_)
    # Different seeds really are different models.
    assert not np.allclose(stacked[0].predict(series), stacked[1].predict(series))


@pytest.mark.parametrize("model", ["gru", "lstm"])  # stacked, and one forward per model
def test_each_model_stops_on_its_own_with_its_own_history(model):
    series = tiny_series()
    template = Forecaster(model=model, epochs=15, patience=2, batch_size=64, lr=0.03, **TINY)
    seeds = [0, 1, 2, 3]
    stacked = fit_seeds(template, series, VAL_SIZE, seeds)
    alone = separate(template, series, seeds)
    epochs = [f.history_.epochs_run for f in stacked]
    assert len(set(epochs)) > 1, "the seeds should stop at different epochs in this setup"
    assert epochs == [f.history_.epochs_run for f in alone]
    assert [f.history_.best_epoch for f in stacked] == [f.history_.best_epoch for f in alone]
    assert [f.history_.lr for f in stacked] == [f.history_.lr for f in alone]
    assert len({id(f.history_) for f in stacked}) == len(seeds)
    for a, b in zip(stacked, alone, strict=True):
        assert a.history_.stopped == b.history_.stopped
        np.testing.assert_allclose(a.predict(series), b.predict(series), rtol=0, atol=1e-5)


def small_gru():
    return build_model(ModelConfig(model="gru", seq_len=12, hidden_size=8, num_layers=1))


def windows_of(series, seq_len=12, n_val=VAL_SIZE):
    z = as_tensor(((series - series.mean()) / series.std()).to_numpy())
    n_train = len(series) - n_val
    return Windows(z, seq_len, seq_len, n_train, False), Windows(z, seq_len, n_train,
                                                                  len(series), False)


def test_stopped_models_stop_changing(monkeypatch):
    train_w, val_w = windows_of(tiny_series())
    cfg = TrainConfig(epochs=12, batch_size=32, patience=2, lr=1e-2)
    torch.manual_seed(0)
    nets = [small_gru() for _ in range(3)]
    snapshots = []  # every net's weights after each epoch's training
    evaluate = training._losses

    def watch(active, data, stacked):
        snapshots.append([{k: v.clone() for k, v in net.state_dict().items()} for net in nets])
        return evaluate(active, data, stacked)

    monkeypatch.setattr(training, "_losses", watch)
    histories = training.train(nets, train_w, val_w, cfg, [0, 1, 2])
    runs = [h.epochs_run for h in histories]
    assert min(runs) < max(runs), "one net should stop before the others in this setup"
    for m, stopped_after in enumerate(runs):
        last = snapshots[stopped_after][m]
        for later in snapshots[stopped_after + 1:]:
            assert all(torch.equal(last[k], later[m][k]) for k in last)
    # The net that ran longest kept changing after the first one stopped.
    longest = int(np.argmax(runs))
    assert not torch.equal(snapshots[min(runs)][longest]["head.weight"],
                           snapshots[max(runs)][longest]["head.weight"])


def test_gradient_clipping_is_per_model():
    train_w, val_w = windows_of(tiny_series())
    cfg = TrainConfig(epochs=2, batch_size=32, patience=10, clip_grad_norm=1.0)
    torch.manual_seed(0)
    nets = {name: small_gru() for name in ("calm", "wild", "partner")}
    with torch.no_grad():
        nets["wild"].head.weight.fill_(1e4)  # gradients far above the clipping threshold
    x, y = train_w.batch(slice(0, 32))
    torch.nn.functional.mse_loss(nets["wild"](x), y).backward()
    grads = [p.grad.flatten() for p in nets["wild"].parameters() if p.grad is not None]
    assert torch.cat(grads).norm() > 1e4 * cfg.clip_grad_norm
    nets["wild"].zero_grad(set_to_none=True)
    twin = small_gru()
    twin.load_state_dict(nets["calm"].state_dict())

    beside_wild = training.train([nets["wild"], nets["calm"]], train_w, val_w, cfg, [0, 1])
    beside_calm = training.train([nets["partner"], twin], train_w, val_w, cfg, [0, 1])
    # Clipping over the whole stack would have shrunk the calm net's steps by ~1e-4.
    for name, value in twin.state_dict().items():
        assert torch.equal(nets["calm"].state_dict()[name], value), name
    assert beside_wild[1].val_loss == beside_calm[1].val_loss


def test_a_stacked_result_saves_and_loads(tmp_path):
    series = tiny_series()
    template = Forecaster(model="gru", epochs=2, **TINY)
    fitted = fit_seeds(template, series[:200], VAL_SIZE, [3, 4])[1]
    fitted.save(tmp_path / "m.pt")
    loaded = Forecaster.load(tmp_path / "m.pt")
    pd.testing.assert_series_equal(fitted.predict(series), loaded.predict(series))
    pd.testing.assert_series_equal(fitted.forecast(4), loaded.forecast(4))
    assert loaded.seed == 4 and loaded.history_.val_loss == fitted.history_.val_loss


@pytest.mark.parametrize("model", ["lstm", "cnn_rnn", "linear"])
def test_per_model_forwards_equal_separate_fits_exactly(model):
    series = tiny_series()
    template = Forecaster(model=model, epochs=3, **TINY)
    stacked = fit_seeds(template, series, VAL_SIZE, [0, 1])
    alone = separate(template, series, [0, 1])
    for a, b in zip(stacked, alone, strict=True):
        pd.testing.assert_series_equal(a.predict(series), b.predict(series))
        assert a.history_.val_loss == b.history_.val_loss
        assert a.history_.stopped == b.history_.stopped


def test_dropout_runs_are_repeatable():
    series = tiny_series()
    template = Forecaster(model="rnn", epochs=2, dropout=0.3, **TINY)
    first = fit_seeds(template, series, VAL_SIZE, [0, 1])
    again = fit_seeds(template, series, VAL_SIZE, [0, 1])
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_series_equal(a.predict(series), b.predict(series))


def test_too_short_series_is_refused_by_name():
    template = Forecaster(model="lstm", epochs=1, **TINY)
    with pytest.raises(DataError, match="no candidate could forecast tiny: lstm seq_len 12 "
                                         "needs 28 values before the first origin"):
        fit_seeds(template, tiny_series()[:50], VAL_SIZE, [0, 1])
