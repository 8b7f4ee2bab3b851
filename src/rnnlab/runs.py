"""One run directory: train with checkpoints, survive interruption, resume, forecast.

    rnnlab train --data stock:A --model lstm --out runs/a
    rnnlab train --out runs/a --resume
    rnnlab forecast --run runs/a --horizon 5
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import platform
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .checkpoint import atomic_write, write_json
from .config import RunConfig
from .errors import CheckpointError, RnnlabError
from .experiment import backtest, load, make_forecaster
from .windows import split_sizes

log = logging.getLogger("rnnlab")

STATE_FILE = "state.pt"
MODEL_FILE = "model.pt"


def versions() -> dict:
    import torch

    return {"rnnlab": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "pandas": pd.__version__}


@contextlib.contextmanager
def interruptible():
    """Turn the first Ctrl-C or SIGTERM into a request to stop after the current epoch.

    A second signal interrupts at once, as usual.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def handle(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        print("\nstopping after this epoch (press Ctrl-C again to abort now)",
              file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def prepare_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a run; make the folder. Nothing is written before input is valid."""
    metrics_path = out / "metrics.json"
    if resume:
        if _status(metrics_path) == "complete":
            raise RnnlabError(f"cannot resume '{out}': it already finished; start a new run "
                              "with another --out, or pass --overwrite instead of --resume")
        return
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            status = _status(metrics_path)
            what = {"complete": "a finished run", "incomplete": "an unfinished run"}.get(
                status, "files")
            extra = " or --resume to continue it" if status == "incomplete" else ""
            raise RnnlabError(
                f"'{out}' already holds {what}; choose another --out, or pass --overwrite to "
                f"replace it{extra}"
            )
        if not (out / "config.json").exists():
            raise RnnlabError(
                f"'{out}' is not an rnnlab run directory; --overwrite only replaces runs, so "
                "choose another --out"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _status(metrics_path: Path) -> str | None:
    try:
        return json.loads(metrics_path.read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def run_train(config: RunConfig | None, out: str | Path, command: str = "", *,
              resume: bool = False, overwrite: bool = False, progress: bool | None = None,
              plots: bool = True) -> dict:
    """Train one model on one source and write a complete run directory.

    Writes config.json, metrics.json, model.pt, predictions.csv and PNG plots into `out`.
    Ctrl-C or SIGTERM stop after the current epoch, keep the best weights so far and mark
    metrics.json incomplete; ``resume=True`` continues exactly where it stopped. A second
    signal aborts at once; the snapshot of the last finished epoch stays resumable.

    `config` may be None with ``resume=True``: the run's saved config is used either way.

    Returns the metrics dict that metrics.json holds.
    """
    out = Path(out)
    if resume:
        config = _saved_config(out)
        prepare_run_dir(out, resume=True, overwrite=False)
        for stale in out.glob(".*.tmp"):  # half-written files of a process killed mid-save
            stale.unlink(missing_ok=True)
    series = load(config.data)
    split = split_sizes(len(series), config.model.seq_len, config.data.val_fraction,
                        config.data.test_fraction, name=str(series.name))
    forecaster = make_forecaster(config.model, config.training, progress)
    _validate(forecaster, series, split)
    fingerprint = series_fingerprint(series)
    resume_state = _load_state(out, fingerprint) if resume else None
    existed = out.exists()
    if not resume:
        prepare_run_dir(out, resume=False, overwrite=overwrite)
        write_json(out / "config.json", {**config.to_dict(), "command": command,
                                         "versions": versions(), "data_sha256": fingerprint})
        write_json(out / "metrics.json", {"status": "incomplete", "reason": "running"})
    saved = {"epochs": len(resume_state["history"]["train_loss"]) if resume_state else 0}
    try:
        return _train_into(out, config, series, split, forecaster, resume_state, saved, plots)
    except KeyboardInterrupt:
        hint = f"continue with: rnnlab train --out {out} --resume"
        done = saved["epochs"]
        reason = (f"aborted after epoch {done} finished; {STATE_FILE} holds the training "
                  f"state at that point; {hint}" if done else
                  f"aborted before the first epoch ended; {hint} (it starts again)")
        write_json(out / "metrics.json", {"status": "incomplete", "reason": reason})
        raise
    except RnnlabError:
        # Nothing to resume from: leave no run directory that looks like a run.
        if not resume and not (out / STATE_FILE).exists():
            _discard(out, existed)
        raise


def _train_into(out: Path, config: RunConfig, series: pd.Series, split, forecaster,
                resume_state: dict | None, saved: dict, plots: bool) -> dict:
    import torch

    state_path = out / STATE_FILE

    def save_state(snapshot) -> None:
        state = snapshot()
        atomic_write(state_path, lambda fh: torch.save(state, fh))
        saved["epochs"] = len(state["history"]["train_loss"])

    started = time.perf_counter()
    with interruptible() as stop_requested:
        result = backtest(series, forecaster, split, should_stop=stop_requested,
                          on_epoch_end=save_state, resume=resume_state)
    history = forecaster.history_
    # Scores come from the held-out test part; forecasts start after all known data.
    forecaster.set_history(series)
    forecaster.save(out / MODEL_FILE)
    metrics = {
        "status": "complete",
        "source": config.data.source,
        "series": str(series.name),
        "model": config.model.model,
        "test": result.metrics,
        "n_train": split.n_train, "n_val": split.n_val, "n_test": split.n_test,
        "epochs_run": history.epochs_run,
        "best_epoch": history.best_epoch,
        "stopped": history.stopped,
        "train_seconds": round(history.seconds, 3),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "scaler": forecaster.scaler_.kind,
        "seasonal_period": result.seasonal_period,
    }
    if history.message:
        metrics["message"] = history.message
    if history.stopped == "interrupted":
        metrics.update(status="incomplete", reason=(
            f"interrupted after epoch {history.epochs_run}; model.pt holds the best weights so "
            f"far; continue with: rnnlab train --out {out} --resume"))
        write_json(out / "metrics.json", metrics)
        return metrics
    frame = result.predictions.reset_index()
    frame = frame.rename(columns={frame.columns[0]: "date"})
    atomic_write(out / "predictions.csv", lambda fh: frame.to_csv(fh, index=False))
    # The results first, the pictures after: a stop while plotting (state.pt still there)
    # marks the run incomplete and resumable again.
    write_json(out / "metrics.json", metrics)
    if plots:
        from .report import plot_loss, plot_test

        plot_test(result.predictions, out / "test_predictions.png",
                  title=f"{series.name}: {config.model.model} on the test part")
        plot_loss(history, out / "loss.png", title=f"{series.name}: {config.model.model}")
    state_path.unlink(missing_ok=True)
    return metrics


def series_fingerprint(series: pd.Series) -> str:
    """SHA-256 of a series' values and dates: a resumed run must train on the same data."""
    index = series.index
    if isinstance(index, pd.DatetimeIndex):
        positions = index.as_unit("ns").asi8
    else:
        positions = np.asarray(index, dtype=np.float64)
    digest = hashlib.sha256(np.ascontiguousarray(series.to_numpy(np.float64)).tobytes())
    digest.update(np.ascontiguousarray(positions).tobytes())
    return digest.hexdigest()


def _load_state(out: Path, fingerprint: str) -> dict | None:
    """The training snapshot to continue from; None when no epoch finished before the stop."""
    import torch

    from .train import History

    state_path = out / STATE_FILE
    recorded = json.loads((out / "config.json").read_text()).get("data_sha256")
    if recorded is not None and recorded != fingerprint:
        raise RnnlabError(
            f"cannot resume '{out}': its data changed since the run started (the series' "
            "SHA-256 differs); restore the data, or start a new run with another --out"
        )
    if not state_path.exists():
        log.info("'%s' stopped before its first epoch ended: training starts again", out)
        return None
    try:
        # weights_only: a state file is plain tensors and numbers; anything else is refused.
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable state is one clear message
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise CheckpointError(f"cannot resume from '{state_path}': the file is damaged or not "
                              f"a training state ({first}); start a new run") from None
    needed = {"model", "optimizer", "scheduler", "generator", "torch_rng", "history",
              "best_weights", "bad_epochs"}
    missing = needed - set(state) if isinstance(state, dict) else needed
    try:
        History(**state["history"])
    except (KeyError, TypeError):
        missing.add("history")
    if missing:
        raise CheckpointError(f"cannot resume from '{state_path}': it lacks a valid "
                              f"{', '.join(sorted(missing))}; start a new run")
    return state


def _discard(out: Path, existed: bool) -> None:
    for name in ("config.json", "metrics.json"):
        (out / name).unlink(missing_ok=True)
    if not existed:
        with contextlib.suppress(OSError):
            out.rmdir()


def _validate(forecaster, series: pd.Series, split) -> None:
    """Check names and values before any file is written (fails fast, by name)."""
    from .errors import ConfigError
    from .models import build_model
    from .train import check_config, resolve_device
    from .windows import SCALERS, fit_scaler

    if forecaster.scaler not in SCALERS:
        raise ConfigError(f"unknown scaler {forecaster.scaler!r}; valid scalers are "
                          f"{', '.join(SCALERS)}")
    build_model(forecaster.model, forecaster.seq_len, 1, forecaster.hidden_size,
                forecaster.num_layers, forecaster.dropout, forecaster.linear_skip)
    check_config(forecaster.train_config())
    resolve_device(forecaster.device)
    # The cheap scaler refuses a constant training part with the message fit would give.
    fit_scaler("minmax", series.to_numpy()[: split.n_train], str(series.name))


def check_resume_options(out: str | Path, source: str | None, options: dict) -> None:
    """Refuse options that differ from a run's saved settings: --resume continues with those.

    `options` maps config field names to values given on the command line (None: not given).
    """
    import typing
    from dataclasses import fields

    from .config import coerce

    saved = _saved_config(Path(out))
    given = {k: v for k, v in options.items() if v is not None}
    if source is not None:
        given["source"] = source
    conflicts = []
    for section in (saved.data, saved.model, saved.training):
        hints = typing.get_type_hints(type(section))
        for field in fields(section):
            if field.name not in given:
                continue
            value, kept = coerce(field.name, given[field.name], hints[field.name]), \
                getattr(section, field.name)
            if value != kept:
                flag = "--data" if field.name == "source" else "--" + field.name.replace("_", "-")
                conflicts.append(f"{flag} {value} (the run has {kept})")
    if conflicts:
        raise RnnlabError(
            f"--resume continues '{out}' with its saved settings, but {'; '.join(conflicts)}; "
            "drop those options, or start a new run with another --out"
        )


def _saved_config(out: Path) -> RunConfig:
    path = out / "config.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        raise RnnlabError(f"cannot resume '{out}': no readable config.json in it") from None
    return RunConfig.from_dict({k: raw[k] for k in ("data", "model", "training") if k in raw})


def forecast_run(run_dir: str | Path, source: str | None = None, horizon: int = 10
                 ) -> pd.DataFrame:
    """The next `horizon` values after a run's training data, or after `source` read with
    the run's data settings (target column, ticker...). Columns: date, forecast."""
    from .fastpath import load_for_forecast

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RnnlabError(f"run directory '{run_dir}' not found; train one with "
                          f"rnnlab train --out {run_dir}")
    # numpy forward passes when model.npz matches model.pt: no torch import, no start-up wait
    forecaster = load_for_forecast(run_dir / MODEL_FILE)
    series = None
    if source is not None:
        config = _saved_config(run_dir)
        config.data.source = source
        series = load(config.data)
    result = forecaster.forecast(horizon, series)
    frame = result.rename("forecast").reset_index()
    return frame.rename(columns={frame.columns[0]: "date"})
