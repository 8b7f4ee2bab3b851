"""Experiments: many honest backtests at a time, compare and sweep; `rnnlab.tasks` runs
them in worker processes and `rnnlab.report` writes their tables, plots and report.html.

    rnnlab compare --data sine,stock:A --models rnn,lstm,gru --seeds 3 --out runs/cmp
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import typing
from pathlib import Path

import numpy as np
import pandas as pd

from .baselines import BASELINES
from .checkpoint import write_json
from .config import MAX_SEED, RunConfig, check_choice, coerce, from_flat, param_names
from .data import load_data
from .errors import ConfigError
from .folders import check_out, claim, locked, remove_temps
from .metrics import verdict_of_losses
from .report import write_lab_outputs
from .runs import versions
from .tasks import Task, check_backend, run_tasks, stage_records

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
        row["epochs_mean"] = group["epochs"].mean()
        if "rmse_h" in group:  # scored many steps ahead too
            for metric in ("rmse_h", "mase_h", "coverage"):
                row[f"{metric}_mean"] = group[metric].mean()
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
    found = verdict_of_losses(model, {name: np.asarray(v) for name, v in losses[0].items()
                                      if name != "model"})
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
            raise ConfigError(f"unknown parameter {name!r} to sweep; valid names are "
                              f"{', '.join(sorted(valid))}")
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
    for dataset in datasets:
        load_data(dataclasses.replace(base.data, source=dataset))


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
