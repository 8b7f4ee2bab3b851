"""The training loop, in plain view, and the least-squares fit of the linear skip.

One loop trains one net or k seeds of it at once; it knows nothing about which network it
trains: windows in, loss out.

    rnnlab train --data sine --epochs 200 --patience 10 --clip-grad-norm 1 --out runs/sine
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import TrainConfig
from .errors import ConfigError
from .history import History
from .optim import make_optimizer
from .stacked import backward_losses, stacked_losses, stacks
from .threads import on_one_blas_thread
from .windows import Windows

# Early stopping counts an epoch as better only when validation loss drops by this share:
# smaller gains are noise on a few hundred windows and only cost time.
MIN_IMPROVEMENT = 1e-3
# Ridge strengths tried for the linear skip, relative to the mean eigenvalue of the
# windows' covariance; validation picks one. 0 is plain least squares.
RIDGE_GRID = (0.0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0,
              100.0, 1e4, 1e8)
# Model units give the targets a mean square of about 1 (at most 1 for minmax), so a loss
# this many times above 1, or above the loss training started from, has blown up even when
# still finite: at --lr 10 an LSTM on sine reaches 1e3-1e4 and stays finite.
DIVERGED_FACTOR = 100.0
# An epoch that has run this long is stopped at the next batch when a stop is requested
# (its partial work is dropped: resume restarts it from the last saved epoch); a shorter
# one finishes first, so its work is kept. It also notes its progress this often: a
# 10-million-row epoch takes many minutes on a CPU.
LONG_EPOCH_SECONDS = 10.0
PROGRESS_SECONDS = 30.0

log = logging.getLogger("rnnlab")


def resolve_device(name: str) -> torch.device:
    """The torch device for a checked `TrainConfig.device` name; auto prefers CUDA."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for but no CUDA GPU is visible; use --device cpu")
    return torch.device(name)


@contextlib.contextmanager
def cpu_threads(threads: int):
    """Run the block with `threads` torch CPU threads (0: leave them), then restore."""
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def divergence(epoch: int, train_loss: float, val_loss: float, history: History,
               cfg: TrainConfig) -> str:
    """Why training must stop as diverged (a message with the fix), or "" if it has not."""
    start = history.initial_val_loss if math.isfinite(history.initial_val_loss) else 0.0
    limit = DIVERGED_FACTOR * max(start, 1.0)
    finite = math.isfinite(train_loss) and math.isfinite(val_loss)
    if finite and max(train_loss, val_loss) <= limit:
        return ""
    what = "not finite" if not finite else f"over {limit:.3g}, which only a blown-up net reaches"
    clip = (f"clip gradients harder (--clip-grad-norm {cfg.clip_grad_norm / 10:g})"
            if cfg.clip_grad_norm > 0 else "clip gradients (--clip-grad-norm 1)")
    return (f"training diverged at epoch {epoch} (train loss {train_loss:.3g}, validation "
            f"loss {val_loss:.3g}: {what}); kept the weights of epoch {history.best_epoch}, "
            f"the best so far; lower the learning rate (--lr, now {cfg.lr:g}; default "
            f"{TrainConfig.lr:g}) or {clip}")


@torch.no_grad()
def predict_units(model: nn.Module, data: Windows) -> torch.Tensor:
    """Predictions for every window in model units, (n_windows,), in a few big passes."""
    model.eval()
    parts = [model(data.batch(chunk)[0]) for chunk in data.chunks()]
    return torch.cat(parts) if parts else data.targets.new_zeros(0)


@torch.no_grad()
def evaluate(model: nn.Module, data: Windows) -> float:
    """Mean squared error over all windows (and all their steps), in model units."""
    model.eval()
    total = torch.zeros((), device=data.targets.device)
    if hasattr(model, "loss"):  # a net with its own loss: its mean over the windows
        for chunk in data.chunks():
            x, y = data.batch(chunk)
            total += model.loss(x, y) * len(x)
        return total.item() / max(len(data), 1)
    for chunk in data.chunks():
        x, y = data.batch(chunk)
        total += F.mse_loss(model(x), y, reduction="sum")
    return total.item() / max(data.targets.numel(), 1)


class _Run:
    """One net's optimiser, LR schedule, batch-order generator and early-stopping state."""

    def __init__(self, net: nn.Module, cfg: TrainConfig, seed: int):
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

    def snapshot(self) -> dict:
        """Everything needed to continue this run exactly (global torch RNG included)."""
        return {
            "model": self.net.state_dict(), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else {},
            "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
            "history": asdict(self.history), "best_weights": self.best_weights,
            "bad_epochs": self.bad_epochs,
        }

    def restore(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.sched is not None:
            self.sched.load_state_dict(state["scheduler"])
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.history = History(**state["history"])
        self.best_weights = state["best_weights"]
        self.bad_epochs = int(state["bad_epochs"])

    def end_epoch(self, epoch: int, train_loss: float, val_loss: float,
                  cfg: TrainConfig) -> None:
        """Record the epoch; stop on divergence; step the schedule; keep the best weights."""
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


def train(
    nets: list[nn.Module],
    train_data: Windows,
    val_data: Windows | None,
    cfg: TrainConfig,
    seeds: list[int] | None = None,
    progress: bool | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_epoch_end: Callable[[Callable[[], dict]], None] | None = None,
    resume: dict | None = None,
) -> list[History]:
    """Fit k >= 1 nets by mini-batch Adam with early stopping; restores each one's best
    weights and returns one History per net.

    Every net has its own Adam, clipping, LR schedule, batch order (``seeds``, default
    ``cfg.seed``) and early stopping; each step runs all nets still training, and a net
    that stops leaves. Several rnn or gru nets run as one stacked computation
    (`rnnlab.stacked`). ``History.seconds`` is each net's share of the wall time of the
    epochs it ran in.

    Parameters
    ----------
    progress : True shows a bar, None shows one only on a terminal, False never.
    should_stop : polled after every epoch, and between the batches of an epoch that has
        run LONG_EPOCH_SECONDS (that epoch is then dropped); True ends training as
        "interrupted". An epoch that long also logs its progress every PROGRESS_SECONDS.
    on_epoch_end : one net only: called with a function that snapshots the full training
        state, for checkpoints that `resume` can continue from exactly.
    """
    seeds = [cfg.seed] * len(nets) if seeds is None else list(seeds)
    if (on_epoch_end is not None or resume is not None) and len(nets) != 1:
        raise ValueError("checkpoints and resume follow one net; train the seeds one by one")
    has_val = val_data is not None and len(val_data) > 0
    if not any(p.requires_grad for p in nets[0].parameters()):
        return [_closed_form(net, val_data, has_val) for net in nets]
    runs = [_Run(net, cfg, seed) for net, seed in zip(nets, seeds, strict=True)]
    # A stack decided once: a seed's arithmetic must not change when others stop early.
    stacked = len(nets) > 1 and stacks(nets[0])
    start = 0
    if resume is None:
        initial = _losses(nets, val_data, stacked) if has_val else [math.inf] * len(nets)
        for run, loss in zip(runs, initial, strict=True):
            run.history.initial_val_loss = run.history.best_val_loss = loss
    else:
        runs[0].restore(resume)
        start = runs[0].history.epochs_run
    for run in runs:
        if has_val and run.bad_epochs >= cfg.patience:
            # Early stopping had already ended it (stopped later, e.g. while saving).
            run.history.stopped, run.active = "early_stopping", False
        else:
            run.history.stopped = "max_epochs"

    device = train_data.targets.device
    n = len(train_data)
    # Windows an epoch draws (without replacement, afresh each epoch): all of them, unless
    # the windows bound it (a panel of many thousand series: `GlobalWindows.per_epoch`).
    drawn = min(n, getattr(train_data, "per_epoch", n))
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if cfg.amp and device.type == "cuda" else contextlib.nullcontext())
    # No bar to the maximum and no ETA: early stopping ends most fits long before
    # cfg.epochs (6-15 of 200), so both would promise minutes that never come.
    limit = (f"stops after {cfg.patience} epochs without a gain, at most {cfg.epochs}"
             if has_val else f"{cfg.epochs} epochs")
    bar = tqdm(range(start, cfg.epochs), initial=start, total=cfg.epochs,
               desc="train" if len(runs) == 1 else f"train x{len(runs)}", unit="epoch",
               disable=(not progress) if progress is not None else None, leave=False,
               dynamic_ncols=True,
               bar_format="{desc}: epoch {n_fmt} (" + limit + ") [{elapsed}, {rate_fmt}"
               "{postfix}]")
    for epoch in bar:
        active = [run for run in runs if run.active]
        if not active:
            break
        clock = time.perf_counter()
        active_nets = [run.net for run in active]
        for net in active_nets:
            net.train()
        # (n_models, drawn): each net's own batch order, drawn as its separate fit draws it
        order = torch.stack([torch.randperm(n, generator=run.gen)[:drawn] for run in active])
        order = order.to(device)  # one copy per epoch: batches are gathered on the device
        total = torch.zeros(len(active), device=device)
        batches = order.split(cfg.batch_size, dim=1)
        noted = clock
        for number, idx in enumerate(batches):
            now = time.perf_counter()
            if now - clock > LONG_EPOCH_SECONDS and should_stop is not None and should_stop():
                break  # a long epoch stops here; the epochs before it stay saved
            if now - noted > PROGRESS_SECONDS:
                noted = now
                log.info("epoch %d: batch %s of %s (%.0f%%) after %.0f s", epoch + 1,
                         f"{number:,}", f"{len(batches):,}", 100 * number / len(batches),
                         now - clock)
            x, y = train_data.batch(idx.reshape(-1))
            x = x.view(*idx.shape, *x.shape[1:])  # (n_models, batch, seq_len, n_features)
            for run in active:
                run.opt.zero_grad(set_to_none=True)
            with autocast:
                losses = backward_losses(active_nets, x, y.view(*idx.shape, *y.shape[1:]),
                                         stacked)
            for run in active:
                if cfg.clip_grad_norm > 0:
                    # Backprop through time multiplies gradients step after step; one bad
                    # batch can blow up a recurrent net's weights unless the step is capped.
                    nn.utils.clip_grad_norm_(run.params, cfg.clip_grad_norm)
                run.opt.step()
            total += losses * idx.shape[1]
        else:
            number = len(batches)
        if number < len(batches):  # stopped within the epoch: it does not count
            for run in runs:
                if run.active:
                    run.history.stopped, run.active = "interrupted", False
            break
        # The epoch's only host sync besides validation.
        train_losses = [loss / drawn for loss in total.tolist()]
        val_losses = _losses(active_nets, val_data, stacked) if has_val else train_losses
        share = (time.perf_counter() - clock) / len(active)
        for run, train_loss, val_loss in zip(active, train_losses, val_losses, strict=True):
            run.end_epoch(epoch, train_loss, val_loss, cfg)
            run.history.seconds += share
        if on_epoch_end is not None and runs[0].active:
            on_epoch_end(runs[0].snapshot)
        for run in active:
            if run.active and has_val and run.bad_epochs >= cfg.patience:
                run.history.stopped, run.active = "early_stopping", False
        if should_stop is not None and should_stop():
            for run in runs:
                if run.active:
                    run.history.stopped, run.active = "interrupted", False
        if len(runs) == 1:
            waited = f", {runs[0].bad_epochs} without a gain" if has_val else ""
            bar.set_postfix_str(f"loss: train {train_losses[0]:.4g}, val "
                                f"{val_losses[0]:.4g}{waited}")
        else:
            bar.set_postfix(training=sum(run.active for run in runs))
    bar.close()
    for run in runs:
        run.net.load_state_dict(run.best_weights)
        run.net.eval()
    return [run.history for run in runs]


def _closed_form(net: nn.Module, val_data: Windows | None, has_val: bool) -> History:
    """A net with nothing to train (its linear part is all of it): only its score."""
    history = History(stopped="closed_form")
    if has_val:
        history.best_val_loss = history.initial_val_loss = evaluate(net, val_data)
    net.eval()
    return history


def _losses(nets: list[nn.Module], data: Windows, stacked: bool) -> list[float]:
    return stacked_losses(nets, data) if stacked else [evaluate(net, data) for net in nets]


@on_one_blas_thread
def fit_ridge(train_data: Windows, val_data: Windows | None = None, anchor: int | None = None,
              strengths: tuple[float, ...] = RIDGE_GRID) -> tuple[np.ndarray, float, float]:
    """Least-squares linear autoregression of the target on the window, with intercept.

    The ridge strength is chosen from `RIDGE_GRID` on the validation windows, or without
    them by leave-one-out on the training windows (closed form: each window's error over
    1 - its leverage), so white noise shrinks to the training mean and an exact recurrence
    keeps its exact fit. Normal equations are accumulated in float64 chunks: memory
    stays O(seq_len^2).

    With H targets per window (direct multi-step) it fits one autoregression per step,
    with one strength for all.

    With ``anchor`` P (2 <= P <= seq_len) the shrinkage pulls towards repeating the value P
    steps back (seasonal naive) instead of towards the mean (or "no change" on relative
    windows): the fit is of each target minus its window value one season back, and that
    value's weight of 1 is added back to the result.

    With one strength in `strengths` it fits with that strength.

    Returns (weights (seq_len,) or (seq_len, H), bias (or H biases), chosen relative
    strength).
    """
    seq_len = train_data.seq_len
    outputs = getattr(train_data, "horizon", 1)
    # The window column one season before each target (None: no anchor).
    back = None if anchor is None else seq_len - anchor + np.arange(outputs) % anchor

    def pairs(data):
        for chunk in data.chunks():
            x, y = (t.double().cpu().numpy() for t in data.batch(chunk))
            x, y = x[..., 0], y.reshape(len(y), outputs)
            yield x, (y if back is None else y - x[:, back])

    gram = np.zeros((seq_len, seq_len))
    xsum, xy = np.zeros(seq_len), np.zeros((seq_len, outputs))
    ysum, n = np.zeros(outputs), 0
    for x, y in pairs(train_data):
        gram += x.T @ x
        xsum += x.sum(0)
        xy += x.T @ y
        ysum += y.sum(0)
        n += len(y)
    mean_x, mean_y = xsum / n, ysum / n
    cov = gram - n * np.outer(mean_x, mean_x)
    cross = xy - n * np.outer(mean_x, mean_y)  # (seq_len, H)
    eigval, eigvec = np.linalg.eigh(cov)
    level = max(eigval.mean(), 1e-300)
    projected = eigvec.T @ cross
    # (n_strengths, seq_len): the inverse eigenvalues each strength leaves
    inverses = []
    if eigval.max() <= 0:  # no variance at all (a constant or a ramp in relative units)
        eigval = np.zeros_like(eigval)
    for strength in strengths:
        denom = eigval + strength * level
        # Directions with no variance in training (the zero last input of relative
        # windows) carry no information: leave their weight at zero.
        safe = (denom > eigval.max() * 1e-13) & (denom > 1e-250)
        inverses.append(np.where(safe, 1.0 / np.where(safe, denom, 1.0), 0.0))
    inverses = np.array(inverses)
    # (seq_len, n_strengths, H) and (n_strengths, H)
    # (n_strengths, seq_len, H) as one batched product, then (seq_len, n_strengths, H)
    weights = np.matmul(eigvec, inverses[:, :, None] * projected[None]).transpose(1, 0, 2)
    biases = mean_y - np.tensordot(mean_x, weights, axes=1)

    def solution(k: int) -> tuple:
        w, b = weights[:, k], biases[k]
        if outputs == 1:
            w, b = w[:, 0], float(b[0])
        return _anchored((w, b, strengths[k]), back)

    if len(strengths) == 1:
        return solution(0)
    # Each window's squared error (mean over its steps) per strength, summed with squares
    sq_sum, sq_sq_sum, count = np.zeros(len(strengths)), np.zeros(len(strengths)), 0
    loo = val_data is None or len(val_data) == 0
    for x, y in pairs(train_data if loo else val_data):
        fitted = (x @ weights.reshape(seq_len, -1)).reshape(len(y), -1, outputs) + biases
        error = fitted - y[:, None, :]  # (chunk, n_strengths, H)
        if loo:
            # Leave-one-out: the residual over 1 - the window's leverage under each strength
            scores = ((x - mean_x) @ eigvec) ** 2  # (chunk, seq_len)
            leverage = 1.0 / n + scores @ inverses.T  # (chunk, n_strengths)
            error = error / np.maximum(1.0 - leverage, 1e-12)[..., None]
        sq = (error ** 2).mean(-1)
        sq_sum += sq.sum(0)
        sq_sq_sum += (sq ** 2).sum(0)
        count += len(y)
    mse = sq_sum / count
    best = int(np.argmin(mse))
    # One-standard-error rule: the strongest shrinkage whose error is within noise of the
    # best. On a random walk that is "no change", on noise the mean, while an exact
    # recurrence keeps its exact fit.
    spread = np.sqrt(max(sq_sq_sum[best] / count - mse[best] ** 2, 0.0) / count)
    within = np.flatnonzero(mse <= mse[best] + spread)
    return solution(int(within.max()))


def _anchored(solution: tuple, back: np.ndarray | None) -> tuple:
    """A `fit_ridge` solution with the anchor's weight of 1 per target added back."""
    w, b, strength = solution
    if back is None:
        return solution
    w = np.array(w, dtype=np.float64)
    if w.ndim == 1:
        w[back[0]] += 1.0
    else:
        w[back, np.arange(w.shape[1])] += 1.0
    return w, b, strength
