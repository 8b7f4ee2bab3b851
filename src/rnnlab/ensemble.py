"""Several seeds of one model trained together: one loop, one step for all seeds at once.

`fit_seeds` returns one fitted `Forecaster` per seed, each as usable as a separate
``Forecaster(seed=s).fit(series, val_size)``. What the seeds share (the scaler with its
ADF test, the windows, the ridge fit of the frozen linear skip) is computed once. What
differs (the initial weights, the batch order, dropout, Adam state, gradient clipping, the
LR schedule, early stopping with its best weights, the History) stays per model. Every
step runs all models still training; a model that stops leaves.

    rnnlab compare --data sine --models gru --seeds 5

How a step runs all models (figures from benchmarks/seeds.py on the 2-core CPU):
- rnn and gru: weights stacked along a leading model axis, the recurrence as batched
  matrix products (`stacked_forward`); five seeds fit 1.3-2x faster than five separate
  fits. ``torch.func.vmap`` cannot do this: torch has no batching rule for aten::lstm and
  its kin.
- every other model, lstm included: each net's own forward and backward, one net after
  the other: as fast as separate fits, and equal to them bit for bit. nn.LSTM's fused
  oneDNN kernel beats the stacked form, which made five lstm seeds 1.5x slower.

Exactness: with dropout 0 every model sees the initial weights and batches of its separate
fit, and the same optimiser, clipping, schedule and stopping rules. Per-model forwards
are then equal to separate fits bit for bit; the stacked rnn/gru differ by float rounding
only (their sums run in another order), which can move an early-stopping decision that
sits within rounding of the 0.1% threshold. Dropout masks come from the global torch RNG
in one stream for all models: repeatable, but not those of separate fits. Models with
nothing to train (linear) are fitted separately.
"""

from __future__ import annotations

import copy
import math
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .forecaster import Forecaster, check_fit_size, check_series
from .models import Net, Recurrent
from .optim import make_optimizer
from .train import (
    MIN_IMPROVEMENT,
    History,
    check_config,
    cpu_threads,
    divergence,
    evaluate,
    fit_ridge,
    resolve_device,
)
from .windows import Windows, as_tensor, fit_scaler

# Recurrent modes whose stacked form beat one forward per model (see the module docstring).
STACKED_MODES = ("RNN_TANH", "GRU")
# Validation windows per stacked pass, summed over models: bounds the (seq_len, models,
# windows, 4 * hidden) gate tensor to about 100 MB at hidden 32.
EVAL_WINDOWS = 8192


def fit_seeds(template: Forecaster, series: pd.Series, val_size: int,
              seeds: list[int]) -> list[Forecaster]:
    """Fit one copy of `template` per seed, all in one training run (`train_stacked`).

    One seed, or a model with nothing to train, is simply fitted with `Forecaster.fit`.

    Parameters
    ----------
    template : its parameters are used; its own `seed` is ignored.
    series : the fit part (training + validation), as for `Forecaster.fit`.
    val_size : the last `val_size` points are held out for early stopping.
    seeds : one model per seed, returned in this order.

    Examples
    --------
    >>> from rnnlab.data import load_series
    >>> template = Forecaster(model="gru", epochs=3, progress=False)
    >>> fits = fit_seeds(template, load_series("sine")[:800], val_size=100, seeds=[0, 1])
    >>> [f.seed for f in fits], fits[1].history_.epochs_run
    ([0, 1], 3)
    """
    params = {k: v for k, v in template.get_params().items() if k != "seed"}
    forecasters = [Forecaster(**params, seed=seed) for seed in seeds]
    if not forecasters:
        return []
    if len(forecasters) == 1 or not any(p.requires_grad for p in _build(template).parameters()):
        return [f.fit(series, val_size=val_size) for f in forecasters]

    series = check_series(series)
    cfg = template.train_config()
    check_config(cfg)
    train_w, val_w, scaler, n_train, n_val = _prepare(template, series, val_size)
    nets = []
    for seed in seeds:
        torch.manual_seed(seed)  # the initial weights of the separate fit with this seed
        nets.append(_build(template).to(train_w.targets.device))
    ridge = None
    with cpu_threads(cfg.threads):
        if nets[0].skip is not None:
            ridge = fit_ridge(train_w, val_w)  # deterministic: one fit serves every seed
            for net in nets:
                net.set_skip(torch.as_tensor(ridge[0], dtype=torch.float32), ridge[1])
        histories = train_stacked(nets, train_w, val_w, cfg, list(seeds), template.progress)
    for forecaster, net, history in zip(forecasters, nets, histories, strict=True):
        forecaster.scaler_ = scaler
        forecaster.ridge_strength_ = None if ridge is None else ridge[2]
        forecaster.history_ = history
        forecaster.model_ = net
        forecaster.n_train_, forecaster.n_val_ = n_train, n_val
        forecaster._remember_tail(series, forecaster.seq_len)
        forecaster.fitted_ = True
    return forecasters


def _build(template: Forecaster) -> Net:
    from .models import build_model

    return build_model(template.model, template.seq_len, 1, template.hidden_size,
                       template.num_layers, template.dropout, template.linear_skip)


def _prepare(template: Forecaster, series: pd.Series, val_size: int):
    """The split, scaler and windows of `Forecaster.fit`, with its size check."""
    name = str(series.name or "series")
    n = len(series)
    n_val = int(val_size)
    n_train = n - n_val
    check_fit_size(name, n, n_val, template.seq_len)
    values = series.to_numpy()
    scaler = fit_scaler(template.scaler, values[:n_train], name)
    z = as_tensor(scaler.to_units(values), resolve_device(template.device))  # (n,)
    train_w = Windows(z, template.seq_len, template.seq_len, n_train, scaler.relative)
    val_w = Windows(z, template.seq_len, n_train, n, scaler.relative) if n_val else None
    return train_w, val_w, scaler, n_train, n_val


# --- the stacked forward pass ---------------------------------------------------------


def stacks(net: Net) -> bool:
    """Whether `net` runs in `stacked_forward` (else one forward per model)."""
    rnn = getattr(net, "rnn", None)
    return type(net).body is Recurrent.body and getattr(rnn, "mode", "") in STACKED_MODES


def backward_losses(nets: list[Net], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each net's mean squared error on its own batch, with its gradients accumulated:
    x (n_models, batch, seq_len, 1), y (n_models, batch) -> (n_models,), detached."""
    if stacks(nets[0]):
        losses = (stacked_forward(nets, x) - y).pow(2).mean(1)
        losses.sum().backward()  # each net's loss reaches only its own parameters
        return losses.detach()
    losses = []
    for net, x_m, y_m in zip(nets, x, y, strict=True):
        # Forward and backward one net at a time: a joint backward keeps every net's
        # graph alive at once, which made lstm fits slower than separate ones.
        loss = F.mse_loss(net(x_m), y_m)
        loss.backward()
        losses.append(loss.detach())
    return torch.stack(losses)


def stacked_forward(nets: list[Net], x: torch.Tensor) -> torch.Tensor:
    """All `nets` at once: x (n_models, batch, seq_len, 1) -> (n_models, batch).

    Model m reads only x[m]; gradients reach each net's own parameters.
    """
    first = nets[0]
    kind = first.rnn.mode  # "LSTM", "GRU" or "RNN_TANH"
    h = x.permute(2, 0, 1, 3)  # (seq_len, n_models, batch, 1)
    for layer in range(first.rnn.num_layers):
        weights = [torch.stack([getattr(net.rnn, f"{name}_l{layer}") for net in nets])
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h = _layer(kind, h, *weights)  # (seq_len, n_models, batch, hidden_size)
        if layer < first.rnn.num_layers - 1 and first.rnn.dropout > 0:
            h = F.dropout(h, first.rnn.dropout, first.training)
    head_w = torch.stack([net.head.weight for net in nets])  # (n_models, 1, hidden_size)
    head_b = torch.stack([net.head.bias for net in nets])  # (n_models, 1)
    out = torch.baddbmm(head_b.unsqueeze(1), h[-1], head_w.transpose(1, 2)).squeeze(-1)
    if first.skip is not None:
        # Each net's own skip, computed exactly as its forward does: where the skip is a
        # least-squares fit, the first step's mean residual is zero up to rounding, and
        # Adam turns the sign of that rounding into a full step of the head bias.
        skips = [net.skip(x_m[..., 0]).squeeze(-1) for net, x_m in zip(nets, x, strict=True)]
        out = out + torch.stack(skips)
    return out


def _layer(kind: str, x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
           b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """One recurrent layer for every model: x (seq_len, n_models, batch, n_in) ->
    (seq_len, n_models, batch, hidden_size), with the gate layout of nn.RNN/LSTM/GRU."""
    seq_len, n_models, batch, n_in = x.shape
    hidden = w_hh.shape[-1]
    # The input part of every step in one product; the recurrent bias joins it where the
    # cell adds it unchanged (not GRU, whose new gate scales it by the reset gate).
    bias = b_ih if kind == "GRU" else b_ih + b_hh
    flat = x.permute(1, 0, 2, 3).reshape(n_models, seq_len * batch, n_in)
    inputs = torch.baddbmm(bias.unsqueeze(1), flat, w_ih.transpose(1, 2))
    # unbind, not indexing: indexing's backward would write T full-size zero tensors.
    steps = inputs.view(n_models, seq_len, batch, -1).transpose(0, 1).unbind(0)
    w_hh_t = w_hh.transpose(1, 2)  # (n_models, hidden, gates * hidden)
    h = x.new_zeros(n_models, batch, hidden)
    outputs = []
    if kind == "LSTM":
        c = torch.zeros_like(h)
        for step in steps:
            gates = torch.baddbmm(step, h, w_hh_t)  # (n_models, batch, 4 * hidden)
            i, f, _, o = gates.sigmoid().chunk(4, -1)
            g = gates[..., 2 * hidden:3 * hidden].tanh()
            c = torch.addcmul(f * c, i, g)
            h = o * c.tanh()
            outputs.append(h)
    elif kind == "GRU":
        b_hh = b_hh.unsqueeze(1)
        for step in steps:
            recurrent = torch.baddbmm(b_hh, h, w_hh_t)  # (n_models, batch, 3 * hidden)
            x_r, x_z, x_n = step.chunk(3, -1)
            h_r, h_z, h_n = recurrent.chunk(3, -1)
            r = (x_r + h_r).sigmoid()
            z = (x_z + h_z).sigmoid()
            n = torch.addcmul(x_n, r, h_n).tanh()
            h = torch.addcmul(n, z, h - n)
            outputs.append(h)
    elif kind == "RNN_TANH":
        for step in steps:
            h = torch.baddbmm(step, h, w_hh_t).tanh()
            outputs.append(h)
    else:
        raise ValueError(f"no stacked form for recurrent mode {kind!r}")
    return torch.stack(outputs)


# --- the stacked training loop --------------------------------------------------------


def train_stacked(nets: list[Net], train_data: Windows, val_data: Windows | None, cfg,
                  seeds: list[int], progress: bool | None = None) -> list[History]:
    """`rnnlab.train.train` for several nets at once, one seed each; restores each net's
    best weights and returns one History per net.

    Each net has its own Adam, gradient clipping, LR schedule and early stopping; a net
    that stops leaves the stack, so later epochs cost only the nets still training.
    ``History.seconds`` is each net's share of the wall time of the epochs it ran in, so
    the shares add up to the whole run.
    """
    from tqdm.auto import tqdm

    runs = [_Run(net, cfg, seed) for net, seed in zip(nets, seeds, strict=True)]
    has_val = val_data is not None and len(val_data) > 0
    device = train_data.targets.device
    n = len(train_data)
    initial = _evaluate(nets, val_data) if has_val else [math.inf] * len(nets)
    for run, loss in zip(runs, initial, strict=True):
        run.history.initial_val_loss = run.history.best_val_loss = loss
        run.history.stopped = "max_epochs"

    bar = tqdm(range(cfg.epochs), desc=f"train x{len(runs)}", unit="epoch",
               disable=(not progress) if progress is not None else None, leave=False,
               dynamic_ncols=True)
    for epoch in bar:
        active = [run for run in runs if run.active]
        if not active:
            break
        clock = time.perf_counter()
        active_nets = [run.net for run in active]
        for net in active_nets:
            net.train()
        # (n_models, n): each net's own batch order, drawn as its separate fit draws it
        order = torch.stack([torch.randperm(n, generator=run.gen) for run in active])
        total = torch.zeros(len(active), device=device)
        for idx in order.split(cfg.batch_size, dim=1):
            x, y = train_data.batch(idx.reshape(-1).to(device))
            x = x.view(*idx.shape, *x.shape[1:])  # (n_models, batch, seq_len, 1)
            for run in active:
                run.opt.zero_grad(set_to_none=True)
            losses = backward_losses(active_nets, x, y.view(idx.shape))
            for run in active:
                if cfg.clip_grad_norm > 0:
                    # Per net: a blown-up gradient in one must not shrink another's step.
                    nn.utils.clip_grad_norm_(run.params, cfg.clip_grad_norm)
                run.opt.step()
            total += losses * idx.shape[1]
        train_losses = (total / n).tolist()  # the epoch's only host sync besides validation
        val_losses = _evaluate(active_nets, val_data) if has_val else train_losses
        share = (time.perf_counter() - clock) / len(active)
        for run, train_loss, val_loss in zip(active, train_losses, val_losses, strict=True):
            run.end_epoch(epoch, train_loss, val_loss, has_val, cfg)
            run.history.seconds += share
        bar.set_postfix(training=sum(run.active for run in runs))
    bar.close()
    for run in runs:
        run.net.load_state_dict(run.best_weights)
        run.net.eval()
    return [run.history for run in runs]


class _Run:
    """One net's optimiser, schedule, batch-order generator and early-stopping state."""

    def __init__(self, net: Net, cfg, seed: int):
        self.net = net
        self.params = [p for p in net.parameters() if p.requires_grad]
        self.opt = make_optimizer(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.lr_schedule == "plateau":
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.opt, factor=0.5, patience=max(1, cfg.patience // 2))
        elif cfg.lr_schedule == "cosine":
            self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=cfg.epochs)
        else:
            self.sched = None
        self.gen = torch.Generator().manual_seed(seed)
        self.history = History()
        self.best_weights = copy.deepcopy(net.state_dict())
        self.bad_epochs = 0
        self.active = True

    def end_epoch(self, epoch: int, train_loss: float, val_loss: float, has_val: bool,
                  cfg) -> None:
        """The per-epoch bookkeeping of `rnnlab.train.train`, for this net alone."""
        history = self.history
        history.train_loss.append(train_loss)
        history.val_loss.append(val_loss)
        history.lr.append(self.opt.param_groups[0]["lr"])
        message = divergence(epoch + 1, train_loss, val_loss, history, cfg)
        if message:
            history.stopped, history.message = "diverged", message
            self.active = False
            return
        if self.sched is not None:
            self.sched.step(val_loss) if cfg.lr_schedule == "plateau" else self.sched.step()
        if val_loss < history.best_val_loss * (1 - MIN_IMPROVEMENT):
            history.best_val_loss, history.best_epoch = val_loss, epoch + 1
            self.best_weights = copy.deepcopy(self.net.state_dict())
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        if has_val and self.bad_epochs >= cfg.patience:
            history.stopped = "early_stopping"
            self.active = False


@torch.no_grad()
def _evaluate(nets: list[Net], data: Windows) -> list[float]:
    """Each net's mean squared error over all windows of `data`, in model units."""
    if not stacks(nets[0]):
        return [evaluate(net, data) for net in nets]
    for net in nets:
        net.eval()
    total = torch.zeros(len(nets), device=data.targets.device)
    chunk = max(1, EVAL_WINDOWS // len(nets))
    for lo in range(0, len(data), chunk):
        x, y = data.batch(slice(lo, min(lo + chunk, len(data))))
        x = x.expand(len(nets), *x.shape)  # every net reads the same windows
        total += (stacked_forward(nets, x) - y).pow(2).sum(1)
    return (total / max(len(data), 1)).tolist()
