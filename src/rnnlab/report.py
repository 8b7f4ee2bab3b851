"""Results a person wants to read: text tables, plain-language verdicts and plots.

    rnnlab train --data sine --out runs/sine   # writes test_predictions.png and loss.png
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .metrics import METRICS


def metrics_table(metrics: dict[str, dict], model_label: str = "model") -> str:
    """The model and each baseline side by side, one row each, as aligned text."""
    frame = pd.DataFrame(metrics).T[list(METRICS)]
    frame.index = [model_label if name == "model" else name for name in frame.index]
    return frame.to_string(float_format=lambda v: f"{v:.4g}", na_rep="n/a")


def versus_naive(metrics: dict[str, dict], model_label: str = "model") -> str:
    """One sentence: does the model beat tomorrow = today and the mean, and by how much."""
    model = metrics["model"]["rmse"]
    if not math.isfinite(model):
        return f"{model_label} produced no finite predictions"
    others = {name: m["rmse"] for name, m in metrics.items() if name != "model"}
    best = min(others, key=others.get)
    if model <= others[best]:
        head = f"{model_label} beats every baseline"
    else:
        head = (f"{model_label} loses to the {best} baseline "
                f"(RMSE {model:.4g} vs {others[best]:.4g})")
    return (f"{head}; it is {relative(model, others['naive'])} than tomorrow = today "
            f"(naive RMSE {others['naive']:.4g}) and {relative(model, others['mean'])} than "
            "the training mean")


def relative(value: float, reference: float) -> str:
    """'12.3% worse' or '4.0% better': `value` as an error against `reference`."""
    if reference == 0 or not math.isfinite(reference):
        return "not comparable"
    change = 100 * (value / reference - 1)
    return f"{abs(change):.1f}% {'worse' if change > 0 else 'better'}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_test(predictions: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Test part: actual values, the model and the naive baseline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    x = predictions.index
    ax.plot(x, predictions["actual"], color="black", lw=1.4, label="actual")
    ax.plot(x, predictions["naive"], color="tab:gray", lw=1, ls="--",
            label="naive (tomorrow = today)")
    ax.plot(x, predictions["model"], color="tab:red", lw=1.2, label="model")
    ax.set_title(title or "test part")
    ax.set_xlabel(str(predictions.index.name or "t"))
    ax.legend(loc="best", frameon=False)
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_loss(history, path: str | Path, title: str = "") -> None:
    """Training and validation loss per epoch, with the restored best epoch marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    epochs = range(1, history.epochs_run + 1)
    if history.epochs_run:
        ax.plot(epochs, history.train_loss, label="train", color="tab:blue")
        ax.plot(epochs, history.val_loss, label="validation", color="tab:orange")
        ax.axhline(history.initial_val_loss, color="tab:gray", ls=":", lw=1,
                   label="validation before training (linear part)")
        if history.best_epoch:
            ax.axvline(history.best_epoch, color="tab:green", ls="--", lw=1,
                       label=f"best epoch {history.best_epoch} (restored)")
        positive = [v for v in history.train_loss + history.val_loss if v > 0]
        if positive and max(positive) / min(positive) > 50:
            ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no gradient training (closed-form model)", ha="center",
                transform=ax.transAxes)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (model units)")
    ax.set_title(title or "loss")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    _save(fig, path)


def _save(fig, path: str | Path) -> None:
    from .checkpoint import atomic_write

    plt = _pyplot()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)
