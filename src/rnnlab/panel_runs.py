"""A global run folder: one network over every series of a panel, scored per series.

    rnnlab train --data ../shared/data/sandp500/individual_stocks_5yr --global --out runs/sp
    rnnlab forecast --run runs/sp --id AAPL --horizon 5
"""

from __future__ import annotations

import math
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .checkpoint import atomic_write, write_json
from .config import RunConfig
from .errors import ConfigError, DataError, RnnlabError
from .folders import (
    check_out,
    locked,
    read_marker,
    remove_run_files,
    user_files,
    write_marker,
)
from .global_forecaster import GlobalForecaster, fit_panel
from .panel import aggregate, load_panel, score_panel, split_panel
from .runs import interruptible, time_label, versions

KIND = "global"
MODEL_FILE = "model.pt"
# Every file a global run writes: --overwrite deletes these and nothing else.
GLOBAL_FILES = ("config.json", "metrics.json", "per_series.csv", "skipped.csv", MODEL_FILE,
                "rmse_ratio_naive.png")
# Per-window normalisation puts prices of every level on one footing.
GLOBAL_SCALER = "window"


def run_global(config: RunConfig, out: str | Path, command: str = "", *,
               id_column: str | None = None, split: str = "auto",
               series_embedding: bool = False, overwrite: bool = False,
               progress: bool | None = None, plots: bool = True) -> dict:
    """Train one model on every series of `config.data.source` and write a run folder.

    Writes config.json, metrics.json (aggregates over series), per_series.csv (each
    series beside naive, mean and seasonal naive on its test part), skipped.csv (what was
    left out and why), model.pt and a histogram of per-series RMSE ratios to naive.

    Returns the metrics dict that metrics.json holds.
    """
    out = Path(out)
    check_out(out, overwrite)
    config.check()
    data = config.data
    started = time.perf_counter()
    panel = load_panel(data.source, id_column=id_column, target=data.target,
                       date_column=data.date_column, max_fill=data.max_fill,
                       date_format=data.date_format)
    parts = split_panel(panel, config.model.seq_len, data.val_fraction, data.test_fraction,
                        how=split)
    skipped = {**panel.skipped, **parts.skipped}
    if not parts.sizes:
        first = next(iter(skipped.values()))
        raise DataError(f"no series in '{data.source}' is long enough for seq_len "
                        f"{config.model.seq_len} ({first}); use a shorter --seq-len")
    load_seconds = time.perf_counter() - started
    params = {**vars(config.model), **vars(config.training)}
    forecaster = GlobalForecaster(**params, series_embedding=series_embedding,
                                  progress=progress)
    with locked(out):
        _claim(out, overwrite, data.source)
        write_json(out / "config.json", {**config.to_dict(), "command": command,
                                         "global": {"id_column": id_column, "split": split,
                                                    "series_embedding": series_embedding},
                                         "versions": versions()})
        write_json(out / "metrics.json", {"status": "incomplete", "reason": "running"})
        return _train_into(out, config, panel, parts, skipped, forecaster, load_seconds,
                           plots)


def _claim(out: Path, overwrite: bool, data: str) -> None:
    marker = read_marker(out)
    if user_files(out) or marker is not None:
        if not overwrite:
            raise RnnlabError(f"'{out}' already holds files; choose another --out, or pass "
                              "--overwrite to replace a global run there")
        remove_run_files(out, data, kind=KIND)
    write_marker(out, KIND, GLOBAL_FILES)


def _train_into(out: Path, config: RunConfig, panel, parts, skipped: dict, forecaster,
                load_seconds: float, plots: bool) -> dict:
    started = time.perf_counter()
    with interruptible() as stop_requested:
        fit_panel(forecaster, panel, parts, should_stop=stop_requested)
    fit_seconds = time.perf_counter() - started
    skipped.update(forecaster.skipped_)
    per_series = score_panel(forecaster, panel, parts)
    history = forecaster.history_
    metrics = {
        "status": "complete" if history.stopped != "interrupted" else "incomplete",
        "source": config.data.source,
        "model": config.model.model,
        "split": parts.how, "cut_dates": parts.cuts,
        "n_series": len(per_series), "n_skipped": len(skipped),
        "n_windows": forecaster.n_windows_,
        "epochs_run": history.epochs_run, "best_epoch": history.best_epoch,
        # Model units; "initial" is the linear part's alone, before any epoch.
        "val_loss": {"initial": history.initial_val_loss, "best": history.best_val_loss},
        "stopped": history.stopped,
        "epoch_seconds": round(history.seconds / max(history.epochs_run, 1), 3),
        "train_seconds": round(history.seconds, 3),
        "fit_seconds": round(fit_seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "scaler": config.model.scaler,
        "series_embedding": forecaster.series_embedding,
        "test": aggregate(per_series),
    }
    if history.message:
        metrics["message"] = history.message
    if history.stopped == "interrupted":
        metrics["reason"] = (f"interrupted after epoch {history.epochs_run}; the scores are "
                             "those of the best weights so far")
    atomic_write(out / "per_series.csv", lambda fh: per_series.to_csv(fh, index=False))
    frame = pd.DataFrame({"series": list(skipped), "reason": list(skipped.values())})
    atomic_write(out / "skipped.csv", lambda fh: frame.to_csv(fh, index=False))
    forecaster.set_history(panel)  # forecasts start after all known data
    forecaster.save(out / MODEL_FILE)
    write_json(out / "metrics.json", metrics)
    if plots:
        plot_ratio_histogram(per_series["rmse_ratio_naive"], out / "rmse_ratio_naive.png",
                             f"{config.model.model}, one model over {len(per_series)} series")
    return metrics


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def plot_ratio_histogram(ratios: pd.Series, path: Path, title: str) -> None:
    """Histogram of per-series test RMSE / naive RMSE, with 1 (naive's level) marked."""
    from matplotlib.figure import Figure  # without pyplot, as rnnlab.plots draws

    values = ratios.to_numpy(np.float64)
    values = values[np.isfinite(values)]
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
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
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))


def summary_lines(metrics: dict, out: str | Path) -> list[str]:
    """What `rnnlab train --global` prints: sizes, time, and how the series fared."""
    test = metrics["test"]
    ratio = test.get("rmse_ratio_naive", {}).get("median")
    shown = "n/a" if ratio is None or not math.isfinite(ratio) else f"{ratio:.4f}"
    lines = [
        f"{metrics['model']} global over {metrics['n_series']} series ({metrics['n_skipped']} "
        f"skipped, see skipped.csv; split by {metrics['split']}"
        + (f" at {metrics['cut_dates'][0]} / {metrics['cut_dates'][1]}" if metrics["cut_dates"]
           else "") + ")",
        f"{metrics['n_windows']['train']} training windows, {metrics['epochs_run']} epochs "
        f"({metrics['epoch_seconds']:.2f} s each), fit {metrics['fit_seconds']:.1f} s, "
        f"peak memory {metrics['peak_rss_mb']:.0f} MiB",
    ]
    if metrics["n_series"]:
        lines.append(
            f"median test RMSE / naive RMSE {shown}; ties or beats naive on "
            f"{100 * test['share_ties_or_beats_naive']:.1f}% of series (beats it on "
            f"{100 * test['share_beats_naive']:.1f}%), seasonal naive on "
            f"{100 * test['share_ties_or_beats_seasonal_naive']:.1f}%")
    files = sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
    lines.append(f"wrote {out}/: {' '.join(files)}")
    return lines


def is_global_run(run_dir: str | Path) -> bool:
    marker = read_marker(Path(run_dir))
    return marker is not None and marker["kind"] == KIND


def forecast_global(run_dir: str | Path, name: str | None, horizon: int = 10) -> pd.DataFrame:
    """The next `horizon` values of series `name` after its data, from a global run."""
    run_dir = Path(run_dir)
    if not is_global_run(run_dir):
        raise ConfigError(f"'{run_dir}' is not a global run (rnnlab train --global); drop "
                          "--id to forecast from a one-series run")
    forecaster = GlobalForecaster.load(run_dir / MODEL_FILE)
    if name is None:
        names = forecaster.names_
        raise ConfigError(f"'{run_dir}' is a global run over {len(names)} series; pass --id "
                          f"NAME (e.g. --id {names[0]})")
    frame = forecaster.forecast(name, horizon).rename("forecast").reset_index()
    return frame.rename(columns={frame.columns[0]: time_label(frame.iloc[:, 0])})
