"""One run directory: train with checkpoints, survive interruption, resume, forecast from
it and explain it.

    rnnlab train --data stock:A --model lstm --out runs/a
    rnnlab train --out runs/a --resume
    rnnlab forecast --run runs/a --horizon 5
    rnnlab explain --run runs/a
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import resource
import signal
import sys
import threading
import time
import typing
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .backtest import check_horizon, score_fitted, score_paths
from .base import check_forecast_work, check_series, far_outside
from .checkpoint import (
    atomic_write,
    check_archive,
    check_checkpoint_file,
    open_regular,
    read_json,
    recorded_checksums,
    write_json,
)
from .config import (
    ModelConfig,
    RunConfig,
    coerce,
    load_run_config,
    read_run_file,
)
from .data import load_data
from .diagnostics import inspect
from .errors import CheckpointError, ConfigError, DataError, RnnlabError
from .explain import failure_anatomy, global_memory_profile, lag_check, memory_profile
from .fastpath import load_fast, save_fast
from .features import (
    CALENDAR_COLUMNS,
    feature_names,
    feature_record,
    load_inputs,
    target_of,
    with_market,
)
from .folders import (
    MARKER,
    check_out,
    locked,
    occupied,
    own_folder,
    read_marker,
    remove_run_files,
    shown_path,
    user_files,
    write_marker,
)
from .forecaster import Forecaster
from .global_forecaster import GlobalForecaster, fit_panel
from .panel import (
    aggregate,
    aggregate_paths,
    load_panel,
    score_panel,
    score_panel_paths,
    split_panel,
)
from .plots import (
    horizon_errors,
    plot_channel_memory,
    plot_episodes,
    plot_loss,
    plot_memory_curves,
    plot_ratio_histogram,
    plot_test,
)
from .report import COVERAGE_TOLERANCE, coverage_words, horizon_curves, poor_steps
from .windows import WindowChoice, check_varies, seq_len_for_split, split_sizes

log = logging.getLogger("rnnlab")

STATE_FILE = "state.pt"
# A row of predictions.csv (a date, the actual value, the model's, its bounds and four
# baselines') takes about 150 bytes; a file far beyond this per test row is not one.
PREDICTION_ROW_BYTES = 1024
MODEL_FILE = "model.pt"
# Every file a run folder gets from train (and from explain, which writes beside it):
# --overwrite deletes these and nothing else.
TRAIN_FILES = ("config.json", "metrics.json", STATE_FILE, MODEL_FILE, "model.npz",
               "predictions.csv", "test_predictions.png", "loss.png", "explain.json",
               "memory.png", "episodes.png", "horizon_errors.png")


def versions() -> dict:
    import torch

    return {"rnnlab": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "pandas": pd.__version__}


@contextlib.contextmanager
def interruptible(notice: str = "stopping after this epoch (a long one: at its next batch)"):
    """Turn the first Ctrl-C or SIGTERM into a request to stop (polled by the caller), and
    print `notice`; a second signal interrupts at once, as usual."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def handle(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        print(f"\n{notice} (press Ctrl-C again to abort now)", file=sys.stderr, flush=True)

    with _handled_by(handle):
        yield requested.is_set


@contextlib.contextmanager
def signals_held():
    """Ignore Ctrl-C and SIGTERM while a short record of an abort is written (in the main
    thread; elsewhere signals cannot be handled anyway), and restore the handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with _handled_by(signal.SIG_IGN):
        yield


@contextlib.contextmanager
def _handled_by(handler):
    """Ctrl-C and SIGTERM go to `handler` inside the block; the previous handlers after."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def prepare_run_dir(out: Path, resume: bool, overwrite: bool, data: str | None = None
                    ) -> None:
    """Refuse to clobber a run; claim the folder. Run with the folder locked (`locked`).

    `data` is the input's source: --overwrite never clears a folder that holds it.
    """
    metrics_path = out / "metrics.json"
    if resume:
        _require_own_run(out)
        # strict: a FIFO or a damaged file in its place is refused, never replaced
        if _read_metrics(metrics_path, strict=True).get("status") == "complete":
            raise RnnlabError(f"cannot resume '{out}': it already finished; start a new run "
                              "with another --out, or pass --overwrite instead of --resume")
        return
    marker = read_marker(out)
    if not user_files(out) and marker is not None and marker["kind"] == "train":
        pass  # a run stopped before it wrote a file: nothing in it to keep, claim it again
    elif user_files(out) or marker is not None:
        if not overwrite:
            status = _status(metrics_path)
            what = {"complete": "a finished run", "incomplete": "an unfinished run"}.get(
                status, "files")
            extra = " or --resume to continue it" if status == "incomplete" else ""
            raise RnnlabError(occupied(out, what, data, extra=extra))
        remove_run_files(out, data)
    write_marker(out, "train", TRAIN_FILES)


def _require_own_run(out: Path) -> None:
    """Refuse to resume a folder that rnnlab's train did not make (no marker of its own)."""
    marker = read_marker(out)
    if marker is None or marker["kind"] != "train":
        raise RnnlabError(f"cannot resume '{out}': it has no {MARKER} marker of an rnnlab "
                          "train run, so it is not a run rnnlab made; choose another --out")


def _status(metrics_path: Path) -> str | None:
    status = _read_metrics(metrics_path).get("status")
    return status if isinstance(status, str) else None


def _read_metrics(metrics_path: Path, strict: bool = False) -> dict:
    """metrics.json as a dict, or {} when it is missing, damaged or no object (a FIFO,
    a 20 GB file or 200,000 nested brackets included: each is refused, never waited on);
    `strict` says in one line why a file that is there cannot be read."""
    try:
        metrics = read_json(metrics_path)
    except FileNotFoundError:
        return {}
    except (OSError, RnnlabError):
        if strict:
            raise
        return {}
    return metrics if isinstance(metrics, dict) else {}


def run_folder(run_dir: str | Path) -> Path:
    """`run_dir` as a Path to an existing folder, or one line saying why it is none (not
    there, or a path the system cannot look at: over 255 characters in a name, say)."""
    run_dir = Path(run_dir)
    try:
        found = run_dir.is_dir()
    except OSError as exc:  # ENAMETOOLONG and friends are not "missing" to pathlib
        raise RnnlabError(f"--run '{shown_path(run_dir)}' cannot be used ({exc.strerror or exc}); "
                          "give the folder rnnlab train wrote") from None
    if not found:
        raise RnnlabError(f"run directory '{shown_path(run_dir)}' not found; train one with "
                          f"rnnlab train --out {shown_path(run_dir)}")
    return run_dir


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
    try:
        return _run_train(config, out, command, resume, overwrite, progress, plots)
    except KeyboardInterrupt as exc:
        if str(exc):  # said what it saved
            raise
        raise KeyboardInterrupt(f"interrupted before training started: nothing was written "
                                f"to {out}") from None


def _stage_printer(progress: bool | None):
    """A function that prints one line per stage of a run to stderr where progress is
    shown (`progress` True, or None on a terminal), so the seconds before and after the
    epochs do not pass in silence; elsewhere it prints nothing."""
    shown = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()

    def stage(text: str) -> None:
        if shown:
            print(f"[{time.perf_counter() - started:.0f} s] {text} ...", file=sys.stderr,
                  flush=True)

    return stage


def _run_train(config: RunConfig | None, out: str | Path, command: str, resume: bool,
               overwrite: bool, progress: bool | None, plots: bool) -> dict:
    out = Path(out)
    check_out(out, overwrite)
    if resume:
        _require_own_run(out)
        config = _saved_config(out)
    # Everything is checked before the first file is written.
    with_market(config.data, config.model)
    config.check()
    series = load_inputs(config.data, config.model, load_data(config.data))
    target = target_of(series)
    check_series(target)  # 1e299s and 1e-301s: refused before any statistic of them
    config, window = with_seq_len(config, target, _saved_window(out) if resume else None)
    split = split_sizes(len(series), config.model.seq_len, config.data.val_fraction,
                        config.data.test_fraction, name=str(target.name))
    check_horizon(config.model.horizon, split, str(target.name))
    # A constant training part is refused here with the message fit would give.
    check_varies(target.to_numpy()[: split.n_train], str(target.name))
    forecaster = Forecaster.from_config(config.model, config.training, progress)
    fingerprint = series_fingerprint(series)
    # Everything above only reads; the folder is made and written under its lock.
    with locked(out):
        return _train_locked(out, config, command, series, split, forecaster, fingerprint,
                             resume, overwrite, plots, window)


def with_seq_len(config: RunConfig, series: pd.Series, saved: WindowChoice | None = None
                 ) -> tuple[RunConfig, WindowChoice]:
    """`config` with its window length resolved for `series`, and the choice in words.

    ``seq_len`` None is chosen on the training part (`rnnlab.windows.choose_seq_len`);
    a number given stays. The returned config holds the number, so config.json, resume
    and forecast all use the window the model was trained with. `saved` is the choice a
    resumed run recorded: its words are kept.
    """
    if saved is not None and saved.seq_len == config.model.seq_len:
        return config, saved
    window = seq_len_for_split(series.to_numpy(np.float64), config.data.val_fraction,
                               config.data.test_fraction, config.model.seq_len)
    model = dataclasses.replace(config.model, seq_len=window.seq_len, recurrent_len=(
        config.model.recurrent_len or window.recurrent_len))
    return dataclasses.replace(config, model=model), window


def _saved_window(out: Path) -> WindowChoice | None:
    """The window choice a run's config.json recorded (None for a run from before it did)."""
    saved = read_run_file(out).get("window")
    try:
        period = None if saved["period"] is None else int(saved["period"])
        recent = saved.get("recurrent_len")
        return WindowChoice(int(saved["seq_len"]), period, str(saved["reason"]),
                            None if recent is None else int(recent))
    except (KeyError, TypeError, ValueError):
        return None


def _train_locked(out: Path, config: RunConfig, command: str, series: pd.Series, split,
                  forecaster, fingerprint: str, resume: bool, overwrite: bool,
                  plots: bool, window: WindowChoice) -> dict:
    if resume:
        prepare_run_dir(out, resume=True, overwrite=False)
        for stale in out.glob(".*.tmp"):  # half-written files of a process killed mid-save
            stale.unlink(missing_ok=True)
    resume_state = _load_state(out, fingerprint) if resume else None
    if not resume:
        found = versions()  # imports torch: before the folder is claimed, not after
        prepare_run_dir(out, resume=False, overwrite=overwrite, data=config.data.source)
        try:
            write_json(out / "config.json", {**config.to_dict(), "command": command,
                                             "versions": found,
                                             "data_sha256": fingerprint,
                                             "window": dataclasses.asdict(window)})
            write_json(out / "metrics.json", {"status": "incomplete", "reason": "running"})
        except RnnlabError:
            _discard(out)
            raise
    saved = {"epochs": len(resume_state["history"]["train_loss"]) if resume_state else 0}
    try:
        return _train_into(out, config, series, split, forecaster, resume_state, saved, plots,
                           window)
    except KeyboardInterrupt:
        hint = f"continue with: rnnlab train --out {out} --resume"
        done = saved["epochs"]
        reason = (f"aborted after epoch {done} finished; {STATE_FILE} holds the training "
                  f"state at that point; {hint}" if done else
                  f"aborted before the first epoch ended; {hint} (it starts again)")
        with signals_held():  # a further press must not cut the record short
            write_json(out / "metrics.json", {"status": "incomplete", "reason": reason})
        raise KeyboardInterrupt(f"interrupted: {reason}") from None
    except RnnlabError:
        # Nothing to resume from: leave no run directory that looks like a run.
        if not resume and not (out / STATE_FILE).exists():
            _discard(out)
        raise


def _train_into(out: Path, config: RunConfig, series: pd.Series, split, forecaster,
                resume_state: dict | None, saved: dict, plots: bool,
                window: WindowChoice) -> dict:
    import torch  # heavy: kept off the forecast and --help paths

    state_path = out / STATE_FILE

    def save_state(snapshot) -> None:
        state = snapshot()
        atomic_write(state_path, lambda fh: torch.save(state, fh))
        saved["epochs"] = len(state["history"]["train_loss"])

    started = time.perf_counter()
    stage = _stage_printer(forecaster.progress)
    stage(f"fitting on the first {split.n_fit} values: the candidates, then the net (each "
          "epoch shown), then the choice")
    with interruptible() as stop_requested:
        forecaster.fit(series.iloc[: split.n_fit], val_size=split.n_val,
                       should_stop=stop_requested, on_epoch_end=save_state,
                       resume=resume_state)
        # The handler stays on while the results are written: a first Ctrl-C or SIGTERM
        # after training lets them finish (a second one aborts; state.pt keeps the run
        # resumable).
        return _write_results(out, config, series, split, forecaster, plots, window,
                              started, stage)


def _write_results(out: Path, config: RunConfig, series: pd.Series, split, forecaster,
                   plots: bool, window: WindowChoice, started: float, stage) -> dict:
    """Every file of a trained run, metrics.json's "complete" last: a run says it is
    complete only once everything is written, and until then state.pt resumes it."""
    history = forecaster.history_
    # Scores come from the held-out test part; forecasts start after all known data.
    forecaster.set_history(series)
    inputs, series = series, target_of(series)  # names and plots below: the target
    forecaster.save(out / MODEL_FILE)
    save_fast(forecaster, out / MODEL_FILE)
    if history.stopped == "interrupted":
        # Stopped by Ctrl-C: the weights are saved; scoring every test origin would keep
        # the user waiting (22 s on delay) for scores of a run they chose to stop.
        metrics = {
            "status": "incomplete", "source": config.data.source, "series": str(series.name),
            "model": config.model.model, "epochs_run": history.epochs_run,
            "best_epoch": history.best_epoch, "stopped": history.stopped,
            "train_seconds": round(history.seconds, 3), "seq_len": forecaster.seq_len,
            "window": window.reason,
            "reason": (f"interrupted after epoch {history.epochs_run}, before scoring; "
                       f"model.pt holds the best weights so far (epoch {history.best_epoch})"
                       f"; continue with: rnnlab train --out {out} --resume")}
        if history.message:
            metrics["message"] = history.message
        write_json(out / "metrics.json", metrics)
        return metrics
    stage(f"scoring the last {split.n_test} values beside the baselines, then plotting")
    result = score_fitted(inputs, forecaster, split)
    metrics = {
        "status": "complete",
        "source": config.data.source,
        "series": str(series.name),
        "model": config.model.model,
        "test": result.metrics,
        "verdict": result.verdict.to_dict(),
        "n_train": split.n_train, "n_val": split.n_val, "n_test": split.n_test,
        "epochs_run": history.epochs_run,
        "best_epoch": history.best_epoch,
        "stopped": history.stopped,
        "train_seconds": round(history.seconds, 3),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "scaler": forecaster.scaler_.kind,
        "seasonal_period": result.seasonal_period,
        "seq_len": forecaster.seq_len,
        "window": window.reason,
        "multi_step": result.multi_step,
        # Every candidate: its fold loss, its weight in the forecast, its own test scores
        "candidates": result.multi_step["candidates"],
        "features": feature_record(forecaster),
        # Any test forecast beyond the training range widened by its span on each side
        "far_outside": bool(result.multi_step and result.multi_step["far_outside"]),
        # forecast, backtest and explain refuse a model.pt whose weights are not these
        # (the weights' checksum model.pt records: the file's own bytes hold timings)
        "weights_sha256": recorded_checksums(out / MODEL_FILE).get("checksum"),
    }
    if history.message:
        metrics["message"] = history.message
    frame = result.predictions.reset_index()
    frame = frame.rename(columns={frame.columns[0]: time_label(frame.iloc[:, 0])})
    widths = forecaster.interval_widths(1)
    if widths is not None:  # the one-step interval around each test prediction
        frame.insert(3, "lower", frame["model"] - widths[0])
        frame.insert(4, "upper", frame["model"] + widths[0])
    atomic_write(out / "predictions.csv", lambda fh: frame.to_csv(fh, index=False))
    if plots:
        level = config.model.interval if widths is not None else None
        band = {} if widths is None else {"lower": frame["lower"].to_numpy(),
                                          "upper": frame["upper"].to_numpy(), "level": level}
        plot_test(result.predictions, out / "test_predictions.png",
                  title=f"{series.name}: {config.model.model} on the test part", **band)
        steps = result.multi_step
        if steps is not None and steps["horizon"] > 1:
            name = config.model.model
            coverage = horizon_curves(steps, name, "coverage") if steps["interval"] else None
            horizon_errors(horizon_curves(steps, name), out / "horizon_errors.png",
                           title=f"{series.name}: error against the step ahead",
                           coverage=coverage, level=steps["interval"] or None,
                           tolerance=COVERAGE_TOLERANCE)
        plot_loss(history, out / "loss.png", title=f"{series.name}: {config.model.model}",
                  linear_skip=config.model.linear_skip)
    write_json(out / "metrics.json", metrics)
    (out / STATE_FILE).unlink(missing_ok=True)
    return metrics


def time_label(column: pd.Series) -> str:
    """The header of the time column in predictions.csv and forecasts: date for dates, the
    axis' own name (year, t) for numbers."""
    if pd.api.types.is_datetime64_any_dtype(column) or column.name in (None, "index"):
        return "date"
    return str(column.name)


def series_fingerprint(series: pd.Series) -> str:
    """SHA-256 of a series' values and dates: a resumed run must train on the same data."""
    index = series.index
    unit = b""
    if isinstance(index, pd.DatetimeIndex):
        try:
            positions = index.as_unit("ns").asi8
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            # Dates before 1678 or after 2262 have no nanosecond form: their own unit, named.
            positions, unit = index.asi8, index.unit.encode()
    else:
        positions = np.asarray(index, dtype=np.float64)
    digest = hashlib.sha256(np.ascontiguousarray(series.to_numpy(np.float64)).tobytes())
    digest.update(np.ascontiguousarray(positions).tobytes() + unit)
    return digest.hexdigest()


def _load_state(out: Path, fingerprint: str) -> dict | None:
    """The training snapshot to continue from; None when no epoch finished before the stop."""
    import torch  # heavy: kept off the forecast and --help paths

    from .history import History

    state_path = out / STATE_FILE
    recorded = read_run_file(out).get("data_sha256")
    if recorded is not None and recorded != fingerprint:
        raise RnnlabError(
            f"cannot resume '{out}': its data changed since the run started (the series' "
            "SHA-256 differs); restore the data, or start a new run with another --out"
        )
    if not state_path.exists():
        log.info("'%s' stopped before its first epoch ended: training starts again", out)
        return None
    state_file = open_regular(state_path)  # a FIFO or device is refused before any read
    try:
        # weights_only: a state file is plain tensors and numbers; anything else is refused.
        with state_file:
            check_archive(state_file, state_path)  # a zip bomb is refused before unpacking
            state = torch.load(state_file, map_location="cpu", weights_only=True)
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
    _check_state_fits(state, _saved_config(out).model, state_path)
    return state


def _check_state_fits(state: dict, model: ModelConfig, state_path: Path) -> None:
    """Refuse a state.pt of another network before training starts, not mid-way with
    torch's "Error(s) in loading state_dict"; the network is built on the meta device."""
    # `--strategy auto` many steps ahead resolves to recursive (1 output) or direct (H);
    # with named features only to direct, which is all they allow (see `check`).
    used = ("direct",) if feature_names(model.features) else ("recursive", "direct")
    candidates = [dataclasses.replace(model, strategy=one) for one in used] \
        if model.strategy == "auto" and model.horizon > 1 else [model]
    # The target, each named feature, and the calendar's encodings.
    n_inputs = 1 + len(feature_names(model.features)) + \
        (len(CALENDAR_COLUMNS) if model.calendar else 0)
    found = [_state_problems(state, candidate, n_inputs) for candidate in candidates]
    wrong = min(found, key=len)
    if wrong:
        raise CheckpointError(
            f"cannot resume from '{state_path}': its {', '.join(wrong)} do not fit the "
            f"network this run's config.json names ({model.model}, hidden_size "
            f"{model.hidden_size}, num_layers {model.num_layers}, seq_len {model.seq_len}); "
            "it is from another run or damaged; restore this run's own state.pt, or start a "
            "new run")


def _state_problems(state: dict, model: ModelConfig, n_inputs: int = 1) -> list[str]:
    """The parts of a training state that do not fit `model`'s network (none: it fits)."""
    import torch  # heavy: kept off the forecast and --help paths

    from .models import build_model  # with torch

    with torch.device("meta"):
        net = build_model(model, n_inputs)
    expected = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    trainable = [tuple(p.shape) for p in net.parameters() if p.requires_grad]

    def shapes(weights) -> dict | None:
        if not isinstance(weights, dict) or \
                not all(isinstance(t, torch.Tensor) for t in weights.values()):
            return None
        return {name: tuple(t.shape) for name, t in weights.items()}

    def optimizer_fits(opt) -> bool:
        try:
            ids = [i for group in opt["param_groups"] for i in group["params"]]
            moments = [(n, t) for n, i in enumerate(ids) for t in opt["state"].get(i, {}).values()
                       if isinstance(t, torch.Tensor) and t.dim() > 0]
        except (KeyError, TypeError, AttributeError):
            return False
        return len(ids) == len(trainable) and all(tuple(t.shape) == trainable[n]
                                                  for n, t in moments)

    def rng_fits(saved, current: torch.Tensor) -> bool:
        return isinstance(saved, torch.Tensor) and saved.dtype == current.dtype and \
            saved.shape == current.shape

    wrong = [key for key in ("model", "best_weights") if shapes(state[key]) != expected]
    if not optimizer_fits(state["optimizer"]):
        wrong.append("optimizer")
    if not isinstance(state["scheduler"], dict):
        wrong.append("scheduler")
    if not rng_fits(state["generator"], torch.Generator().get_state()):
        wrong.append("generator")
    if not rng_fits(state["torch_rng"], torch.get_rng_state()):
        wrong.append("torch_rng")
    if not isinstance(state["bad_epochs"], int) or isinstance(state["bad_epochs"], bool):
        wrong.append("bad_epochs")
    return wrong


def _discard(out: Path) -> None:
    """Undo a run that failed before it had anything to resume from; the folder itself
    goes when it was made for this run and is empty (see `folders.locked`)."""
    for name in ("config.json", "metrics.json", MARKER):
        (out / name).unlink(missing_ok=True)


def check_resume_options(out: str | Path, source: str | None, options: dict) -> None:
    """Refuse options that differ from a run's saved settings: --resume continues with those.

    `options` maps config field names to values given on the command line (None: not given).
    """
    _require_own_run(Path(out))
    saved = _saved_config(Path(out))
    given = {k: v for k, v in options.items() if v is not None}
    if source is not None:
        given["source"] = source
    conflicts = []
    for section in (saved.data, saved.model, saved.training):
        hints = typing.get_type_hints(type(section))
        for field in dataclasses.fields(section):
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
    try:
        return load_run_config(out)
    except RnnlabError as exc:
        marker = read_marker(out) if out.is_dir() else None
        if out.is_dir() and (marker is None or marker["kind"] != "train"):
            raise RnnlabError(f"cannot resume '{out}': it has no {MARKER} marker of an rnnlab "
                              "train run, so it is not a run rnnlab made; choose another "
                              "--out") from None
        if marker is not None and not user_files(out):
            raise RnnlabError(f"cannot resume '{out}': it was stopped before it wrote its "
                              "config.json, so there is nothing to continue; run the same "
                              "train command again without --resume") from None
        raise RnnlabError(f"cannot resume '{out}': {exc}") from None


def forecast_run(run_dir: str | Path, source: str | None = None, horizon: int = 10
                 ) -> pd.DataFrame:
    """The next `horizon` values after a run's training data, or after `source` read with
    the run's data settings (target column, ticker...). Columns: date, forecast, and
    lower and upper where the run has an interval (calibrated on its validation part for
    the steps it was scored at; further out it widens as the square root of the step)."""
    run_dir = run_folder(run_dir)
    check_checkpoint_file(run_dir / MODEL_FILE)
    check_model_file(run_dir)
    # numpy forward passes when model.npz matches model.pt: no torch import, no start-up wait
    forecaster = load_for_forecast(run_dir / MODEL_FILE)
    check_model_agrees(run_dir, forecaster)
    check_forecast_work(forecaster, horizon)
    status = _status(run_dir / "metrics.json")
    if status != "complete":
        log.warning("'%s' is not a finished run (metrics.json: %s): the forecast uses the best "
                    "weights so far; finish it with rnnlab train --out %s --resume", run_dir,
                    status or "missing", run_dir)
    series = None
    trained = getattr(forecaster, "train_range_", None)
    if source is not None:
        config = _saved_config(run_dir)
        config.data.source = source
        series = load_inputs(config.data, config.model, load_data(config.data))
        if far_outside(target_of(series).iloc[-forecaster.min_history:], trained):
            log.warning("the end of %s lies far outside the run's training range (%.4g to "
                        "%.4g): the model never saw values like these, so expect nonsense; "
                        "train a run on this series instead", target_of(series).name, *trained)
    frame = forecaster.forecast_interval(horizon, series)
    if far_outside(frame["forecast"], trained):
        log.warning("the forecast leaves the training range (%.4g to %.4g) by more than its "
                    "span: treat it as an extrapolation, not a forecast", *trained)
    if forecaster.interval_widths(horizon) is None:
        frame = frame[["forecast"]]
    else:
        note = _coverage_note(run_dir, horizon)
        if note:
            log.warning(note)
    frame = frame.reset_index()
    return frame.rename(columns={frame.columns[0]: time_label(frame.iloc[:, 0])})


def _coverage_note(run_dir: Path, horizon: int) -> str:
    """A warning where the run's interval covered its test part poorly, overall or at one
    of the first `horizon` steps (tbilrate: 44% for a nominal 80%); "" otherwise."""
    try:
        with open_regular(run_dir / "metrics.json") as fh:
            steps = json.loads(fh.read()).get("multi_step") or {}
        level = float(steps.get("interval") or 0.0)
        overall = float(steps["overall"]["model"]["coverage"])
        by_step = [float(c) for c in steps["per_step"]["model"]["coverage"]][:horizon]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return ""
    if not level or not math.isfinite(overall):
        return ""
    # Too narrow only: a band wider than its level is cautious, one narrower misleads.
    narrow = "too narrow" in coverage_words(overall, level)
    poor = poor_steps(by_step, level, narrow_only=True) if len(by_step) > 1 else ""
    if not narrow and not poor:
        return ""
    at = f", and {poor}" if poor else ""
    return (f"the run's {100 * level:.0f}% interval covered {100 * overall:.0f}% of its test "
            f"values{at}: narrower than the real uncertainty; read lower and upper as a "
            f"rough guide, not as {100 * level:.0f}% bounds")


def explain_run(run_dir: str | Path, out: str | Path | None = None, plots: bool = True
                ) -> dict:
    """Inspect the series, probe the memory, dissect the failures and check for lag of a
    run written by `rnnlab train`; write explain.json (and PNGs) into `out` (default the
    run directory). Returns what explain.json holds.

    The run folder stays locked while it is read, so a `train --overwrite` of it cannot
    swap its files mid-way; another `out` must be new, empty or an earlier explain's.
    """
    run_dir = run_folder(run_dir)
    out = run_dir if out is None else Path(out)
    if not _same_folder(out, run_dir):
        check_out(out)  # before the work: a bad --out is refused at once
    with locked(run_dir):
        needed = ("config.json", MODEL_FILE, "predictions.csv")
        missing = [name for name in needed if not (run_dir / name).exists()]
        if missing:
            raise RnnlabError(f"run directory '{run_dir}' lacks {', '.join(missing)}; explain "
                              f"needs a finished run of rnnlab train --out {run_dir}")
        if _same_folder(out, run_dir):
            return _explain(run_dir, out, plots)
        with own_folder(out, "explain", "explain folder"):
            return _explain(run_dir, out, plots)


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:  # a path too long to resolve is no run folder
        return False


def _explain(run_dir: Path, out: Path, plots: bool) -> dict:
    config = load_run_config(run_dir)
    with_market(config.data, config.model)
    inputs = load_inputs(config.data, config.model, load_data(config.data))
    check_same_data(run_dir, config, inputs)
    series = target_of(inputs)  # with features the probe reads `inputs`, the rest the target
    check_checkpoint_file(run_dir / MODEL_FILE)
    check_model_file(run_dir)
    forecaster = Forecaster.load(run_dir / MODEL_FILE)
    check_model_agrees(run_dir, forecaster)
    split = split_sizes(len(series), forecaster.seq_len, config.data.val_fraction,
                        config.data.test_fraction, name=str(series.name))
    predictions = _read_predictions(run_dir / "predictions.csv", split.n_test)
    if len(predictions) != split.n_test:
        raise RnnlabError(
            f"'{run_dir / 'predictions.csv'}' has {len(predictions)} rows but the test part of "
            f"{series.name} has {split.n_test}; the data changed since training; retrain")
    predictions.index = series.index[split.n_fit:]

    inspection = inspect(series)
    profile = memory_profile(forecaster, inputs, split)
    anatomy = failure_anatomy(predictions)
    lags = lag_check(predictions, inspection.verdict)
    result = {
        "run": str(run_dir),
        "series": str(series.name),
        "model": forecaster.model,
        "scaler": forecaster.scaler_.kind,
        "linear_skip": forecaster.linear_skip,
        "inspection": {k: v for k, v in inspection.to_dict().items()
                       if k not in ("acf", "pacf")},
        "memory": {**profile.to_dict(), "text": profile.describe(),
                   **({"channel_lines": profile.channel_lines()}
                      if profile.by_channel is not None else {})},
        "anatomy": anatomy.to_dict(),
        "lag_check": lags.to_dict(),
        "files": ["explain.json"],
    }
    if plots:
        label = f"{series.name}: {forecaster.model}"
        if profile.by_channel is None:
            plot_memory_curves({forecaster.model: profile}, out / "memory.png",
                               title=f"{label}, input sensitivity per lag (test windows)")
        else:
            plot_channel_memory(profile, out / "memory.png",
                                title=f"{label}, input sensitivity per input and lag "
                                      "(test windows)")
        plot_episodes(predictions, anatomy, out / "episodes.png",
                      title=f"{label}, worst episodes after a jump")
        result["files"] += ["memory.png", "episodes.png"]
    write_json(out / "explain.json", result)
    return result


def _read_predictions(path: Path, n_rows: int) -> pd.DataFrame:
    """A run's predictions.csv with numeric actual, model and naive columns; read only as a
    regular file, so a FIFO in its place is refused at once, never waited on, and only when
    its size fits `n_rows` rows (a 20 GB file is refused before it is read)."""
    problem = None
    limit = PREDICTION_ROW_BYTES * (n_rows + 1) + (64 << 10)
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise CheckpointError(
                    f"refused to read '{path}': it holds {size:,} bytes, over the {limit:,} "
                    f"that {n_rows:,} rows of predictions take; it was edited or damaged: "
                    "train the run again")
            frame = pd.read_csv(fh)
    except FileNotFoundError:
        problem = "it is missing"
    except (ValueError, OverflowError) as exc:  # pandas' parser and decoding errors
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        problem = f"it is not a CSV table ({type(exc).__name__}: {first})"
    else:
        columns = ("actual", "model", "naive")
        missing = [c for c in columns if c not in frame.columns]
        bad = [c for c in columns if c in frame.columns and
               not pd.api.types.is_numeric_dtype(frame[c])]
        if missing:
            problem = f"it lacks the column(s) {', '.join(missing)}"
        elif bad:
            problem = f"its column(s) {', '.join(bad)} hold values that are not numbers"
    if problem:
        raise CheckpointError(f"cannot read '{path}': {problem}; it was edited or damaged: "
                              "train the run again")
    return frame


def backtest_run(run_dir: str | Path, horizon: int | None = None) -> dict:
    """Score a finished run's model `horizon` steps ahead (default: the run's horizon)
    from every origin of its test part, beside the baselines on the same targets.

    Nothing is retrained and nothing is written. A direct model asked for more steps
    than it was trained for feeds its outputs back; beyond the calibrated steps the
    interval widens as the square root of the step. Returns the "multi_step" dict.
    """
    run_dir = run_folder(run_dir)
    if _read_metrics(run_dir / "metrics.json", strict=True).get("status") != "complete":
        raise RnnlabError(f"'{run_dir}' is not a finished run; finish it with rnnlab train "
                          f"--out {run_dir} --resume")
    config = load_run_config(run_dir)
    series = load_inputs(config.data, config.model, load_data(config.data))
    check_same_data(run_dir, config, series)
    name = str(target_of(series).name)
    split = split_sizes(len(series), config.model.seq_len, config.data.val_fraction,
                        config.data.test_fraction, name=name)
    horizon = config.model.horizon if horizon is None else int(horizon)
    check_horizon(horizon, split, name)
    check_checkpoint_file(run_dir / MODEL_FILE)
    check_model_file(run_dir)
    forecaster = Forecaster.load(run_dir / MODEL_FILE)
    check_model_agrees(run_dir, forecaster)
    check_forecast_work(forecaster, horizon)
    return score_paths(series, forecaster, split, horizon)[0]


def check_same_data(run_dir: Path, config: RunConfig, series) -> None:
    """Refuse data that changed since the run was trained on it: its test part may now hold
    values training saw, so no score or explanation of it holds."""
    recorded = read_run_file(run_dir).get("data_sha256")
    if recorded and recorded != series_fingerprint(series):
        raise RnnlabError(
            f"the data of {config.data.source!r} changed since '{run_dir}' was trained on it "
            "(its SHA-256 differs from config.json's data_sha256), so its test part may hold "
            "values training saw; restore the data, or train a new run on it")


def check_model_file(run_dir: Path) -> None:
    """Refuse a model.pt other than the one this run wrote: metrics.json records the
    checksum of its weights (older runs are checked by `check_model_agrees` alone)."""
    recorded = _read_metrics(run_dir / "metrics.json").get("weights_sha256")
    model_pt = run_dir / MODEL_FILE
    if not isinstance(recorded, str) or not model_pt.exists():
        return
    if recorded_checksums(model_pt).get("checksum") != recorded:
        raise CheckpointError(
            f"'{model_pt}' is not the model this run trained: its weights' checksum differs "
            "from the one metrics.json records; it was replaced (another run's?) or "
            "damaged: restore this run's own model.pt, or train again with --overwrite")


def check_model_agrees(run_dir: Path, forecaster) -> None:
    """Refuse a model whose settings differ from the run's config.json: forecasts, scores
    and explanations would then describe another run than the one asked for."""
    if not (run_dir / "config.json").exists():
        return  # a bare model.pt (Forecaster.save into a folder): nothing to compare with
    params = getattr(forecaster, "params_", None) or forecaster.get_params()
    saved = read_run_file(run_dir)
    for section in ("model", "training"):
        for name, value in saved[section].items():
            if name not in params:
                continue
            held = params[name]
            if not _same_setting(name, held, value):
                raise CheckpointError(
                    f"'{run_dir / MODEL_FILE}' is not the model this run trained: it holds "
                    f"{name} {held!r}, config.json names {value!r}; it was replaced (another "
                    "run's?) or edited: restore this run's own model.pt, or train again with "
                    "--overwrite")


def _same_setting(name: str, held, value) -> bool:
    if name == "features":  # "open, volume" and "open,volume" name the same inputs
        return feature_names(held) == feature_names(value)
    if isinstance(held, bool) or isinstance(value, bool):
        return held is value
    return held == value  # 30 and 30.0 alike, as JSON may write either


def load_for_forecast(checkpoint: str | Path):
    """A fitted forecaster for `checkpoint`: the numpy one when it can, else `Forecaster`."""
    fast = load_fast(checkpoint)
    if fast is not None:
        return fast
    check_checkpoint_file(checkpoint)  # a forged file is refused before torch is imported
    return Forecaster.load(checkpoint)


# --- global runs: one network over every series of a panel ---------------------------

GLOBAL_KIND = "global"
# Every file a global run writes: --overwrite deletes these and nothing else.
GLOBAL_FILES = ("config.json", "metrics.json", "per_series.csv", "skipped.csv", MODEL_FILE,
                "rmse_ratio_naive.png")


def run_global(config: RunConfig, out: str | Path, command: str = "", *,
               id_column: str | None = None, split: str = "auto", ensemble: int = 3,
               overwrite: bool = False, progress: bool | None = None,
               plots: bool = True, mapper=map) -> dict:
    """Fit every series of the panel `config.data.source` (its own pool, with the global
    recurrent net among its candidates) and write a run folder.

    Writes config.json, metrics.json (aggregates over series), per_series.csv (each
    series beside naive, mean and seasonal naive on its test part, and the candidates its
    forecast was chosen from), skipped.csv (what was left out and why), model.pt and a
    histogram of per-series RMSE ratios to naive.

    ``mapper`` runs the series' pools (`map`, or a worker pool's: `rnnlab.tasks.pool_map`).
    Returns the metrics dict that metrics.json holds.
    """
    out = Path(out)
    check_out(out, overwrite)
    config.check()
    if config.data.market:
        raise ConfigError("--market does not work with a panel yet: each series' target "
                          "alone is read; drop --market")
    if config.model.features or config.model.calendar:
        raise ConfigError("--features and --calendar do not work with a panel yet: each "
                          "series' target alone is read; drop them")
    data = config.data
    started = time.perf_counter()
    panel = load_panel(data.source, id_column=id_column, target=data.target,
                       date_column=data.date_column, max_fill=data.max_fill,
                       date_format=data.date_format)
    # Each series' pool chooses its own window; a series needs a few values to fit on.
    parts = split_panel(panel, 1, data.val_fraction, data.test_fraction, how=split)
    parts = drop_short_tests(parts, config.model.horizon)
    skipped = {**panel.skipped, **parts.skipped}
    if not parts.sizes:
        first = next(iter(skipped.values()))
        raise DataError(f"no series in '{data.source}' is long enough to fit and score "
                        f"({first}); use a shorter --horizon or longer series")
    load_seconds = time.perf_counter() - started
    params = {**vars(config.model), **vars(config.training)}
    forecaster = GlobalForecaster(**params, ensemble=ensemble, progress=progress)
    with locked(out):
        _claim_global(out, overwrite, data.source)
        write_json(out / "config.json", {**config.to_dict(), "command": command,
                                         "global": {"id_column": id_column, "split": split,
                                                    "ensemble": ensemble},
                                         "versions": versions()})
        write_json(out / "metrics.json", {"status": "incomplete", "reason": "running"})
        return _train_global_into(out, config, panel, parts, skipped, forecaster,
                                  load_seconds, plots, mapper)


def drop_short_tests(parts, horizon: int):
    """Skip (and list) the series whose test part is shorter than `horizon`: none of
    its origins would have all its targets."""
    short = {name: f"{name} has {s.n_test} test values, fewer than --horizon {horizon}; "
                   "skipped (use a shorter --horizon or a larger --test-fraction)"
             for name, s in parts.sizes.items() if s.n_test < horizon}
    if not short:
        return parts
    return dataclasses.replace(
        parts, sizes={k: v for k, v in parts.sizes.items() if k not in short},
        skipped={**parts.skipped, **short})


def _claim_global(out: Path, overwrite: bool, data: str) -> None:
    marker = read_marker(out)
    if user_files(out) or marker is not None:
        if not overwrite:
            raise RnnlabError(occupied(out, "files", data, kind=GLOBAL_KIND))
        remove_run_files(out, data, kind=GLOBAL_KIND)
    write_marker(out, GLOBAL_KIND, GLOBAL_FILES)


def _train_global_into(out: Path, config: RunConfig, panel, parts, skipped: dict, forecaster,
                       load_seconds: float, plots: bool, mapper) -> dict:
    started = time.perf_counter()
    with interruptible() as stop_requested:
        fit_panel(forecaster, panel, parts, should_stop=stop_requested, mapper=mapper)
    fit_seconds = time.perf_counter() - started
    skipped.update(forecaster.skipped_)
    forecaster.skipped_ = skipped  # `forecast --id` says why any of them is missing
    per_series = score_panel(forecaster, panel, parts)
    per_series = per_series.join(chosen_table(forecaster), on="series")
    history = forecaster.history_
    metrics = {
        "status": "complete" if history.stopped != "interrupted" else "incomplete",
        "source": config.data.source,
        "model": config.model.model,
        "split": parts.how, "cut_dates": parts.cuts,
        "n_series": len(per_series), "n_skipped": len(skipped),
        "epochs_run": history.epochs_run, "best_epoch": history.best_epoch,
        "val_loss": {"initial": history.initial_val_loss, "best": history.best_val_loss},
        "stopped": history.stopped,
        "epoch_seconds": round(history.seconds / max(history.epochs_run, 1), 3),
        "train_seconds": round(history.seconds, 3),
        "fit_seconds": round(fit_seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "ensemble": forecaster.ensemble,
        # On how many series the global net is in the forecast, and its mean weight there
        "global_chosen": int((per_series["global_weight"] > 0).sum()),
        "test": aggregate(per_series),
    }
    horizon = config.model.horizon
    if horizon > 1:
        paths, per_step = score_panel_paths(forecaster, panel, parts, horizon)
        metrics["multi_step"] = aggregate_paths(paths, per_step, horizon, "direct")
        # One row per series: the one-step columns, then the H-step ones prefixed hH_.
        shown = paths.drop(columns=["n_test"]).set_index("series").add_prefix(f"h{horizon}_")
        per_series = per_series.join(shown, on="series")
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
                             f"{len(per_series)} series, each its own pool with the global "
                             f"{config.model.model}")
    return metrics


def chosen_table(forecaster) -> pd.DataFrame:
    """Per series: the candidates its forecast was chosen from (name and weight) and the
    global net's weight in it."""
    rows = []
    for name, f in forecaster.forecasters_.items():
        rows.append({"series": name,
                     "chosen": "; ".join(f"{c.name} {w:.2g}" for c, w in f.pool_),
                     "global_weight": sum(w for c, w in f.pool_ if c.family == "global")})
    return pd.DataFrame(rows).set_index("series")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def global_summary_lines(metrics: dict, out: str | Path) -> list[str]:
    """What `rnnlab train --global` prints: sizes, time, and how the series fared."""
    test = metrics["test"]
    ratio = test.get("rmse_ratio_naive", {}).get("median")
    shown = "n/a" if ratio is None or not math.isfinite(ratio) else f"{ratio:.4f}"
    lines = [
        f"{metrics['n_series']} series, each its own pool with the global {metrics['model']} "
        f"(ensemble of {metrics['ensemble']}); {metrics['n_skipped']} skipped, see "
        f"skipped.csv; split by {metrics['split']}"
        + (f" at {metrics['cut_dates'][0]} / {metrics['cut_dates'][1]}" if metrics["cut_dates"]
           else ""),
        f"the global net: {metrics['epochs_run']} epochs ({metrics['epoch_seconds']:.2f} s "
        f"each, best {metrics['best_epoch']}"
        + (", never better than its start: the net forecasts each window's level"
           if metrics["best_epoch"] == 0 and metrics["epochs_run"] else "")
        + f"); in the forecast of {metrics['global_chosen']} of {metrics['n_series']} "
        f"series; fit {metrics['fit_seconds']:.1f} s, peak memory "
        f"{metrics['peak_rss_mb']:.0f} MiB",
    ]
    if metrics["n_series"]:
        lines.append(
            f"median test RMSE / naive RMSE {shown}; ties or beats naive on "
            f"{100 * test['share_ties_or_beats_naive']:.1f}% of series (beats it on "
            f"{100 * test['share_beats_naive']:.1f}%), seasonal naive on "
            f"{100 * test['share_ties_or_beats_seasonal_naive']:.1f}%")
    steps = metrics.get("multi_step")
    if steps and steps.get("n_series"):
        m4 = steps["m4"]
        owa_shown = "n/a" if m4["owa"] is None else f"{m4['owa']:.3f}"
        lines.append(
            f"{steps['horizon']} steps ahead ({steps['strategy']}, {steps['origins']} "
            f"origins): median sMAPE {m4['model']['smape']['median']:.2f} (Naive2 "
            f"{m4['naive2']['smape']['median']:.2f}), median MASE "
            f"{_shown(m4['model']['mase']['median'])} (Naive2 "
            f"{_shown(m4['naive2']['mase']['median'])}), OWA {owa_shown}; ties or beats "
            f"naive on {100 * steps['share_ties_or_beats_naive']:.1f}% of series, seasonal "
            f"naive on {100 * steps['share_ties_or_beats_seasonal_naive']:.1f}%")
        interval = m4.get("interval")
        if interval:
            lines.append(
                f"its {100 * interval['level']:.0f}% interval covered "
                f"{100 * interval['coverage']['mean']:.1f}% of the test values (mean over "
                f"series), MSIS {_shown(interval['msis']['mean'])}, scaled quantile loss "
                f"{_shown(interval['sql']['mean'])}")
    files = sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
    lines.append(f"wrote {out}/: {' '.join(files)}")
    return lines


def _shown(x) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3f}"


def _panel_of(run_dir: Path):
    """A panel run's config, its panel read again as it was, and its split."""
    config = load_run_config(run_dir)
    settings = read_run_file(run_dir).get("global") or {}
    data = config.data
    panel = load_panel(data.source, id_column=settings.get("id_column"), target=data.target,
                       date_column=data.date_column, max_fill=data.max_fill,
                       date_format=data.date_format)
    parts = split_panel(panel, 1, data.val_fraction, data.test_fraction,
                        how=settings.get("split", "auto"))
    return config, panel, parts


def backtest_global(run_dir: str | Path, horizon: int | None = None) -> dict:
    """`backtest_run` for a panel run: every series scored `horizon` steps ahead from
    every origin of its test part, aggregated as `train` aggregates them."""
    run_dir = Path(run_dir)
    config, panel, parts = _panel_of(run_dir)
    horizon = config.model.horizon if horizon is None else int(horizon)
    parts = drop_short_tests(parts, horizon)
    check_checkpoint_file(run_dir / MODEL_FILE)
    forecaster = GlobalForecaster.load(run_dir / MODEL_FILE)
    paths, per_step = score_panel_paths(forecaster, panel, parts, horizon)
    return aggregate_paths(paths, per_step, horizon, "direct")


def explain_global(run_dir: str | Path, out: str | Path | None = None, plots: bool = True
                   ) -> dict:
    """What a panel run's global net looks at (`rnnlab.explain.global_memory_profile`)
    and how much each family is in the series' forecasts; explain.json (and memory.png)
    into `out` (default the run directory)."""
    run_dir = Path(run_dir)
    _, panel, _ = _panel_of(run_dir)
    forecaster = GlobalForecaster.load(run_dir / MODEL_FILE)
    profile = global_memory_profile(forecaster, panel)
    families: dict[str, float] = {}
    for f in forecaster.forecasters_.values():
        for candidate, weight in f.pool_:
            families[candidate.family] = families.get(candidate.family, 0.0) + weight
    n = len(forecaster.forecasters_)
    result = {"series": n, "model": profile.model, "memory": profile.to_dict(),
              "memory_text": profile.describe(),
              "families": {k: v / n for k, v in sorted(families.items(),
                                                       key=lambda kv: -kv[1])},
              "files": ["explain.json"]}
    target = Path(out) if out is not None else run_dir
    with locked(target):
        if plots:
            plot_memory_curves({profile.model: profile}, target / "memory.png",
                               title=f"{profile.model}: sensitivity by lag over {n} series")
            result["files"].append("memory.png")
        write_json(target / "explain.json", result)
    return result


def is_global_run(run_dir: str | Path) -> bool:
    marker = read_marker(Path(run_dir))
    return marker is not None and marker["kind"] == GLOBAL_KIND


def forecast_global(run_dir: str | Path, name: str | None, horizon: int = 10) -> pd.DataFrame:
    """The next `horizon` values of series `name` after its data, from a global run."""
    run_dir = Path(run_dir)
    if not is_global_run(run_dir):
        raise ConfigError(f"'{run_dir}' is not a panel run (rnnlab train --global); drop "
                          "--id to forecast from a one-series run")
    forecaster = GlobalForecaster.load(run_dir / MODEL_FILE)
    if name is None:
        names = forecaster.names_
        raise ConfigError(f"'{run_dir}' is a global run over {len(names)} series; pass --id "
                          f"NAME (e.g. --id {names[0]})")
    frame = forecaster.forecast_interval(name, horizon)
    if frame["lower"].isna().all():
        frame = frame[["forecast"]]
    frame = frame.reset_index()
    return frame.rename(columns={frame.columns[0]: time_label(frame.iloc[:, 0])})


def forecast_pretrained(source: str, horizon: int = 10) -> pd.DataFrame:
    """A zero-shot forecast of `source` by the shipped pretrained net: nothing is trained.
    Its members (without a season, and with each season found) are scored on the series'
    own rolling origins `horizon` steps ahead, the best one forecasts, and its errors there
    calibrate the 80% interval (the net's own quantiles where the origins are too few).
    Columns: date, forecast, lower, upper."""
    from .config import PRETRAINED, DataConfig
    from .pretrained import MIN_CONTEXT

    series = load_data(DataConfig(source=source))
    # A short series is scored fewer steps ahead, so that its origins have values before
    # them; past those steps the interval widens as the square root of the step.
    steps = horizon if len(series) >= 2 * horizon + MIN_CONTEXT else \
        max(1, (len(series) - MIN_CONTEXT) // 2)
    forecaster = Forecaster(model=PRETRAINED, candidates="net", horizon=steps,
                            progress=False).fit(series)
    used = ", ".join(c.name for c, _ in forecaster.pool_)
    log.info("zero-shot: %s, chosen on %d rolling origins of %s, %d steps ahead", used,
             forecaster.folds_.span, series.name, steps)
    frame = forecaster.forecast_interval(horizon)
    if forecaster.interval_widths(horizon) is None:
        frame = frame[["forecast"]]
    frame = frame.reset_index()
    return frame.rename(columns={frame.columns[0]: time_label(frame.iloc[:, 0])})

