"""Experiments: many honest backtests at a time. compare and sweep run fixed grids
(`rnnlab.tasks` runs them in worker processes or on Ray); tune searches one model's
settings with Optuna on the validation part only. `rnnlab.report` writes their tables,
plots and report.html.

    rnnlab compare --data sine,stock:A --models rnn,lstm,gru --seeds 3 --out runs/cmp
    rnnlab tune --data stock:A --model lstm --trials 30 --out runs/tune-a
    rnnlab tune --data stock:A --trials 30 --out runs/tune-b --storage sqlite:///runs/tune-a/study.db
    rnnlab tune --data stock:A --trials 30 --out runs/tune-c --backend ray --jobs 4

Tuning: each trial fits a `Forecaster` on the training part with the validation part for
early stopping (the split of `rnnlab train`) and is scored by its best validation RMSE in
the series' own units, so trials with different scalers compare fairly. Poor trials are
pruned from their validation RMSE per epoch. The test part is cut off before the study
starts: only the best config, retrained as `rnnlab train` trains, is scored on it, beside
the baselines. Optuna is an optional extra (``pip install 'rnnlab[tune]'``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import signal
import threading
import time
import typing
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .backtest import backtest
from .base import check_series
from .baselines import BASELINES
from .checkpoint import atomic_write, write_json
from .config import (
    MAX_SEED,
    ModelConfig,
    RunConfig,
    TrainConfig,
    check_choice,
    coerce,
    from_flat,
    param_names,
    unknown_parameter,
)
from .data import load_data
from .errors import ConfigError, DataError, RnnlabError
from .folders import check_out, claim, locked, remove_temps
from .forecaster import Forecaster
from .global_forecaster import GlobalForecaster, fit_panel
from .metrics import score, verdict, verdict_of_losses
from .panel import load_panel, split_panel
from .plots import plot_tuning_history
from .report import metrics_table, versus_naive, write_lab_outputs
from .runs import series_fingerprint, versions
from .tasks import Task, check_backend, ray_remote, run_tasks, stage_records, start_ray
from .windows import (
    Split,
    check_varies,
    fit_scaler,
    longest_seq_len,
    seq_len_for_split,
    split_sizes,
)

log = logging.getLogger("rnnlab")

BASELINE_NAMES = tuple(BASELINES)


def results_frame(records: list[dict]) -> pd.DataFrame:
    """The tidy table: one row per run, predictions left out."""
    skip = ("predictions", "memory", "multi_step", "path_losses")
    frame = pd.DataFrame([{k: v for k, v in r.items() if k not in skip} for r in records])
    if frame.empty:
        return frame
    params = [c for c in frame if c in param_names()]
    order = [c for c in ("dataset", "model") if c in frame] + [
        c for c in params if c not in ("dataset", "model", "seed")] + ["seed"]
    rest = [c for c in frame if c not in order]
    return frame[order + rest]


def summarize(results: pd.DataFrame, by: list[str], metrics=("rmse", "mae", "mase"),
              records: list[dict] | None = None) -> pd.DataFrame:
    """Mean and std over seeds per cell, with the baselines as rows of the same table.

    With the runs' `records` (which hold their test predictions), each cell also gets the
    one rule's verdict against the best baseline (`outcome`, `against`, `ratio`,
    `p_value`): the paired test runs on the seeds' mean squared error per test target.
    """
    ok = results[results["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame()
    rows = []
    for keys, group in ok.groupby(by, sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(by, keys, strict=True))
        row["runs"] = len(group)
        for metric in metrics:
            row[f"{metric}_mean"] = group[metric].mean()
            row[f"{metric}_std"] = group[metric].std(ddof=1) if len(group) > 1 else 0.0
        row["rmse_worst"] = group["rmse"].max()
        row["worst_seed"] = int(group.loc[group["rmse"].idxmax(), "seed"])
        row["train_seconds_mean"] = group["train_seconds"].mean()
        if "net_weight" in group:  # the share of runs whose forecast used the net
            row["net_chosen"] = float((group["net_weight"] > 0).mean())
        row["epochs_mean"] = group["epochs"].mean()
        if "rmse_h" in group:  # scored many steps ahead too
            for metric in ("rmse_h", "mase_h", "coverage"):
                row[f"{metric}_mean"] = group[metric].mean()
            row["rmse_h_std"] = group["rmse_h"].std(ddof=1) if len(group) > 1 else 0.0
        elif "coverage" in group:
            row["coverage_mean"] = group["coverage"].mean()
        if records is not None:
            cell = [r for r in records if r.get("status") == "ok" and all(
                _same(r.get(k), v) for k, v in zip(by, keys, strict=True))]
            row.update(_cell_verdict(cell))
            if "rmse_h" in group:
                row.update(_cell_verdict_h(cell))
        rows.append(row)
    summary = pd.DataFrame(rows)
    if "dataset" in by:
        baseline_rows = []
        for dataset, group in ok.groupby("dataset", sort=False):
            first = group.iloc[0]
            for name in BASELINE_NAMES:
                row = {"dataset": dataset, "model": name, "runs": 1}
                for metric in metrics:
                    row[f"{metric}_mean"] = first[f"{name}_{metric}"]
                    row[f"{metric}_std"] = 0.0
                for metric in ("rmse_h", "mase_h"):
                    if f"{name}_{metric}" in first:
                        row[f"{metric}_mean"] = first[f"{name}_{metric}"]
                baseline_rows.append(row)
        summary = pd.concat([summary, pd.DataFrame(baseline_rows)], ignore_index=True)
        # Datasets in the order they were asked for, each one's baselines after its models.
        order = {name: i for i, name in enumerate(dict.fromkeys(ok["dataset"]))}
        summary = summary.sort_values("dataset", key=lambda c: c.map(order),
                                      kind="stable").reset_index(drop=True)
    return summary


def _same(a, b) -> bool:
    """Equal cell keys, where a missing value (NaN, None) equals another missing one."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a == b or (pd.isna(a) and pd.isna(b))


def _cell_verdict_h(records: list[dict]) -> dict:
    """The one rule many steps ahead: the seeds' mean loss per test origin (mean squared
    error over its steps) against each baseline's on the same origins."""
    losses = [r["path_losses"] for r in records if "path_losses" in r]
    if not losses or len({len(x["model"]) for x in losses}) != 1:
        return {}
    model = np.mean([x["model"] for x in losses], axis=0)
    horizon = next((r["multi_step"]["horizon"] for r in records if r.get("multi_step")), 1)
    found = verdict_of_losses(model, {name: np.asarray(v) for name, v in losses[0].items()
                                      if name != "model"}, horizon)
    return {"outcome_h": found.outcome, "against_h": found.against, "ratio_h": found.ratio,
            "p_value_h": found.p_value}


def _cell_verdict(records: list[dict]) -> dict:
    """The one rule for a cell of several seeds: the model's loss per target is the mean
    over seeds of the squared error, against the best baseline on the same targets."""
    if not records or not all("predictions" in r for r in records):
        return {}
    first = records[0]["predictions"]
    actual = np.asarray(first["actual"], dtype=np.float64)
    if any(len(r["predictions"]["model"]) != len(actual) for r in records):
        return {}
    model_loss = np.mean([(actual - np.asarray(r["predictions"]["model"])) ** 2
                          for r in records], axis=0)
    baselines = {name: (actual - np.asarray(first[name], dtype=np.float64)) ** 2
                 for name in BASELINE_NAMES if name in first}
    found = verdict_of_losses(model_loss, baselines)
    return {"outcome": found.outcome, "against": found.against, "ratio": found.ratio,
            "p_value": found.p_value}


# More seeds than any study trains: the cap keeps a typo from queueing billions of runs.
MAX_SEEDS = 1000


def compare_tasks(datasets: list[str], models: list[str], seeds: int, base) -> list:
    """One task per dataset x model, each with `seeds` seeds from the base config's seed."""
    seed_list = seed_range(seeds, base.training.seed)
    tasks = []
    for dataset in datasets:
        for model in models:
            config = base.to_dict()
            config["data"]["source"] = dataset
            config["model"]["model"] = model
            tasks.append(Task(config, seed_list, {"dataset": dataset, "model": model}))
    return tasks


def compare(data, models=("rnn", "lstm", "gru"), seeds: int = 3, out: str | None = None,
            jobs: int | None = None, progress: bool | None = None, command: str = "",
            backend: str = "local", address: str | None = None,
            **overrides) -> pd.DataFrame:
    """Train every model on every dataset with `seeds` seeds; one row per run.

    ``overrides`` are config parameters by name (``epochs=50``, ``seq_len=60`` ...). With
    `out`, writes results, a mean ± std summary beside the baselines, plots and
    report.html there, and skips runs finished by an earlier call. ``backend="ray"`` runs
    them as Ray tasks, on a local instance or the cluster at `address`, for the same table.

    Examples
    --------
    >>> table = compare("sine", models=["rnn", "gru"], seeds=2, epochs=2, jobs=1,
    ...                 progress=False)
    >>> table[["model", "seed"]].values.tolist()
    [['rnn', 0], ['rnn', 1], ['gru', 0], ['gru', 1]]
    """
    datasets, models = _names(data), _model_names(models)
    _refuse_repeats("dataset", datasets)
    _refuse_repeats("model", models)
    base = from_flat(overrides)
    _check_sources(base, datasets)
    tasks = compare_tasks(datasets, models, seeds, base)
    settings = {"kind": "compare", "datasets": datasets, "models": models, "seeds": seeds,
                "config": base.to_dict()}
    return _run_and_write(tasks, settings, out, jobs, progress, command, by=["dataset", "model"],
                          backend=backend, address=address)


def sweep_grid(params: dict) -> dict[str, list]:
    """Check sweep parameter names (listing the valid ones) and convert their values."""
    if not params:
        raise ConfigError("sweep needs at least one --param NAME=V1,V2,...")
    valid = param_names()
    grid = {}
    for name, values in params.items():
        if name not in valid:
            raise ConfigError(unknown_parameter(name, " to sweep"))
        hint = typing.get_type_hints(valid[name])[name]
        grid[name] = [coerce(name, v, hint) for v in _names(values)]
    return grid


def sweep_tasks(datasets: list[str], model: str, grid: dict[str, list], seeds: int,
                overrides: dict) -> list:
    """One task per dataset x grid point."""
    base = from_flat({**overrides, "model": model})
    seed_list = seed_range(seeds, base.training.seed)
    tasks = []
    for dataset in datasets:
        for combo in itertools.product(*grid.values()):
            values = dict(zip(grid, combo, strict=True))
            config = from_flat({**overrides, "model": model, **values}).to_dict()
            config["data"]["source"] = dataset
            labels = {"dataset": dataset, "model": values.get("model", model), **values}
            tasks.append(Task(config, seed_list, labels))
    return tasks


def sweep(data, model: str = "lstm", params: dict | None = None, seeds: int = 1,
          out: str | None = None, jobs: int | None = None, progress: bool | None = None,
          command: str = "", backend: str = "local", address: str | None = None,
          **overrides) -> pd.DataFrame:
    """Train `model` over the grid of `params` ({name: [values]}) on each dataset.

    Any data, model or training parameter can be swept by its config name; a typo is
    refused with the valid names listed. `backend` and `address` as in `compare`.

    Examples
    --------
    >>> table = sweep("sine", "lstm", {"seq_len": [10, 20]}, epochs=2, jobs=1, progress=False)
    >>> table["seq_len"].tolist()
    [10, 20]
    """
    datasets = _names(data)
    _refuse_repeats("dataset", datasets)
    grid = sweep_grid(params or {})
    if "seed" in grid:
        raise ConfigError("seed cannot be swept: every grid point already trains `seeds` "
                          "seeds from the base seed (seed, seed+1, ...); pass --seeds N "
                          "--seed FIRST (seeds=N, seed=FIRST) instead of --param seed=...")
    for name, values in grid.items():
        _refuse_repeats(f"{name} value", values)
    base = from_flat({**overrides, "model": model})
    _check_sources(base, datasets)
    tasks = sweep_tasks(datasets, model, grid, seeds, overrides)
    settings = {"kind": "sweep", "datasets": datasets, "model": model, "grid": grid,
                "seeds": seeds, "config": base.to_dict()}
    by = ["dataset", *[p for p in grid if p != "model"], "model"]
    return _run_and_write(tasks, settings, out, jobs, progress, command, by=by,
                          backend=backend, address=address)


def _names(value) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def seed_range(seeds: int, first: int) -> tuple[int, ...]:
    """The seeds first, first + 1, ...: `seeds` of them, each a valid seed."""
    count = _positive("seeds", seeds)
    if count > MAX_SEEDS:
        raise ConfigError(f"seeds must be at most {MAX_SEEDS} (each seed is a training run), "
                          f"got {count}; pass a smaller --seeds")
    if first + count - 1 > MAX_SEED:
        raise ConfigError(f"seeds {count} from seed {first} end at seed {first + count - 1}, "
                          f"above the largest seed {MAX_SEED}; lower --seed or --seeds")
    return tuple(range(first, first + count))


def _positive(name: str, value: int) -> int:
    if int(value) < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return int(value)


def _model_names(models) -> list[str]:
    """Model names as given (any case), checked against the registry's names."""
    names = [coerce("model", name, str) for name in _names(models)]
    if not names:
        raise ConfigError("no model given; pass --models NAME[,NAME...], e.g. rnn,lstm,gru")
    for name in names:
        check_choice("model", name)
    return names


def _check_sources(base, datasets) -> None:
    """Fail fast on a source that cannot load at all (typo, missing file)."""
    if not datasets:
        raise ConfigError("no dataset given; pass --data SOURCE[,SOURCE...]")
    for number, dataset in enumerate(datasets):
        try:
            # Values no model can take (1e299s, 1e-301s) are refused here, not once per run.
            check_series(load_data(dataclasses.replace(base.data, source=dataset)))
        except DataError as exc:
            # "a,b.csv" is two entries to --data: say so when their join is a file.
            joined = next((",".join(datasets[start:stop]) for start in range(number + 1)
                           for stop in range(number + 1, len(datasets) + 1)
                           if stop - start > 1 and _is_file(",".join(datasets[start:stop]))),
                          None)
            if joined is None:
                raise
            raise DataError(f"{exc}; commas separate --data entries, so the file "
                            f"'{joined}' was read as several: rename it without commas, or "
                            "link it under a name without them") from None


def _is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except OSError:
        return False


def _run_and_write(tasks, settings, out, jobs, progress, command, by, backend="local",
                   address=None) -> pd.DataFrame:
    check_backend(backend, address)  # before any folder is written
    for task in tasks:
        RunConfig.from_dict(task.config).check()
    _refuse_same_runs(tasks)
    if out is not None:
        check_out(Path(out))
    with locked(Path(out)) if out is not None else contextlib.nullcontext():
        if out is not None:
            _prepare_lab_dir(Path(out), settings, command)
        folder = Path(out) / "runs" if out is not None else None
        records = stage_records(tasks, run_tasks(tasks, folder, jobs, progress,
                                                 backend=backend, address=address))
        results = results_frame(records)
        summary = summarize(results, by, records=records)
        # The per-cell summary (with the one rule's verdicts) travels with the table.
        results.attrs["summary"] = summary
        if out is not None:
            write_lab_outputs(Path(out), settings, records, results, summary, by)
    return results


def _refuse_repeats(what: str, values: list) -> None:
    """A value given twice would train the same runs twice and count them as two."""
    seen = []
    for value in values:
        if value in seen:
            listed = ", ".join(str(v) for v in values)
            raise ConfigError(f"{what} {value!r} is listed twice ({listed}); list each once")
        seen.append(value)


def _refuse_same_runs(tasks) -> None:
    """Refuse two cells that differ only in settings that do not change a run (device)."""
    first = {}
    for task in tasks:
        for rid in task.run_ids():
            if rid in first and first[rid] != task.labels:
                raise ConfigError(f"{first[rid]} and {task.labels} are the same runs ({rid}): "
                                  "they differ only in settings that do not change a run; "
                                  "keep one")
            first.setdefault(rid, task.labels)


def _prepare_lab_dir(out, settings: dict, command: str) -> None:
    """Claim `out` for these settings (run with it locked); a re-run resumes in it."""
    claim(out, settings["kind"], "results folder")
    saved = out / "config.json"
    if saved.exists():
        try:
            previous = json.loads(saved.read_text()).get("settings")
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous is None or json.loads(json.dumps(previous)) != json.loads(
                json.dumps(settings, default=str)):
            raise ConfigError(
                f"'{out}' holds results of other settings; use another --out (re-running "
                "the same command there resumes it)"
            )
    for folder in (out, out / "runs"):  # half-written files of a killed run
        if folder.is_dir():
            remove_temps(folder)
    write_json(saved, {"settings": settings, "command": command, "versions": versions()})


# --- tune: Optuna searches one model's settings --------------------------------------

INSTALL = "rnnlab tune needs Optuna: pip install 'rnnlab[tune]'"
# name: (low, high, log scale). Ranges a study of a few dozen trials can cover; each is
# then narrowed to its field's valid range in rnnlab.config, and seq_len to what the
# series' length allows, so no trial can be an invalid config.
NUMERIC_SPACE = {
    "seq_len": (4, 120, True),  # a few steps to several periods of the study's series
    "hidden_size": (8, 128, True),
    "num_layers": (1, 3, False),
    "lr": (1e-4, 3e-2, True),
    "dropout": (0.0, 0.5, False),
    "clip_grad_norm": (0.1, 10.0, True),
}
# auto only picks between standard and window on the validation part: the study does
# that choice itself, so it is left out.
SCALER_CHOICES = tuple(c for c in next(f for f in dataclasses.fields(ModelConfig)
                                        if f.name == "scaler").metadata["choices"]
                       if c != "auto")
# Tries at opening a storage another worker is creating (0.25 s more wait each time).
STORAGE_ATTEMPTS = 8
# A typo in --trials must not queue millions of fits.
MAX_TRIALS = 100_000
# A running trial tells the storage it is alive this often; one silent for GRACE_SECONDS
# was killed, and the next worker of the study marks it failed.
HEARTBEAT_SECONDS = 30
GRACE_SECONDS = 120
FILES = ("best.json", "metrics.json", "trials.csv", "history.png")


def import_optuna():
    """Optuna, or a ConfigError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(INSTALL) from None
    return optuna


def _field_rules(name: str) -> tuple[type, dict]:
    for section in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(section):
            if f.name == name:
                return type(f.default), f.metadata
    raise KeyError(name)


def search_space(n_rows: int, val_fraction: float, test_fraction: float) -> dict:
    """{name: (low, high, log)} for the numeric parameters, each inside its config range.

    Examples
    --------
    >>> search_space(1000, 0.1, 0.2)["seq_len"], search_space(100, 0.1, 0.2)["seq_len"]
    ((4, 120, True), (4, 54, True))
    """
    space = {}
    for name, (low, high, log_scale) in NUMERIC_SPACE.items():
        kind, rules = _field_rules(name)
        if rules["low"] is not None:
            low = max(low, rules["low"])
        if rules["high"] is not None:
            high = min(high, rules["high"])
        if rules["above"] is not None and low <= rules["above"]:
            low = rules["above"] + 1 if kind is int else math.nextafter(rules["above"], math.inf)
        if rules["below"] is not None and high >= rules["below"]:
            high = rules["below"] - 1 if kind is int else math.nextafter(rules["below"], -math.inf)
        space[name] = (low, high, log_scale)
    low, high, log_scale = space["seq_len"]
    # The longest window the series allows (`low` when none does: split_sizes says why).
    longest = longest_seq_len(n_rows, val_fraction, test_fraction)
    space["seq_len"] = (low, min(high, max(low, longest)), log_scale)
    return space


def trial_config(trial, base: RunConfig, space: dict) -> RunConfig:
    """The run config one trial tries: `base` with the searched parameters replaced."""
    picked = {}
    for name, (low, high, log_scale) in space.items():
        if isinstance(low, int):
            picked[name] = trial.suggest_int(name, low, high, log=log_scale)
        else:
            picked[name] = trial.suggest_float(name, low, high, log=log_scale)
    picked["scaler"] = trial.suggest_categorical("scaler", SCALER_CHOICES)
    return config_with(base, picked)


def config_with(base: RunConfig, params: dict) -> RunConfig:
    """`base` with some model and training parameters replaced, checked."""
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    model = dataclasses.replace(base.model, **{k: v for k, v in params.items()
                                               if k in model_names})
    training = dataclasses.replace(base.training, **{k: v for k, v in params.items()
                                                     if k not in model_names})
    config = RunConfig(base.data, model, training)
    config.check()
    return config


def naive_val_rmse(fit_part: np.ndarray, split: Split) -> float:
    """RMSE of next = last on the validation targets, in series units (a reference line)."""
    val = fit_part[split.n_train - 1: split.n_fit]
    return float(np.sqrt(np.mean(np.diff(val) ** 2)))


def make_objective(fit_part: pd.Series, split: Split, base: RunConfig, space: dict):
    """The function Optuna minimises: one trial's best validation RMSE in series units.

    `fit_part` is the training and validation parts only (the test part is not passed,
    so no trial can read it). The validation MSE of every epoch, in model units, is
    reported as RMSE in series units (times the scaler's scale, the same for every
    window), so pruning compares trials with different scalers fairly; a pruned trial
    stops after the epoch that was reported, through the loop's ``should_stop``.
    """
    optuna = import_optuna()
    train_values = fit_part.to_numpy(np.float64)[: split.n_train]

    def objective(trial) -> float:
        config = trial_config(trial, base, space)
        # The scale the Forecaster will fit: the same function on the same training part.
        scale = fit_scaler(config.model.scaler, train_values, str(fit_part.name)).scale
        forecaster = Forecaster.from_config(config.model, config.training, progress=False)
        pruned = []

        def report(snapshot) -> None:
            val_loss = snapshot()["history"]["val_loss"]
            trial.report(math.sqrt(val_loss[-1]) * scale, len(val_loss))
            if trial.should_prune():
                pruned.append(len(val_loss))

        forecaster.fit(fit_part, val_size=split.n_val, should_stop=lambda: bool(pruned),
                       on_epoch_end=report)
        history = forecaster.history_
        trial.set_user_attr("epochs_run", history.epochs_run)
        trial.set_user_attr("stopped", "pruned" if pruned else history.stopped)
        if pruned:
            raise optuna.TrialPruned(f"pruned at epoch {pruned[0]}")
        return math.sqrt(history.best_val_loss) * forecaster.scaler_.scale

    return objective


def shown_url(url: str) -> str:
    """The storage URL with any password hidden, for messages and files."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: it is shown as given (it has no password field)
        return url if len(url) <= 80 else url[:77] + "..."


def open_storage(url: str):
    """Optuna's database storage for `url`, or a ConfigError naming --storage and the fix."""
    optuna = import_optuna()
    # SQLite lets one writer in at a time: workers sharing a file wait for it, not fail.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            # Heartbeats: a trial whose process was killed (left RUNNING) is marked failed
            # by the next worker once its heartbeat is GRACE_SECONDS old. Optuna calls
            # them experimental and says so on every open: here, once is in the README.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine,
                                                  heartbeat_interval=HEARTBEAT_SECONDS,
                                                  grace_period=GRACE_SECONDS)
        except Exception as exc:  # sqlalchemy's parse, driver and connection errors alike
            # Two workers starting at once on a new database both create its tables: the
            # one that loses the race sees the other's tables or rows, or its lock.
            race = type(exc).__name__ == "IntegrityError" or any(
                words in str(exc) for words in ("locked", "already exists"))
            if race and attempt < STORAGE_ATTEMPTS - 1:
                time.sleep(0.25 * (attempt + 1))
                continue
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            raise ConfigError(
                f"--storage {shown_url(url)!r} cannot be opened ({type(exc).__name__}: "
                f"{first}); give a database URL Optuna supports, e.g. sqlite:///path/study.db "
                "or postgresql://user@host/db (with its driver installed)") from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _check_counts(trials: int, timeout: float | None) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        raise ConfigError(f"--trials must be a whole number from 1 to {MAX_TRIALS}, got "
                          f"{trials!r}; pass --trials N (e.g. --trials 20)")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"--timeout must be a positive number of seconds, got {timeout!r}; "
                          "pass e.g. --timeout 600, or leave it out")


def study_key(config: RunConfig, fingerprint: str) -> dict:
    """What every trial of one study must share: the data, the model, what is not searched."""
    fixed = {k: v for k, v in {**dataclasses.asdict(config.model),
                               **dataclasses.asdict(config.training)}.items()
             if k not in (*NUMERIC_SPACE, "scaler", "seed", "device", "threads")}
    return {"data": dataclasses.asdict(config.data), "fixed": fixed, "data_sha256": fingerprint}


def _check_study(study, key: dict, name: str) -> None:
    found = study.user_attrs.get("rnnlab")
    if found is None:
        study.set_user_attr("rnnlab", key)
    elif found != key:
        flat = {**key["data"], **key["fixed"], "data": key["data_sha256"]}
        theirs = {**(found.get("data") or {}), **(found.get("fixed") or {}),
                  "data": found.get("data_sha256")}
        what = next((k for k in flat if theirs.get(k) != flat[k]), "data")
        shown = ("other data (its values differ)" if what == "data" else
                 f"{what} {theirs.get(what)!r}, not {flat[what]!r}")
        raise ConfigError(f"study {name!r} holds trials of {shown}; give another "
                          "--study-name, or the same data and settings as its other workers")


def _trial_line(trial, best) -> str:
    params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    seconds = trial.duration.total_seconds() if trial.duration is not None else math.nan
    state = trial.state.name
    if state == "COMPLETE":
        head = f"val RMSE {trial.value:.4g}"
    elif state == "PRUNED":
        head = f"pruned at epoch {trial.user_attrs.get('epochs_run', '?')}"
    else:
        head = state.lower()
    tail = f"; best {best.value:.4g} (trial {best.number})" if best is not None else ""
    return f"trial {trial.number}: {head} in {seconds:.1f} s ({params}){tail}"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _best_or_none(study):
    try:
        return study.best_trial
    except ValueError:  # no finished trial yet
        return None


def importances(study, n_complete: int) -> tuple[dict | None, str]:
    """Each searched parameter's importance (Optuna's default evaluator), or None and why."""
    if n_complete < 2:
        return None, (f"importance needs at least 2 finished trials, the study has "
                      f"{n_complete}; run more --trials")
    optuna = import_optuna()
    try:
        with warnings.catch_warnings():
            # Optuna warns that a few trials give rough importances: the note says so.
            warnings.simplefilter("ignore", UserWarning)
            found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        return None, f"importance not computed ({type(exc).__name__}: {first})"
    note = "" if n_complete >= 10 else f"rough: from only {n_complete} finished trials"
    return {k: float(v) for k, v in found.items()}, note


def trials_frame(study) -> pd.DataFrame:
    """One row per trial: number, state, value (a pruned one's last report), params."""
    rows = []
    for t in study.trials:
        value = t.value
        if value is None and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        rows.append({"number": t.number, "state": t.state.name, "value": value,
                     "epochs_run": t.user_attrs.get("epochs_run"),
                     "seconds": t.duration.total_seconds() if t.duration else None,
                     **t.params})
    return pd.DataFrame(rows, columns=["number", "state", "value", "epochs_run", "seconds",
                                       *NUMERIC_SPACE, "scaler"])


def _check_backend_args(backend: str, address: str | None, jobs: int | None,
                        url: str) -> None:
    """--jobs only with Ray, a cluster only with a database its nodes reach, then the
    checks compare and sweep make (Ray installed, the address answering)."""
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"--jobs must be a whole number of at least 1, got {jobs!r}; "
                          "pass e.g. --jobs 4, or leave it out")
    if backend == "local" and jobs not in (None, 1):
        raise ConfigError(f"--jobs {jobs} runs that many Ray workers, so it needs --backend "
                          "ray; on the local backend start several `rnnlab tune` with one "
                          "--storage instead, or drop --jobs")
    if backend == "ray" and address is not None and url.startswith("sqlite"):
        raise ConfigError(f"--address {address} runs the trials on the cluster's nodes, which "
                          f"cannot share the SQLite study {shown_url(url)}; pass --storage "
                          "with a database URL every node reaches, e.g. "
                          "postgresql://user@host/db")
    check_backend(backend, address)


def _create_study(optuna, storage, name: str, seed: int | None):
    """The study `name` in `storage`, created or joined, with rnnlab's sampler and pruner.

    A seeded sampler joining a study that holds trials is seeded from the seed and their
    count: the same seed again would draw the very trials it drew before (its first ten
    are random draws), and a re-run must continue the search, not repeat it."""
    study = optuna.create_study(
        storage=storage, study_name=name, load_if_exists=True,
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed),
        # Five finished trials before any pruning, five epochs before any trial is
        # judged: the first epochs of a net that starts at its linear part say little.
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5))
    held = len(study.get_trials(deepcopy=False))
    if seed is not None and held:
        mixed = int(np.random.SeedSequence([seed, held]).generate_state(1)[0])
        study.sampler = optuna.samplers.TPESampler(seed=mixed)
    return study


def _fail_abandoned(study, optuna) -> list[int]:
    """Mark failed the trials a killed tune left running in a study only this process
    writes (its own study.db, under its folder's lock); their numbers."""
    state = optuna.trial.TrialState
    left = [t.number for t in study.get_trials(deepcopy=False, states=(state.RUNNING,))]
    for number in left:
        study.tell(number, state=state.FAIL, skip_if_finished=True)
    return left


def trial_shares(trials: int, workers: int) -> list[int]:
    """`trials` cut into at most `workers` shares, sizes within one of each other.

    Examples
    --------
    >>> trial_shares(5, 2), trial_shares(2, 4)
    ([3, 2], [1, 1])
    """
    workers = max(1, min(workers, trials))
    size, extra = divmod(trials, workers)
    return [size + (1 if i < extra else 0) for i in range(workers)]


def _ray_optimize(problem: tuple, url: str, name: str, n_trials: int,
                  timeout: float | None, seed: int | None, threads: int) -> int:
    """One Ray worker's share: study.optimize on the shared storage; returns its trials."""
    import torch  # heavy: loaded in the worker

    torch.set_num_threads(threads)
    optuna = import_optuna()
    ran = []
    with _quiet_optuna(optuna):
        study = _create_study(optuna, open_storage(url), name, seed)
        # The pruner reads the other workers' reports from the storage, as it does locally.
        study.optimize(make_objective(*problem), n_trials=n_trials, timeout=timeout,
                       callbacks=[lambda study, trial: ran.append(trial.number)])
    return len(ran)


def _optimize_on_ray(study, problem: tuple, url: str, trials: int, timeout: float | None,
                     seed: int | None, jobs: int | None, address: str | None,
                     progress: Callable) -> None:
    """The trials as Ray tasks, `--jobs` workers (default: every CPU) each running its
    share on the study's storage; `progress` hears of each trial as it finishes."""
    ray, started_here = start_ray(address, jobs)
    refs = []
    try:
        remote, in_flight, threads = ray_remote(ray, _ray_optimize, jobs, trials, address)
        state = import_optuna().trial.TrialState
        finished = (state.COMPLETE, state.PRUNED, state.FAIL)
        seen = {t.number for t in study.get_trials(deepcopy=False, states=finished)}
        # Each worker its own sampler seed: the same one would repeat the same trials.
        refs = [remote.remote(problem, url, study.study_name, share, timeout,
                              None if seed is None else seed + i, threads)
                for i, share in enumerate(trial_shares(trials, in_flight))]
        pending = list(refs)
        while pending:
            # A timeout, so finished trials are reported (and Ctrl-C seen) within a second.
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                try:
                    ray.get(ref)
                except Exception as exc:  # a RayTaskError names only the task: its cause
                    cause = getattr(exc, "cause", None)
                    raise (cause if isinstance(cause, Exception) else exc) from None
            for trial in study.get_trials(deepcopy=False, states=finished):
                if trial.number not in seen:
                    seen.add(trial.number)
                    progress(study, trial)
    except BaseException:
        for ref in refs:  # stopped or failed: the other workers' trials are abandoned
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


def run_tune(base: RunConfig, out: str | Path, trials: int = 20, *,
             timeout: float | None = None, storage: str | None = None,
             study_name: str | None = None, seed: int | None = None, command: str = "",
             on_trial: Callable[[str], None] | None = None, backend: str = "local",
             address: str | None = None, jobs: int | None = None) -> dict:
    """Run `trials` Optuna trials over the search space, then score the best on the test.

    `base` holds the data, the model and what is not searched (epochs caps each trial).
    The study lives in `storage` (default: SQLite in `out`/study.db); workers started
    with the same storage and study name share one study, and re-running into `out`
    adds trials to it. `seed` seeds the sampler and every trial's training (workers
    sharing a study should each take their own seed, or none). Writes best.json (the
    best config, as config.json), metrics.json, trials.csv and history.png into `out`.
    `backend` "ray" runs the trials as `jobs` Ray tasks sharing the study (`address`: a
    cluster, whose nodes need a `storage` they all reach); the files are the same.

    Examples
    --------
    >>> import tempfile
    >>> from rnnlab.config import from_flat
    >>> with tempfile.TemporaryDirectory() as out:
    ...     result = run_tune(from_flat({"epochs": 2}), out, 2, seed=0)
    >>> result["n_trials"], sorted(result["best"])
    (2, ['config', 'params', 'trial', 'val_rmse'])
    """
    optuna = import_optuna()
    _check_counts(trials, timeout)
    if seed is not None:
        base = dataclasses.replace(base, training=dataclasses.replace(base.training,
                                                                      seed=seed))
    base.check()
    if base.data.val_fraction <= 0:
        raise ConfigError("tune chooses on the validation part, so --val-fraction must be "
                          "above 0, got 0; pass e.g. --val-fraction 0.1")
    out = Path(out)
    check_out(out)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    _check_backend_args(backend, address, jobs, url)
    series = load_data(base.data)
    data = base.data
    space = search_space(len(series), data.val_fraction, data.test_fraction)
    split = split_sizes(len(series), space["seq_len"][0], data.val_fraction,
                        data.test_fraction, name=str(series.name))
    values = series.to_numpy(np.float64)
    check_varies(values[: split.n_train], str(series.name))
    # The only part the study sees: the test part is cut off here.
    fit_part = series.iloc[: split.n_fit]
    name = study_name or f"{base.model.model} on {data.source}"
    found = versions()  # imports torch: before the folder is claimed, not after
    # A bad --storage is refused before the folder is made; the default one lives in it.
    given = open_storage(storage) if storage is not None else None
    with locked(out), _quiet_optuna(optuna):
        claim(out, "tune", "tune folder")
        remove_temps(out, list(FILES))
        if given is None:
            _create_as_umask(out / "study.db")  # SQLite itself would make it 0644
        study = _create_study(optuna, given or open_storage(url), name, seed)
        _check_study(study, study_key(base, series_fingerprint(series)), name)
        if given is None:  # its own study.db, under this folder's lock: no one else runs
            left = _fail_abandoned(study, optuna)
            if left:
                log.info("trial(s) %s were left running by a tune that was killed: marked "
                         "failed", ", ".join(map(str, left)))

        def progress(study, trial) -> None:
            if on_trial is not None:
                on_trial(_trial_line(trial, _best_or_none(study)))

        started = time.perf_counter()
        try:
            with _ctrl_c_raises():
                _optimize(study, backend, (fit_part, split, base, space), url, trials,
                          timeout, seed, jobs, address, progress)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (the CLI's subclass of it)
            done = sum(t.state.name == "COMPLETE" for t in study.trials)
            raise type(exc)(
                f"interrupted; study {name!r} keeps its {done} finished trial(s) in "
                f"{shown_url(url)}: run the same command again to add more") from None
        seconds = time.perf_counter() - started
        return _finish(out, study, url, base, series, space, seconds, command, found)


def _create_as_umask(path: Path) -> None:
    """Create an empty file (an empty SQLite database) with the umask's mode, as every
    other file rnnlab writes has; SQLite creates its files 0644 whatever the umask."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))
    except FileExistsError:
        pass


def _optimize(study, backend: str, problem: tuple, url: str, trials: int,
              timeout: float | None, seed: int | None, jobs: int | None,
              address: str | None, progress: Callable) -> None:
    """The study's trials, run here or as Ray tasks."""
    if backend == "ray":
        _optimize_on_ray(study, problem, url, trials, timeout, seed, jobs, address, progress)
    else:
        study.optimize(make_objective(*problem), n_trials=trials, timeout=timeout,
                       callbacks=[progress])


@contextlib.contextmanager
def _ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt while the block runs, also where the process was
    started with SIGINT ignored (a job a script put in the background), as train's and
    compare's own handlers hear it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _quiet_optuna(optuna):
    """Optuna's own lines off while the block runs: rnnlab prints one line per trial, and
    a trial that fails (Ctrl-C, SIGTERM, an error) is told in one line, not Optuna's
    traceback of it."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _finish(out: Path, study, url: str, base: RunConfig, series: pd.Series, space: dict,
            seconds: float, command: str, found_versions: dict) -> dict:
    """best.json, the best config retrained and scored on the test part, the figure."""
    frame = trials_frame(study)
    counts = frame["state"].value_counts().to_dict()
    n_complete = int(counts.get("COMPLETE", 0))
    best = _best_or_none(study)
    if best is None:
        raise RnnlabError(f"no trial of study {study.study_name!r} finished ({len(frame)} "
                          "trials, none complete); run more --trials or a longer --timeout")
    config = config_with(base, best.params)
    if config.model.seq_len is None:  # not searched: the window train would choose
        window = seq_len_for_split(series.to_numpy(np.float64), base.data.val_fraction,
                                   base.data.test_fraction)
        config = config_with(config, {"seq_len": window.seq_len, "recurrent_len": (
            config.model.recurrent_len or window.recurrent_len)})
    write_json(out / "best.json", {**config.to_dict(), "command": command,
                                   "versions": found_versions,
                                   "study": {"name": study.study_name, "storage": shown_url(url),
                                             "trial": best.number,
                                             "val_rmse": best.value}})
    # Retrained as `rnnlab train` would train it: the split of its own seq_len.
    split = split_sizes(len(series), config.model.seq_len, base.data.val_fraction,
                        base.data.test_fraction, name=str(series.name))
    forecaster = Forecaster.from_config(config.model, config.training, progress=False)
    result = backtest(series, forecaster, split)
    weights, note = importances(study, n_complete)
    atomic_write(out / "trials.csv", lambda fh: frame.to_csv(fh, index=False))
    naive = naive_val_rmse(series.to_numpy(np.float64)[: split.n_fit], split)
    metrics = {
        "status": "complete", "source": base.data.source, "series": str(series.name),
        "model": base.model.model, "study": study.study_name, "storage": shown_url(url),
        "objective": "validation RMSE in series units (best epoch), the test part unread",
        "n_trials": len(frame), "n_complete": n_complete,
        "n_pruned": int(counts.get("PRUNED", 0)),
        "n_failed": int(counts.get("FAIL", 0)), "seconds": round(seconds, 3),
        "search_space": {**{k: list(v) for k, v in space.items()},
                         "scaler": list(SCALER_CHOICES)},
        "best": {"trial": best.number, "val_rmse": best.value, "params": best.params,
                 "config": config.to_dict()},
        "naive_val_rmse": naive,
        "importance": weights, "importance_note": note,
        "test": result.metrics, "verdict": result.verdict.to_dict(),
        "n_train": split.n_train, "n_val": split.n_val, "n_test": split.n_test,
        "epochs_run": forecaster.history_.epochs_run, "scaler": forecaster.scaler_.kind,
    }
    write_json(out / "metrics.json", metrics)
    plot_tuning_history(frame, out / "history.png", naive=naive,
                        title=f"{series.name}: {base.model.model}, {len(frame)} trials")
    return metrics


def summary_lines(result: dict) -> list[str]:
    """What `rnnlab tune` prints: the study, the best trial, its test scores beside the
    baselines with the one-line reading, and the importances."""
    best, label = result["best"], f"{result['model']} (tuned)"
    params = ", ".join(f"{k} {_short(v)}" for k, v in best["params"].items())
    weights = result["importance"] or {}
    shown = ", ".join(f"{k} {v:.2f}" for k, v in weights.items())
    note = result["importance_note"]
    return [
        f"{result['series']}: {result['model']}, study {result['study']!r} holds "
        f"{result['n_trials']} trials ({result['n_complete']} finished, {result['n_pruned']} "
        f"pruned); this worker took {result['seconds']:.1f} s",
        f"best trial {best['trial']}: validation RMSE {best['val_rmse']:.4g} in series units "
        f"(naive {result['naive_val_rmse']:.4g}) with {params}",
        f"retrained on the first {result['n_train'] + result['n_val']} points, scored on the "
        f"last {result['n_test']}:",
        metrics_table(result["test"], label),
        versus_naive({**result["test"], "verdict": result["verdict"]}, label) + ".",
        "importance: " + (f"{shown} ({note})" if shown and note else shown or note),
    ]


# --- compare on a panel: per-series and global models in one table --------------------

# `--models lstm,lstm-global`: lstm is one network per series, lstm-global one over all.
GLOBAL_SUFFIX = "-global"


def is_panel_compare(models) -> bool:
    """Whether a compare asks for a global model (`NAME-global`)."""
    return any(str(m).strip().lower().endswith(GLOBAL_SUFFIX) for m in _names(models))


# Families of the pool a panel compare can name alone (each series its own Forecaster
# with that family only): the statistical side of "local, global and statistical".
STATISTICAL = ("naive", "seasonal_naive", "mean", "linear", "ets", "theta", "intermittent")


def compare_panel(folder, models=("lstm", "lstm-global"), seeds: int = 1,
                  out: str | None = None, progress: bool | None = None, command: str = "",
                  **overrides) -> pd.DataFrame:
    """Per-series and global models on the series of one folder of CSVs (or one long CSV
    with a ``Name`` column): one row per (series, model, seed), in compare's table.

    ``NAME`` (a network) fits one `Forecaster` per series (its pool, with a net of its own),
    ``NAME-global`` one `GlobalForecaster` over all of them (each series' pool with the net
    trained across them), a family of the pool (``ets``, ``theta``...) one `Forecaster`
    per series with that family alone. All see the same per-series split
    (`rnnlab.panel.split_panel`: common cut dates where the series share dates), are
    scored one step ahead on the same test targets, beside the same baselines. A global
    row's train time is its share (the one fit's time over the number of series), so
    totals over rows compare. With `out`, writes results.csv and summary.csv there.
    """
    names = [coerce("model", name, str).strip() for name in _names(models)]
    _refuse_repeats("model", names)
    for name in names:
        if name.lower() not in STATISTICAL:
            check_choice("model", name.lower().removesuffix(GLOBAL_SUFFIX))
    base = from_flat(overrides)
    if base.model.horizon > 1:
        raise ConfigError(f"compare with a global model scores one step ahead only for now "
                          f"(--horizon {base.model.horizon}); drop --horizon, or use "
                          "rnnlab train --global --horizon for multi-step scores")
    if out is not None:
        check_out(Path(out))
    data = base.data
    panel = load_panel(folder, target=data.target, date_column=data.date_column,
                       max_fill=data.max_fill, date_format=data.date_format)
    split = split_panel(panel, base.model.seq_len or 1, data.val_fraction, data.test_fraction)
    if not split.sizes:
        first = next(iter(split.skipped.values()))
        raise DataError(f"no series in '{folder}' is long enough to compare on ({first})")
    parts = {name: panel[name] for name in split.sizes}
    baselines = {name: _test_baselines(series, split.sizes[name])
                 for name, series in parts.items()}
    params = {**vars(base.model), **vars(base.training)}
    records = []
    for label in names:
        model = label.lower().removesuffix(GLOBAL_SUFFIX)
        for seed in seed_range(seeds, base.training.seed):
            settings = {**params, "model": model, "seed": seed}
            if model in STATISTICAL:  # one family of the pool alone, e.g. ets
                settings.update(model=base.model.model, candidates=model)
            if label.lower().endswith(GLOBAL_SUFFIX):
                started = time.perf_counter()
                fitted = fit_panel(GlobalForecaster(**settings, progress=progress), parts,
                                   split)
                share = (time.perf_counter() - started) / len(parts)
                predicted = fitted.predict_parts(parts, {n: s.n_fit
                                                         for n, s in split.sizes.items()})
                for name in parts:
                    records.append(_panel_record(name, label, seed, predicted[name],
                                                 baselines[name], share, fitted.history_))
                continue
            for name, series in parts.items():
                sizes = split.sizes[name]
                try:
                    started = time.perf_counter()
                    fitted = Forecaster(**settings, progress=progress)
                    fitted.fit(series.iloc[: sizes.n_fit], val_size=sizes.n_val)
                    seconds = time.perf_counter() - started
                    look_back = series.iloc[max(0, sizes.n_fit - fitted.min_history):]
                    predicted = fitted.predict(look_back).to_numpy()[-sizes.n_test:]
                    records.append(_panel_record(name, label, seed, predicted,
                                                 baselines[name], seconds, fitted.history_))
                except RnnlabError as exc:
                    records.append({"dataset": name, "model": label, "seed": seed,
                                    "status": "failed", "error": str(exc).splitlines()[0]})
    results = results_frame(records)
    summary = summarize(results, ["dataset", "model"], records=records)
    results.attrs["summary"] = summary
    results.attrs["skipped"] = split.skipped
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        atomic_write(Path(out) / "results.csv", lambda fh: results.to_csv(fh, index=False))
        atomic_write(Path(out) / "summary.csv", lambda fh: summary.to_csv(fh, index=False))
        write_json(Path(out) / "config.json", {"settings": {"kind": "compare-panel",
                                                            "data": str(folder),
                                                            "models": names, "seeds": seeds,
                                                            "config": base.to_dict()},
                                               "command": command, "versions": versions()})
    return results


def _test_baselines(series: pd.Series, sizes: Split) -> dict:
    """The test targets and each baseline's one-step predictions of them, fitted before."""
    fit_part = series.iloc[: sizes.n_fit]
    columns = {"actual": series.to_numpy(np.float64)[sizes.n_fit:]}
    for name, cls in BASELINES.items():
        columns[name] = cls().fit(fit_part).predict(series).to_numpy()[-sizes.n_test:]
    columns["fit_part"] = fit_part.to_numpy(np.float64)
    return columns


def _panel_record(name: str, label: str, seed: int, predicted: np.ndarray, columns: dict,
                  seconds: float, history) -> dict:
    """One compare row: the model's and each baseline's test scores, and the one rule's
    verdict, with the test predictions (what `summarize` pools over seeds)."""
    actual, fit_part = columns["actual"], columns["fit_part"]
    row = {"dataset": name, "model": label, "seed": seed, "status": "ok", "error": "",
           **score(actual, predicted, fit_part)}
    for baseline in BASELINES:
        row.update({f"{baseline}_{metric}": value for metric, value in
                    score(actual, columns[baseline], fit_part).items()})
    found = verdict(actual, predicted, {b: columns[b] for b in BASELINES})
    row.update(train_seconds=round(seconds, 3), epochs=history.epochs_run,
               best_epoch=history.best_epoch, outcome=found.outcome, against=found.against,
               p_value=found.p_value,
               predictions={"actual": actual.tolist(), "model": list(map(float, predicted)),
                            **{b: columns[b].tolist() for b in BASELINES}})
    return row


def panel_compare_lines(results: pd.DataFrame) -> list[str]:
    """Per model over the series: how many finished, the median RMSE ratio to naive, the
    share tying or beating the best baseline (the one rule, seeds pooled) and the total
    train time."""
    summary = results.attrs["summary"]
    models = summary[~summary["model"].isin(BASELINE_NAMES)]
    naive = summary[summary["model"] == "naive"].set_index("dataset")["rmse_mean"]
    lines = [f"{'model':<16} {'series':>6} {'median RMSE/naive':>18} "
             f"{'ties or beats best baseline':>28} {'train s':>8}"]
    for model, group in models.groupby("model", sort=False):
        ratio = group["rmse_mean"].to_numpy() / naive.loc[group["dataset"]].to_numpy()
        share = group["outcome"].isin(["win", "tie"]).mean() if "outcome" in group else math.nan
        seconds = results.loc[(results["model"] == model) & (results["status"] == "ok"),
                              "train_seconds"].sum()
        lines.append(f"{model:<16} {len(group):>6} {np.nanmedian(ratio):>18.4f} "
                     f"{100 * share:>27.0f}% {seconds:>8.1f}")
    failed = results[results["status"] != "ok"]
    if len(failed):
        lines.append(f"{len(failed)} run(s) failed: see the table's error column")
    return lines
