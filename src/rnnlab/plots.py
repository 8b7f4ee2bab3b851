"""Every figure rnnlab draws, in one place: matplotlib loads only when a plot is drawn.

    rnnlab train --data sine --out runs/sine   # writes test_predictions.png and loss.png
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .checkpoint import atomic_write
from .config import param_names
from .diagnostics import ALPHA, Inspection
from .explain import Anatomy, MemoryProfile
from .metrics import METRICS

log = logging.getLogger("rnnlab")


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize, layout: str = "constrained",
              **kwargs):
    """A figure and its axes, without pyplot: matplotlib's Figure draws to PNG through Agg
    on its own, and skipping pyplot's backend machinery halves the import (0.36 s against
    0.72 s here), which every `rnnlab train` pays for its two plots."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)



def plot_test(predictions: pd.DataFrame, path: str | Path, title: str = "",
              lower=None, upper=None, level: float | None = None) -> None:
    """Test part: actual values, the model and the naive baseline; with `lower` and
    `upper` (one value per row of `predictions`), the model's interval as a band."""
    # Fixed margins, not the constrained layout: every `rnnlab train` draws this figure,
    # and the layout solver costs a third of its drawing time.
    fig, ax = _subplots(figsize=(10, 4), layout=None)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.13)
    x = predictions.index
    _band(ax, x, lower, upper, level)
    ax.plot(x, predictions["actual"], color="black", lw=1.4, label="actual")
    ax.plot(x, predictions["naive"], color="tab:gray", lw=1, ls="--",
            label="naive (next = last)")
    ax.plot(x, predictions["model"], color="tab:red", lw=1.2, label="model")
    ax.set_title(title or "test part")
    ax.set_xlabel(str(predictions.index.name or "t"))
    ax.legend(loc="best", frameon=False)
    ax.grid(alpha=0.3)
    _save(fig, path)



def plot_forecast(history: pd.Series, forecast: pd.Series, path: str | Path,
                  title: str = "", lower=None, upper=None, level: float | None = None,
                  last: int = 200) -> None:
    """The last `last` known values, the forecast after them and, with `lower` and
    `upper` (one value per forecast step), its interval as a band."""
    fig, ax = _subplots(figsize=(10, 4), layout=None)  # fixed margins, as plot_test
    fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.13)
    known = history.iloc[-last:]
    ax.plot(known.index, known.to_numpy(), color="black", lw=1.4, label="known")
    _band(ax, forecast.index, lower, upper, level)
    ax.plot(forecast.index, forecast.to_numpy(), color="tab:red", lw=1.4, label="forecast")
    ax.axvline(known.index[-1], color="tab:gray", ls=":", lw=1)
    ax.set_title(title or f"forecast, {len(forecast)} steps")
    ax.set_xlabel(str(history.index.name or "t"))
    ax.legend(loc="best", frameon=False)
    ax.grid(alpha=0.3)
    _save(fig, path)


def _band(ax, x, lower, upper, level: float | None) -> None:
    """The interval between `lower` and `upper` as a light band, named by its level; no
    band when either bound is missing."""
    if lower is None or upper is None:
        return
    label = f"{_percent(level)} interval" if level else "interval"
    ax.fill_between(x, np.asarray(lower, dtype=np.float64),
                    np.asarray(upper, dtype=np.float64), color="tab:red", alpha=0.15,
                    lw=0, label=label)


def _percent(share: float) -> str:
    """0.8 -> '80%', 0.975 -> '97.5%'."""
    return f"{round(100 * share, 1):g}%"



def plot_loss(history, path: str | Path, title: str = "", linear_skip: bool = True) -> None:
    """Training and validation loss per epoch, with the restored best epoch marked."""
    fig, ax = _subplots(figsize=(7, 4), layout=None)  # fixed margins, as plot_test
    fig.subplots_adjust(left=0.12, right=0.97, top=0.91, bottom=0.13)
    epochs = range(1, history.epochs_run + 1)
    if history.epochs_run:
        ax.plot(epochs, history.train_loss, label="train", color="tab:blue")
        ax.plot(epochs, history.val_loss, label="validation", color="tab:orange")
        ax.axhline(history.initial_val_loss, color="tab:gray", ls=":", lw=1,
                   label="validation before training ("
                   + ("the linear part)" if linear_skip else "the untrained net)"))
        if history.best_epoch:
            ax.axvline(history.best_epoch, color="tab:green", ls="--", lw=1,
                       label=f"best epoch {history.best_epoch} (restored)")
        positive = [v for v in history.train_loss + history.val_loss if v > 0]
        if positive and max(positive) / min(positive) > 50:
            ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no gradient training (closed-form model)", ha="center",
                transform=ax.transAxes)
    _finish(fig, ax, path, "epoch", "MSE (model units)", title or "loss")



def _finish(fig, ax, path: str | Path, xlabel: str, ylabel: str, title: str) -> None:
    """Label one-panel figures alike (legend, light grid), then write them."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    _save(fig, path)


def _save(fig, path: str | Path) -> None:
    """Write the figure; one that matplotlib cannot draw (dates past year 9999, say) is a
    note, never a failed run: the numbers are written before any figure."""
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))
    except (ValueError, OverflowError) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        log.warning("could not draw %s (%s); the figure is left out", Path(path).name, reason)


MODEL_COLORS = {"rnn": "tab:orange", "lstm": "tab:blue", "gru": "tab:green",
                "cnn_rnn": "tab:purple", "residual": "tab:brown", "transformer": "tab:pink",
                "linear": "tab:olive"}



def plot_rmse_bars(summary: pd.DataFrame, path: str | Path) -> None:
    """Each model's and baseline's test RMSE as a ratio to the best baseline's (the dashed
    line at 1), one panel per series, the axis fitted to the models and that line. The
    training mean can be 25x next = last on prices: on an axis of RMSE its bar flattened
    the comparison that matters. A point beyond the axis is drawn at its edge with its
    ratio written beside it; a log axis only where the models span a decade or more."""
    datasets = list(summary["dataset"].unique())
    cols = min(3, len(datasets))
    rows_n = -(-len(datasets) // cols)
    fig, axes = _subplots(rows_n, cols, figsize=(3.6 * cols + 0.6, 3.4 * rows_n),
                          layout="constrained", squeeze=False)
    for ax in axes.flat[len(datasets):]:
        ax.set_visible(False)
    baselines = ("naive", "mean", "seasonal_naive")
    shown_names = {"naive": "next = last", "mean": "training mean",
                   "seasonal_naive": "seasonal naive"}
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        rows = summary[summary["dataset"] == dataset]
        names = list(rows["model"])
        base = rows[rows["model"].isin(baselines)]["rmse_mean"]
        best = float(base.min()) if len(base) and base.min() > 0 else math.nan
        ratio = rows["rmse_mean"].to_numpy(np.float64) / best
        spread = rows["rmse_std"].fillna(0).to_numpy(np.float64) / best
        models = [r for n, r in zip(names, ratio, strict=True)
                  if n not in baselines and np.isfinite(r)]
        low = max(min([*models, 1.0]), 1e-3)
        high = max([*models, 1.0])
        log = high / low >= 10
        pad = (high / low) ** 0.08 if log else max(0.02, 0.08 * (high - low))
        bottom, top = (low / pad, high * pad) if log else (low - pad, high + pad)
        for i, name in enumerate(names):
            color = "0.55" if name in baselines else MODEL_COLORS.get(name, "tab:blue")
            if not np.isfinite(ratio[i]):
                continue
            if ratio[i] > top or ratio[i] < bottom:  # off the axis: at its edge, labelled
                edge = top if ratio[i] > top else bottom
                ax.plot(i, edge, marker="^" if ratio[i] > top else "v", ms=8, color=color,
                        mfc="white" if name in baselines else color, clip_on=False)
                ax.annotate(f"{ratio[i]:.3g}x", (i, edge), textcoords="offset points",
                            xytext=(0, -12 if ratio[i] > top else 6), ha="center",
                            fontsize=7)
                continue
            ax.errorbar(i, ratio[i], yerr=spread[i], fmt="o", ms=7, color=color, capsize=3,
                        mfc="white" if name in baselines else color)
        ax.axhline(1.0, color="0.3", lw=1, ls="--")
        if log:
            ax.set_yscale("log")
        ax.set_ylim(bottom, top)
        ax.set_xticks(range(len(names)), [shown_names.get(n, n) for n in names],
                      rotation=45, ha="right")
        ax.set_title(dataset, fontsize=10)
        ax.grid(axis="y", alpha=0.3, which="both")
    for row in axes:
        row[0].set_ylabel("test RMSE / best baseline's")
    _save(fig, path)



def plot_overlay(records: list[dict], dataset: str, path: str | Path,
                 last: int = 200) -> bool:
    """Actual test values with every model's first-seed predictions and the naive one."""
    runs = [r for r in records if r.get("dataset") == dataset and r.get("status") == "ok"]
    if not runs:
        return False
    first_seed = min(r["seed"] for r in runs)
    runs = [r for r in runs if r["seed"] == first_seed]
    fig, ax = _subplots(figsize=(10, 3.8), layout="constrained")
    settings = param_names()
    pred = runs[0]["predictions"]
    index = pd.to_datetime(pred["index"]) if isinstance(pred["index"][0], str) else \
        pred["index"]
    cut = slice(-last, None)
    ax.plot(index[cut], pred["actual"][cut], color="black", lw=1.5, label="actual")
    ax.plot(index[cut], pred["naive"][cut], color="0.55", lw=1, ls="--", label="naive")
    drawn = {}
    for i, run in enumerate(runs):
        # Named by the settings that make the run (a sweep's parameters), not its scores.
        label = run["model"] + "".join(f" {k}={v}" for k, v in run.items()
                                       if k in settings and k not in RECORD_KEYS
                                       and not isinstance(v, dict)
                                       and k not in ("dataset", "model", "seed"))
        values = np.asarray(run["predictions"]["model"][cut], dtype=np.float64)
        # Models whose lines coincide (all equal to their linear part, say) would hide
        # each other: say so, and draw each in its own dash.
        twin = next((name for name, other in drawn.items()
                     if np.allclose(values, other, rtol=0, atol=1e-9 * (1 + abs(other).max()))),
                    None)
        drawn[label] = values
        ax.plot(index[cut], values, lw=1.3, ls=LINE_STYLES[i % len(LINE_STYLES)],
                color=MODEL_COLORS.get(run["model"]),
                label=f"{label} (same as {twin})" if twin else label)
    shown = f" (last {last} points)" if len(index) > last else ""
    ax.set_title(f"{dataset}: test part{shown}")
    ax.legend(frameon=False, ncol=4, fontsize=9)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return True



LINE_STYLES = ("-", "--", ":", "-.")
RECORD_KEYS = {"status", "error", "run_id", "outcome", "against", "p_value", "data_sha256",
               "rmse", "mae",
               "mape", "smape", "mase",
               "train_seconds", "wall_seconds", "epochs", "best_epoch", "stopped", "scaler_used",
               "effective_memory",
               "seasonal_period", "n_test"} | {f"{b}_{m}" for b in ("naive", "mean",
                                                                  "seasonal_naive")
                                               for m in METRICS}



def plot_sweep(summary: pd.DataFrame, dataset: str, param: str, path: str | Path) -> None:
    """RMSE against one parameter, error bars over seeds, the naive baseline as a line."""
    rows = summary[(summary["dataset"] == dataset)]
    naive = rows[rows["model"] == "naive"]["rmse_mean"]
    rows = rows[rows[param].notna()] if param in rows else rows
    rows = rows[~rows["model"].isin(["naive", "mean", "seasonal_naive"])]
    fig, ax = _subplots(figsize=(6.5, 3.8), layout="constrained")
    # One line per combination of the other swept settings (and the model).
    others = [c for c in rows.columns if c == "model" or (c in param_names() and c != param)]
    for key, group in rows.groupby(others, dropna=False) if others else [((), rows)]:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{k}={v}" if k != "model" else str(v)
                          for k, v in zip(others, key, strict=True))
        group = group.sort_values(param)
        x = group[param].astype(str) if group[param].dtype == object else group[param]
        ax.errorbar(x, group["rmse_mean"], yerr=group["rmse_std"], marker="o", capsize=3,
                    label=label or None)
    if len(naive):
        ax.axhline(naive.iloc[0], color="0.4", ls="--", lw=1, label="naive (next = last)")
    ax.set_xlabel(param)
    ax.set_ylabel("test RMSE")
    ax.set_title(f"{dataset}: RMSE against {param}")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=9)
    _save(fig, path)


def plot_tuning_history(trials: pd.DataFrame, path: str | Path, title: str = "",
                        naive: float | None = None) -> None:
    """Each trial's objective in the order trials ran, the best so far as a step line.

    `trials` has columns number, value, state (COMPLETE, PRUNED, ...); a pruned trial is
    drawn at the last value it reported, so the figure shows why it was stopped.
    """
    fig, ax = _subplots(figsize=(7, 4), layout=None)  # fixed margins, as plot_loss
    fig.subplots_adjust(left=0.12, right=0.97, top=0.91, bottom=0.13)
    done = trials[(trials["state"] == "COMPLETE") & trials["value"].notna()]
    pruned = trials[(trials["state"] == "PRUNED") & trials["value"].notna()]
    if len(done):
        ax.plot(done["number"], done["value"], "o", color="tab:blue", ms=4,
                label="finished trial")
        ax.step(done["number"], done["value"].cummin(), where="post", color="tab:red",
                label="best so far")
    if len(pruned):
        ax.plot(pruned["number"], pruned["value"], "x", color="tab:gray", ms=5,
                label="pruned (last reported)")
    if naive is not None and math.isfinite(naive):
        ax.axhline(naive, color="0.4", ls="--", lw=1, label="naive on validation")
    shown = [v for v in trials["value"].dropna() if v > 0]
    if shown and max(shown) / min(shown) > 50:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are numbered
    _finish(fig, ax, path, "trial", "validation RMSE (series units)", title or "tuning")


def plot_acf_pacf(inspection: Inspection, path: str | Path) -> None:
    """ACF and PACF bars with the 95% noise band, one panel each."""
    fig, axes = _subplots(2, 1, figsize=(9, 6), layout="constrained", sharex=True)
    band = 1.96 / math.sqrt(inspection.n)
    for ax, values, label in ((axes[0], inspection.acf, "ACF"),
                              (axes[1], inspection.pacf, "PACF")):
        lags = np.arange(len(values))
        ax.vlines(lags[1:], 0, values[1:], color="tab:blue", lw=1.5)
        ax.axhspan(-band, band, color="tab:gray", alpha=0.25, label="95% noise band")
        ax.axhline(0, color="black", lw=0.8)
        if inspection.period:
            ax.axvline(inspection.period, color="tab:red", ls="--", lw=1,
                       label=f"period {inspection.period}")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", framealpha=0.9)  # over the bars, readable
    axes[0].set_title(f"{inspection.name}: {inspection.verdict}")
    axes[1].set_xlabel("lag (samples)")
    _save(fig, path)



def plot_periodogram(inspection: Inspection, path: str | Path) -> None:
    """Power against period (log-log), the dominant period marked."""
    fig, ax = _subplots(figsize=(9, 4), layout="constrained")
    keep = inspection.power > 0
    ax.loglog(1.0 / inspection.frequencies[keep], inspection.power[keep], color="tab:blue",
              lw=1)
    if inspection.period:
        ax.axvline(inspection.period, color="tab:red", ls="--", lw=1,
                   label=f"dominant period {inspection.period}")
        ax.legend(frameon=False)
    ax.invert_xaxis()
    ax.set_xlabel("period (samples)")
    ax.set_ylabel("power")
    ax.set_title(f"{inspection.name}: periodogram"
                 + (" of the changes" if inspection.tests["adf"].p_value > ALPHA else ""))
    ax.grid(alpha=0.3, which="both")
    _save(fig, path)


def plot_memory_curves(profiles: dict[str, MemoryProfile], path: str | Path,
                       title: str = "") -> None:
    """Sensitivity against lag for several models side by side, each labelled with the lag
    it counts most at; a near-constant prediction says it has no lag to read, as the text
    beside it does."""
    fig, ax = _subplots(figsize=(9, 4.5), layout="constrained")
    import matplotlib

    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, profile) in enumerate(profiles.items()):
        color = colors[i % len(colors)]
        lags = np.arange(1, profile.seq_len + 1)
        what = ("near constant: no lag to read" if profile.weak else
                f"peak at lag {profile.peak_lag}")
        ax.plot(lags, profile.sensitivity, marker="o", ms=3, lw=1.4, color=color,
                label=f"{label} ({what})")
    _finish(fig, ax, path, "lag k (steps back; 1 = the last input)",
            "share of mean |d prediction / d x(t-k)|", title or "what the model looks at")



def plot_channel_memory(profile: MemoryProfile, path: str | Path, title: str = "") -> None:
    """A model with features: its sensitivity against lag, one line per input channel
    (the target first), each labelled with its share of the total."""
    fig, ax = _subplots(figsize=(9, 4.5), layout="constrained")
    lags = np.arange(1, profile.seq_len + 1)
    peaks = profile.by_channel.max(axis=1)
    # A target that holds nearly all the sensitivity would flatten every feature's line
    # onto the axis: a log scale (zeros drawn at its floor) keeps them readable.
    log_scale = peaks.min() < peaks.max() / 100
    floor = 1e-6
    for i, name in enumerate(profile.channels):
        share = 100 * profile.channel_share[i]
        who = f"{name} (target)" if i == 0 else name
        values = np.maximum(profile.by_channel[i], floor) if log_scale else profile.by_channel[i]
        ax.plot(lags, values, marker="o", ms=3, lw=1.6 if i == 0 else 1.1,
                color="black" if i == 0 else None, label=f"{who}: {share:.1f}%")
    ax.axvline(profile.effective_memory, color="tab:gray", ls=":", lw=1,
               label=f"effective memory {profile.effective_memory}")
    if log_scale:
        ax.set_yscale("log")
    _finish(fig, ax, path, "lag k (steps back; 1 = the last input)",
            "share of mean |d prediction / d input(t-k)|" + (" (log)" if log_scale else ""),
            title or "what the model looks at, per input")



def plot_episodes(predictions: pd.DataFrame, anatomy: Anatomy, path: str | Path,
                  worst: int = 3, title: str = "") -> None:
    """Actual, model and naive around the worst episodes (highest RMSE after the jump)."""
    episodes = sorted(anatomy.episodes, key=lambda e: -e.rmse_after)[:worst]
    fig, axes = _subplots(1, max(1, len(episodes)), figsize=(4.5 * max(1, len(episodes)),
                                                                  3.8),
                             layout="constrained", squeeze=False)
    steps = anatomy.episode_steps
    for ax, e in zip(axes[0], episodes, strict=False):
        lo, hi = max(0, e.position - steps), min(len(predictions), e.position + 2 * steps)
        part = predictions.iloc[lo:hi]
        x = np.arange(lo, hi) - e.position
        ax.plot(x, part["actual"], color="black", lw=1.4, label="actual")
        ax.plot(x, part["naive"], color="tab:gray", lw=1, ls="--", label="naive")
        ax.plot(x, part["model"], color="tab:red", lw=1.2, label="model")
        ax.axvline(0, color="tab:blue", ls=":", lw=1)
        if e.recovery_steps:
            ax.axvline(e.recovery_steps, color="tab:green", ls=":", lw=1, label="recovered")
        ax.set_title(f"jump {e.jump:+.3g} at {e.at}", fontsize=10)
        ax.set_xlabel("steps after the jump")
        ax.grid(alpha=0.3)
    if not episodes:
        axes[0][0].text(0.5, 0.5, "no jumps in the test part", ha="center",
                        transform=axes[0][0].transAxes)
    axes[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle(title or "worst episodes after a jump")
    _save(fig, path)



BASELINE_STYLES = {"naive": ("0.35", "--"), "seasonal_naive": ("0.55", "-."),
                   "mean": ("0.7", ":")}


def horizon_errors(curves: dict[str, list[float]], path: str | Path, title: str = "",
                   metric: str = "rmse", ylabel: str | None = None,
                   coverage: dict[str, list[float]] | None = None,
                   level: float | None = None, tolerance: float | None = None) -> None:
    """Error against the step ahead, one line per model or baseline (baselines gray and
    dashed); with `coverage` ({label: share per step}), a second panel of the empirical
    coverage per step against the nominal `level`, `tolerance` either side of it shaded.

    >>> horizon_errors({"lstm": [0.1, 0.2], "naive": [0.2, 0.3]}, "h.png")  # doctest: +SKIP
    """
    panels = 2 if coverage else 1
    fig, axes = _subplots(panels, 1, figsize=(8, 4 if panels == 1 else 6.5),
                          layout="constrained", squeeze=False, sharex=True,
                          gridspec_kw={"height_ratios": [2, 1][:panels]})
    ax = axes[0][0]
    # A baseline far above every model (the training mean on a trending series) would
    # squash the curves that matter into a line at the bottom: it is named, not drawn.
    # Baselines are taken lowest first; one whose best step is over 3x everything drawn
    # so far is left out.
    models = [max(v) for k, v in curves.items() if k not in BASELINE_STYLES and len(v)]
    top = max(models) if models else math.inf
    off = {}
    for name in sorted((k for k in curves if k in BASELINE_STYLES and len(curves[k])),
                       key=lambda k: min(curves[k])):
        if min(curves[name]) > 3 * top:
            off[name] = curves[name]
        else:
            top = max(top, max(curves[name]))
    for label, values in curves.items():
        if label not in off:
            _step_line(ax, label, values, curves)
    for name, values in off.items():  # named in the legend, with its range
        ax.plot([], [], " ", label=f"{name.replace('_', ' ')}: off the chart "
                                   f"({min(values):.4g} to {max(values):.4g})")
    ax.set_ylabel(ylabel or f"test {metric.upper()}")
    ax.set_title(title or f"{metric.upper()} against the step ahead")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(alpha=0.3)
    if coverage:
        cov = axes[1][0]
        for label, values in coverage.items():
            _step_line(cov, label, [100 * v for v in values], coverage)
        if level:
            cov.axhline(100 * level, color="black", ls="--", lw=1,
                        label=f"nominal {_percent(level)}")
            # A fixed scale around the level: a 2-point miss must not fill the panel.
            spread = 100 * (tolerance or 0.05)
            if tolerance:
                cov.axhspan(100 * level - spread, 100 * level + spread, color="tab:green",
                            alpha=0.1, lw=0, label=f"within {spread:g} points")
            low, high = cov.get_ylim()
            cov.set_ylim(min(low, max(0, 100 * level - 2 * spread)),
                         max(high, min(100, 100 * level + 2 * spread)))
        cov.set_ylabel("coverage (%)")
        cov.legend(frameon=False, fontsize=9)
        cov.grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    axes[-1][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1][0].set_xlabel("step ahead")
    _save(fig, path)


def _step_line(ax, label: str, values: list[float], curves: dict) -> None:
    """One curve against steps 1..H: a baseline gray and dashed, a model in its cell
    type's colour (solid, or dashed for a second curve of the same cell type)."""
    steps = np.arange(1, len(values) + 1)
    marker = "o" if len(values) <= 24 else None
    if label in BASELINE_STYLES:
        color, dash = BASELINE_STYLES[label]
        ax.plot(steps, values, color=color, ls=dash, lw=1.2, marker=marker, ms=3,
                label=label.replace("_", " "))
        return
    cell = label.split(" ")[0]
    same = [other for other in curves if other.split(" ")[0] == cell]
    dash = LINE_STYLES[same.index(label) % len(LINE_STYLES)]
    ax.plot(steps, values, color=MODEL_COLORS.get(cell), ls=dash, lw=1.6, marker=marker,
            ms=3.5, label=label)


def plot_ratio_histogram(ratios: pd.Series, path: Path, title: str) -> None:
    """Histogram of per-series test RMSE / naive RMSE, with 1 (naive's level) marked."""
    values = ratios.to_numpy(np.float64)
    values = values[np.isfinite(values)]
    fig, ax = _subplots(figsize=(7, 4))
    if len(values):
        ax.hist(values, bins=min(50, max(5, len(values) // 5)), color="tab:blue", alpha=0.8)
        ax.axvline(1.0, color="black", ls="--", lw=1, label="naive (ratio 1)")
        ax.axvline(float(np.median(values)), color="tab:red", lw=1.2,
                   label=f"median {np.median(values):.4f}")
        ax.legend(frameon=False)
    ax.set_xlabel("test RMSE / naive RMSE (below 1 beats naive)")
    ax.set_ylabel("series")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _save(fig, path)
