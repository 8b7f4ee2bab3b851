"""The training loop, in plain view, and the least-squares fit of the linear skip.

The loop knows nothing about which network it trains: windows in, loss out.

    rnnlab train --data sine --epochs 200 --patience 10 --clip-grad-norm 1 --out runs/sine
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import TrainConfig
from .errors import ConfigError
from .optim import make_optimizer
from .windows import Windows

SCHEDULES = ("plateau", "cosine", "none")
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


@dataclass
class History:
    """What happened in training, epoch by epoch (losses in model units)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    initial_val_loss: float = math.nan
    best_epoch: int = 0  # 0: the untrained net (its linear skip) was best
    best_val_loss: float = math.inf
    stopped: str = ""  # early_stopping | max_epochs | diverged | interrupted | closed_form
    message: str = ""
    seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        return {**asdict(self), "epochs_run": self.epochs_run}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda")
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


def check_config(cfg: TrainConfig) -> None:
    if cfg.lr_schedule not in SCHEDULES:
        raise ConfigError(
            f"unknown lr_schedule {cfg.lr_schedule!r}; valid schedules are {', '.join(SCHEDULES)}"
        )
    for name in ("epochs", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    for name in ("lr", ):
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"{name} must be positive, got {getattr(cfg, name)}")
    for name in ("patience", "clip_grad_norm", "weight_decay", "threads"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"{name} must be 0 or more, got {getattr(cfg, name)}")


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
    """Mean squared error over all windows, in model units."""
    model.eval()
    total = torch.zeros((), device=data.targets.device)
    for chunk in data.chunks():
        x, y = data.batch(chunk)
        total += F.mse_loss(model(x), y, reduction="sum")
    return total.item() / max(len(data), 1)


def train(
    model: nn.Module,
    train_data: Windows,
    val_data: Windows | None,
    cfg: TrainConfig,
    progress: bool | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_epoch_end: Callable[[Callable[[], dict]], None] | None = None,
    resume: dict | None = None,
) -> History:
    """Fit `model` by mini-batch Adam with early stopping; restores the best weights.

    Parameters
    ----------
    progress : True shows a bar, None shows one only on a terminal, False never.
    should_stop : polled after every epoch; True ends training as "interrupted".
    on_epoch_end : called with a function that snapshots the full training state, for
        checkpoints that `resume` can continue from exactly.
    """
    from tqdm.auto import tqdm

    params = [p for p in model.parameters() if p.requires_grad]
    history = History()
    if not params:
        history.stopped = "closed_form"
        if val_data is not None and len(val_data):
            history.best_val_loss = history.initial_val_loss = evaluate(model, val_data)
        return history

    opt = make_optimizer(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.lr_schedule == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.5, patience=max(1, cfg.patience // 2))
    elif cfg.lr_schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    else:
        sched = None
    gen = torch.Generator().manual_seed(cfg.seed)
    has_val = val_data is not None and len(val_data) > 0
    device = train_data.targets.device
    n = len(train_data)

    if resume is None:
        history.initial_val_loss = evaluate(model, val_data) if has_val else math.inf
        history.best_val_loss = history.initial_val_loss
        best_weights = copy.deepcopy(model.state_dict())
        bad_epochs, start = 0, 0
    else:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        if sched is not None:
            sched.load_state_dict(resume["scheduler"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        history = History(**resume["history"])
        best_weights = resume["best_weights"]
        bad_epochs, start = int(resume["bad_epochs"]), history.epochs_run
        if has_val and bad_epochs >= cfg.patience:
            # Early stopping had already ended it (stopped later, e.g. while saving).
            start = cfg.epochs

    def snapshot() -> dict:
        return {
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else {},
            "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
            "history": asdict(history), "best_weights": best_weights,
            "bad_epochs": bad_epochs,
        }

    clock = time.perf_counter()
    bar = tqdm(range(start, cfg.epochs), initial=start, total=cfg.epochs, desc="train",
               unit="epoch", disable=(not progress) if progress is not None else None,
               leave=False, dynamic_ncols=True)
    ended_early = has_val and bad_epochs >= cfg.patience
    history.stopped = "early_stopping" if ended_early else "max_epochs"
    for epoch in bar:
        model.train()
        total = torch.zeros((), device=device)
        for idx in torch.randperm(n, generator=gen).split(cfg.batch_size):
            x, y = train_data.batch(idx.to(device))
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(x), y)
            loss.backward()
            if cfg.clip_grad_norm > 0:
                # Backprop through time multiplies gradients step after step; one bad batch
                # can blow up a recurrent net's weights unless the step size is capped.
                nn.utils.clip_grad_norm_(params, cfg.clip_grad_norm)
            opt.step()
            total += loss.detach() * len(idx)
        train_loss = total.item() / n  # the epoch's only host sync besides validation
        val_loss = evaluate(model, val_data) if has_val else train_loss
        history.train_loss.append(train_loss)
        history.val_loss.append(val_loss)
        history.lr.append(opt.param_groups[0]["lr"])
        bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")

        message = divergence(epoch + 1, train_loss, val_loss, history, cfg)
        if message:
            history.stopped, history.message = "diverged", message
            break
        if sched is not None:
            sched.step(val_loss) if cfg.lr_schedule == "plateau" else sched.step()
        if val_loss < history.best_val_loss * (1 - MIN_IMPROVEMENT):
            history.best_val_loss, history.best_epoch = val_loss, epoch + 1
            best_weights = copy.deepcopy(model.state_dict())
            bad_epochs = 0
        else:
            bad_epochs += 1
        history.seconds += time.perf_counter() - clock
        clock = time.perf_counter()
        if on_epoch_end is not None:
            on_epoch_end(snapshot)
        if has_val and bad_epochs >= cfg.patience:
            history.stopped = "early_stopping"
            break
        if should_stop is not None and should_stop():
            history.stopped = "interrupted"
            break
    bar.close()
    history.seconds += time.perf_counter() - clock
    model.load_state_dict(best_weights)
    model.eval()
    return history


def fit_ridge(train_data: Windows, val_data: Windows | None) -> tuple[np.ndarray, float, float]:
    """Least-squares linear autoregression of the target on the window, with intercept.

    The ridge strength is chosen on the validation windows from `RIDGE_GRID`, so white
    noise shrinks to the training mean and an exact recurrence keeps its exact fit.
    Normal equations are accumulated in float64 chunks: memory stays O(seq_len^2).

    Returns (weights (seq_len,), bias, chosen relative strength).
    """
    seq_len = train_data.seq_len
    gram = np.zeros((seq_len, seq_len))
    xsum, xy = np.zeros(seq_len), np.zeros(seq_len)
    ysum, n = 0.0, 0
    for chunk in train_data.chunks():
        x, y = (t.double().cpu().numpy() for t in train_data.batch(chunk))
        x = x[..., 0]
        gram += x.T @ x
        xsum += x.sum(0)
        xy += x.T @ y
        ysum += y.sum()
        n += len(y)
    mean_x, mean_y = xsum / n, ysum / n
    cov = gram - n * np.outer(mean_x, mean_x)
    cross = xy - n * mean_x * mean_y
    eigval, eigvec = np.linalg.eigh(cov)
    level = max(eigval.mean(), 1e-300)
    projected = eigvec.T @ cross
    solutions = []
    for strength in RIDGE_GRID:
        denom = eigval + strength * level
        # Directions with no variance in training (the zero last input of relative
        # windows) carry no information: leave their weight at zero.
        safe = denom > eigval.max() * 1e-13
        inv = np.where(safe, 1.0 / np.where(safe, denom, 1.0), 0.0)
        w = eigvec @ (inv * projected)
        solutions.append((w, mean_y - mean_x @ w, strength))
    if val_data is None or len(val_data) == 0:
        return solutions[RIDGE_GRID.index(1e-4)]
    weights = np.stack([w for w, _, _ in solutions], axis=1)  # (seq_len, n_strengths)
    biases = np.array([b for _, b, _ in solutions])
    sq_sum, sq_sq_sum, count = np.zeros(len(solutions)), np.zeros(len(solutions)), 0
    for chunk in val_data.chunks():
        x, y = (t.double().cpu().numpy() for t in val_data.batch(chunk))
        sq = (x[..., 0] @ weights + biases - y[:, None]) ** 2  # (chunk, n_strengths)
        sq_sum += sq.sum(0)
        sq_sq_sum += (sq ** 2).sum(0)
        count += len(y)
    mse = sq_sum / count
    best = int(np.argmin(mse))
    # One-standard-error rule: the strongest shrinkage whose validation error is within
    # noise of the best. On a random walk that is "no change", on noise the mean, while
    # an exact recurrence keeps its exact fit.
    spread = np.sqrt(max(sq_sq_sum[best] / count - mse[best] ** 2, 0.0) / count)
    within = np.flatnonzero(mse <= mse[best] + spread)
    return solutions[int(within.max())]
