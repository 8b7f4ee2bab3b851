"""Experiments: honest train/test backtests, alone or many at a time (compare, sweep);
`rnnlab.tasks` runs the many in worker processes.

    rnnlab compare --data sine,stock:A --models rnn,lstm,gru --seeds 3 --out runs/cmp
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .baselines import BASELINES
from .config import DataConfig, ModelConfig, TrainConfig
from .errors import ConfigError
from .metrics import score
from .windows import Split


@dataclass
class Backtest:
    """One model scored on the test part, beside the baselines on the same targets."""

    predictions: pd.DataFrame  # index: dates of the test part; actual, model, baselines
    metrics: dict  # {"model": {...}, "naive": {...}, ...}
    forecaster: object
    split: Split
    seasonal_period: int | None


def load(data: DataConfig) -> pd.Series:
    from .data import load_series

    return load_series(data.source, target=data.target, ticker=data.ticker,
                       date_column=data.date_column, max_fill=data.max_fill,
                       seed=data.data_seed)


def make_forecaster(model: ModelConfig, training: TrainConfig, progress: bool | None = None):
    from .forecaster import Forecaster

    return Forecaster(**vars(model), **vars(training), progress=progress)


def backtest(series: pd.Series, forecaster, split: Split, **fit_kwargs) -> Backtest:
    """Fit on everything before the test part (its last `n_val` points for early stopping)
    and score one-step-ahead predictions on the test part against every baseline."""
    forecaster.fit(series.iloc[: split.n_fit], val_size=split.n_val, **fit_kwargs)
    return score_fitted(series, forecaster, split)


def baseline_predictions(series: pd.Series, split: Split) -> tuple[dict, int | None]:
    """Each baseline's test predictions, fitted on the part before the test, and the
    seasonal period found (None when no period stands out)."""
    fit_part = series.iloc[: split.n_fit]
    columns, period = {}, None
    for name, cls in BASELINES.items():
        baseline = cls().fit(fit_part)
        columns[name] = baseline.predict(series).iloc[-split.n_test:].to_numpy()
        if name == "seasonal_naive" and baseline.period_found_:
            period = baseline.period_
    return columns, period


def score_fitted(series: pd.Series, forecaster, split: Split,
                 baselines: tuple[dict, int | None] | None = None) -> Backtest:
    """Score a forecaster already fitted on the part before the test, beside the baselines."""
    columns, period = baselines or baseline_predictions(series, split)
    actual = series.iloc[split.n_fit:]
    # Only the test windows: their look-back starts seq_len rows before the test part.
    history = getattr(forecaster, "min_history", 1)
    model = forecaster.predict(series.iloc[max(0, split.n_fit - history):])
    model = model.iloc[-split.n_test:].to_numpy()
    predictions = pd.DataFrame({"actual": actual.to_numpy(), "model": model, **columns},
                               index=actual.index)
    fit_part = series.iloc[: split.n_fit]
    metrics = {name: score(predictions["actual"], predictions[name], fit_part)
               for name in predictions if name != "actual"}
    return Backtest(predictions, metrics, forecaster, split, period)


# --- many runs: compare and sweep ---------------------------------------------------

BASELINE_NAMES = tuple(BASELINES)


def results_frame(records: list[dict]) -> pd.DataFrame:
    """The tidy table: one row per run, predictions left out."""
    skip = ("predictions", "memory")
    frame = pd.DataFrame([{k: v for k, v in r.items() if k not in skip} for r in records])
    if frame.empty:
        return frame
    order = [c for c in ("dataset", "model") if c in frame] + [
        c for c in _param_columns(frame) if c not in ("dataset", "model", "seed")] + ["seed"]
    rest = [c for c in frame if c not in order]
    return frame[order + rest]


def _param_columns(frame: pd.DataFrame) -> list[str]:
    from .config import param_names

    return [c for c in frame if c in param_names()]


def summarize(results: pd.DataFrame, by: list[str], metrics=("rmse", "mae", "mase")
              ) -> pd.DataFrame:
    """Mean and std over seeds per cell, with the baselines as rows of the same table."""
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
        row["train_seconds_mean"] = group["train_seconds"].mean()
        row["epochs_mean"] = group["epochs"].mean()
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
                baseline_rows.append(row)
        summary = pd.concat([summary, pd.DataFrame(baseline_rows)], ignore_index=True)
        # Datasets in the order they were asked for, each one's baselines after its models.
        order = {name: i for i, name in enumerate(dict.fromkeys(ok["dataset"]))}
        summary = summary.sort_values("dataset", key=lambda c: c.map(order),
                                      kind="stable").reset_index(drop=True)
    return summary


def compare_tasks(datasets: list[str], models: list[str], seeds: int, base) -> list:
    """One task per dataset x model, each with `seeds` seeds from the base config's seed."""
    from .tasks import Task

    seed_list = tuple(base.training.seed + i for i in range(_positive("seeds", seeds)))
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
            **overrides) -> pd.DataFrame:
    """Train every model on every dataset with `seeds` seeds; one row per run.

    ``overrides`` are config parameters by name (``epochs=50``, ``seq_len=60`` ...). With
    `out`, writes results, a mean ± std summary beside the baselines, plots and
    report.html there, and skips runs finished by an earlier call.

    Examples
    --------
    >>> table = compare("sine", models=["rnn", "gru"], seeds=2, epochs=2)  # doctest: +SKIP
    >>> table[["dataset", "model", "seed", "rmse", "naive_rmse"]]  # doctest: +SKIP
    """
    datasets, models = _names(data), _names(models)
    _refuse_repeats("dataset", datasets)
    _refuse_repeats("model", models)
    base = base_config(overrides)
    _check_models(models)
    _check_sources(base, datasets)
    tasks = compare_tasks(datasets, models, seeds, base)
    settings = {"kind": "compare", "datasets": datasets, "models": models, "seeds": seeds,
                "config": base.to_dict()}
    return _run_and_write(tasks, settings, out, jobs, progress, command, by=["dataset", "model"])


def sweep_grid(params: dict) -> dict[str, list]:
    """Check sweep parameter names (listing the valid ones) and convert their values."""
    from .config import coerce, param_names

    if not params:
        raise ConfigError("sweep needs at least one --param NAME=V1,V2,...")
    valid = param_names()
    grid = {}
    for name, values in params.items():
        if name not in valid:
            raise ConfigError(f"unknown parameter {name!r} to sweep; valid names are "
                              f"{', '.join(sorted(valid))}")
        hint = typing.get_type_hints(valid[name])[name]
        grid[name] = [coerce(name, v, hint) for v in _names(values)]
    return grid


def sweep_tasks(datasets: list[str], model: str, grid: dict[str, list], seeds: int,
                overrides: dict) -> list:
    """One task per dataset x grid point."""
    import itertools

    from .tasks import Task

    base = base_config({**overrides, "model": model})
    seed_list = tuple(base.training.seed + i for i in range(_positive("seeds", seeds)))
    tasks = []
    for dataset in datasets:
        for combo in itertools.product(*grid.values()):
            values = dict(zip(grid, combo, strict=True))
            config = base_config({**overrides, "model": model, **values}).to_dict()
            config["data"]["source"] = dataset
            labels = {"dataset": dataset, "model": values.get("model", model), **values}
            tasks.append(Task(config, seed_list, labels))
    return tasks


def sweep(data, model: str = "lstm", params: dict | None = None, seeds: int = 1,
          out: str | None = None, jobs: int | None = None, progress: bool | None = None,
          command: str = "", **overrides) -> pd.DataFrame:
    """Train `model` over the grid of `params` ({name: [values]}) on each dataset.

    Any data, model or training parameter can be swept by its config name; a typo is
    refused with the valid names listed.

    Examples
    --------
    >>> sweep("sine", "lstm", {"seq_len": [10, 30, 100]}, epochs=2)  # doctest: +SKIP
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
    base = base_config({**overrides, "model": model})
    _check_models(grid.get("model", [model]))
    _check_sources(base, datasets)
    tasks = sweep_tasks(datasets, model, grid, seeds, overrides)
    settings = {"kind": "sweep", "datasets": datasets, "model": model, "grid": grid,
                "seeds": seeds, "config": base.to_dict()}
    by = ["dataset", *[p for p in grid if p != "model"], "model"]
    return _run_and_write(tasks, settings, out, jobs, progress, command, by=by)


def base_config(overrides: dict):
    """A RunConfig from flat parameter names (``seq_len=10``), refusing unknown names."""
    from .config import RunConfig, param_names

    valid = param_names()
    sections: dict[str, dict] = {"data": {}, "model": {}, "training": {}}
    section_of = {DataConfig: "data", ModelConfig: "model", TrainConfig: "training"}
    for name, value in overrides.items():
        if name not in valid:
            raise ConfigError(f"unknown parameter {name!r}; valid names are "
                              f"{', '.join(sorted(valid))}")
        sections[section_of[valid[name]]][name] = value
    return RunConfig.from_dict(sections)


def check_settings(config) -> None:
    """Refuse bad names and values of a RunConfig by name, before any run starts."""
    from .models import build_model
    from .train import check_config, resolve_device
    from .windows import SCALERS

    model = config.model
    if model.scaler not in SCALERS:
        raise ConfigError(f"unknown scaler {model.scaler!r}; valid scalers are "
                          f"{', '.join(SCALERS)}")
    if model.seq_len < 1:
        raise ConfigError(f"seq_len must be at least 1, got {model.seq_len}")
    build_model(model.model, model.seq_len, 1, model.hidden_size, model.num_layers,
                model.dropout, model.linear_skip)
    check_config(config.training)
    resolve_device(config.training.device)
    for name in ("val_fraction", "test_fraction"):
        value = getattr(config.data, name)
        if not 0 <= value < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {value}")


def _names(value) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _positive(name: str, value: int) -> int:
    if int(value) < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return int(value)


def _check_models(models) -> None:
    from .models import MODELS

    for model in models:
        if model not in MODELS:
            raise ConfigError(f"unknown model {model!r}; valid models are {', '.join(MODELS)}")


def _check_sources(base, datasets) -> None:
    """Fail fast on a source that cannot load at all (typo, missing file)."""
    import dataclasses

    if not datasets:
        raise ConfigError("no dataset given; pass --data SOURCE[,SOURCE...]")
    for dataset in datasets:
        load(dataclasses.replace(base.data, source=dataset))


def _run_and_write(tasks, settings, out, jobs, progress, command, by) -> pd.DataFrame:
    from .config import RunConfig

    for task in tasks:
        check_settings(RunConfig.from_dict(task.config))
    _refuse_same_runs(tasks)
    if out is not None:
        _prepare_lab_dir(Path(out), settings, command)
    folder = Path(out) / "runs" if out is not None else None
    from .tasks import run_tasks, stage_records

    records = stage_records(tasks, run_tasks(tasks, folder, jobs, progress))
    results = results_frame(records)
    if out is not None:
        from .report import write_lab_outputs

        write_lab_outputs(Path(out), settings, records, results, summarize(results, by), by)
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
    import json

    from .checkpoint import write_json

    saved = out / "config.json"
    if saved.exists():
        try:
            previous = json.loads(saved.read_text()).get("settings")
        except (OSError, ValueError):
            previous = None
        if previous is not None and json.loads(json.dumps(previous)) != json.loads(
                json.dumps(settings, default=str)):
            raise ConfigError(
                f"'{out}' holds results of other settings; use another --out (re-running "
                "the same command there resumes it)"
            )
    elif out.exists() and any(p.name != "runs" for p in out.iterdir()):
        raise ConfigError(f"'{out}' exists and is not an rnnlab results folder; "
                          "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    from .runs import versions

    write_json(saved, {"settings": settings, "command": command, "versions": versions()})
