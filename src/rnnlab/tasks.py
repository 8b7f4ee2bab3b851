"""Many independent runs in worker processes: each finished run is written at once, runs
already finished are skipped, and a failed run is a record, never a crash.

    rnnlab compare --data sine,stock:A --models rnn,lstm,gru --seeds 3 --jobs 2 --out runs/c
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .backtest import Backtest, baseline_predictions, score_fitted
from .checkpoint import write_json
from .config import RunConfig
from .data import load_data
from .explain import memory_profile
from .forecaster import Forecaster, fit_seeds
from .windows import split_sizes


@dataclass(frozen=True)
class Task:
    """Seeds of one (dataset, model, overrides) cell, trained in one worker call."""

    config: dict  # RunConfig.to_dict() with the cell's overrides applied
    seeds: tuple[int, ...]
    labels: dict  # what identifies the cell in the results: dataset, model, swept params

    def run_ids(self) -> list[str]:
        return [run_id(self.config, seed) for seed in self.seeds]


def run_id(config: dict, seed: int) -> str:
    """A file-safe name for one run, from everything that determines its result.

    Two stages asking for the same configuration and seed share one run, e.g.
    ``stock-A__lstm__seed0__3f9a12c4``.
    """
    settings = json.loads(json.dumps(config, sort_keys=True, default=str))
    settings["training"].pop("seed", None)
    settings["training"].pop("device", None)
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    source = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(config["data"]["source"]).split("/")[-1])
    return f"{source[:40]}__{config['model']['model']}__seed{seed}__{digest}"


def execute(task: Task, progress: bool | None = False) -> list[dict]:
    """Train every seed of one task; a failure becomes a record with its error.

    Several seeds train together in one loop (`rnnlab.forecaster.fit_seeds`), for a
    fraction of the cost of separate fits.
    """
    try:
        config = RunConfig.from_dict(task.config)
        series = load_data(config.data)
        split = split_sizes(len(series), config.model.seq_len, config.data.val_fraction,
                            config.data.test_fraction, name=str(series.name))
        baselines = baseline_predictions(series, split)
    except Exception as exc:  # noqa: BLE001 - reported per run, never fatal to the others
        return [_failed(task, seed, exc) for seed in task.seeds]
    template = Forecaster.from_config(config.model, config.training, progress)
    fit_part = series.iloc[: split.n_fit]
    if len(task.seeds) > 1:
        try:
            started = time.perf_counter()
            fitted = fit_seeds(template, fit_part, split.n_val, list(task.seeds))
            seconds = (time.perf_counter() - started) / len(task.seeds)
            return [_record(task, f.seed, score_fitted(series, f, split, baselines), seconds,
                            series) for f in fitted]
        except Exception as exc:  # noqa: BLE001
            return [_failed(task, seed, exc) for seed in task.seeds]
    records = []
    for seed in task.seeds:
        try:
            started = time.perf_counter()
            forecaster = Forecaster.from_config(config.model, config.training, progress)
            forecaster.seed = seed
            forecaster.fit(fit_part, val_size=split.n_val)
            result = score_fitted(series, forecaster, split, baselines)
            records.append(_record(task, seed, result, time.perf_counter() - started,
                                   series))
        except Exception as exc:  # noqa: BLE001
            records.append(_failed(task, seed, exc))
    return records


def _failed(task: Task, seed: int, exc: Exception) -> dict:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {**task.labels, "seed": seed, "status": "failed",
            "error": f"{type(exc).__name__}: {message}", "run_id": run_id(task.config, seed)}


def _record(task: Task, seed: int, result: Backtest, seconds: float, series) -> dict:
    history = result.forecaster.history_
    row = {**task.labels, "seed": seed, "status": "ok", "error": "",
           "run_id": run_id(task.config, seed)}
    for name, values in result.metrics.items():
        prefix = "" if name == "model" else f"{name}_"
        row.update({prefix + metric: value for metric, value in values.items()})
    row.update(train_seconds=round(history.seconds, 3), wall_seconds=round(seconds, 3),
               epochs=history.epochs_run, best_epoch=history.best_epoch,
               stopped=history.stopped, scaler_used=result.forecaster.scaler_.kind,
               seasonal_period=result.seasonal_period, n_test=result.split.n_test,
               outcome=result.verdict.outcome, against=result.verdict.against,
               p_value=result.verdict.p_value)
    profile = memory_profile(result.forecaster, series, result.split)
    row["effective_memory"] = profile.effective_memory
    row["memory"] = profile.to_dict()
    index = result.predictions.index
    row["predictions"] = {
        "index": [str(i) for i in index] if isinstance(index, pd.DatetimeIndex)
        else [float(i) for i in index],
        **{col: result.predictions[col].tolist() for col in result.predictions},
    }
    return row


def run_tasks(tasks: list[Task], folder: str | Path | None, jobs: int | None = None,
              progress: bool | None = None) -> dict[str, dict]:
    """Run tasks in worker processes; returns {run_id: record}.

    Each finished run is written to `folder` at once, so a killed command loses only the
    runs in flight; runs already there are skipped, and a run asked for twice (same
    configuration and seed) is trained once.
    """
    records: dict[str, dict] = {}
    folder = Path(folder) if folder is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a damaged record is simply run again
            if record.get("status") == "ok":
                records[path.stem] = record
    wanted = {rid for task in tasks for rid in task.run_ids()}
    skipped = len(wanted & set(records))
    pending, claimed = [], set()
    for task in tasks:
        seeds = tuple(seed for seed, rid in zip(task.seeds, task.run_ids(), strict=True)
                      if rid not in records and rid not in claimed)
        claimed.update(run_id(task.config, seed) for seed in seeds)
        if seeds:
            pending.append(Task(task.config, seeds, task.labels))
    total = sum(len(t.seeds) for t in pending)
    if skipped:
        logging.getLogger("rnnlab").info("%d of %d runs already finished in %s: skipped",
                                         skipped, skipped + total, folder)
    workers = jobs or os.cpu_count() or 1
    pending = _spread(pending, workers)
    jobs = max(1, min(workers, len(pending) or 1))
    bar = tqdm(total=total, desc="runs", unit="run", disable=(not progress)
               if progress is not None else None, dynamic_ncols=True)

    def keep(new: list[dict]) -> None:
        for record in new:
            if folder is not None:
                write_json(folder / f"{record['run_id']}.json", record)
            records[record["run_id"]] = record
        bar.update(len(new))

    if jobs == 1:
        for task in pending:
            keep(execute(task))
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        # spawn, not fork: a forked copy of a process that already ran torch can hang.
        context = multiprocessing.get_context("spawn")
        with _worker_env(threads), ProcessPoolExecutor(
                jobs, mp_context=context, initializer=_worker_init,
                initargs=(threads,)) as pool:
            # Longest first, so one slow run does not finish alone at the end.
            order = sorted(pending, key=_cost, reverse=True)
            futures = {pool.submit(execute, task): task for task in order}
            for future in as_completed(futures):
                try:
                    keep(future.result())
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its runs only
                    task = futures[future]
                    keep([_failed(task, seed, exc) for seed in task.seeds])
    bar.close()
    return records


def _spread(tasks: list[Task], workers: int) -> list[Task]:
    """Split the seeds of the largest tasks until every worker has one (e.g. 5 seeds of one
    model on 2 workers: 3 + 2), so no core idles while one task trains many seeds."""
    tasks = list(tasks)
    while len(tasks) < workers:
        big = max(tasks, key=lambda t: len(t.seeds), default=None)
        if big is None or len(big.seeds) < 2:
            break
        half = (len(big.seeds) + 1) // 2
        tasks.remove(big)
        tasks += [Task(big.config, big.seeds[:half], big.labels),
                  Task(big.config, big.seeds[half:], big.labels)]
    return tasks


def _cost(task: Task) -> float:
    model, training = task.config["model"], task.config["training"]
    return len(task.seeds) * model["seq_len"] * model["hidden_size"] ** 0.5 * (
        1 if model["linear_skip"] else 3) * (training["patience"] + 1)


def stage_records(tasks: list[Task], records: dict[str, dict]) -> list[dict]:
    """The records of these tasks, labelled as these tasks label them."""
    found = []
    for task in tasks:
        for seed, rid in zip(task.seeds, task.run_ids(), strict=True):
            if rid in records:
                found.append({**records[rid], **task.labels, "seed": seed})
    return found


@contextlib.contextmanager
def _worker_env(threads: int):
    """Spawned workers read BLAS thread counts from the environment at import: give each
    its share of the cores, or numpy (statsmodels' ADF) and torch oversubscribe them."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(threads) for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
