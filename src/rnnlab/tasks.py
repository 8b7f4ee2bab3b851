"""Many independent runs in worker processes: each finished run is written at once, runs
already finished are skipped, and a failed run is a record, never a crash.

    rnnlab compare --data sine,stock:A --models rnn,lstm,gru --seeds 3 --jobs 2 --out runs/c
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import logging
import math
import multiprocessing
import os
import pickle
import re
import signal
import socket
import sys
import threading
import time
import types
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .backtest import Backtest, baseline_predictions, check_horizon, score_fitted
from .checkpoint import checked_json_ok, read_json, write_checked_json
from .config import DEFAULT_SEQ_LEN, DataConfig, RunConfig
from .data import load_data
from .errors import ConfigError, RnnlabError
from .explain import memory_profile
from .features import load_inputs, target_of, with_market
from .forecaster import Forecaster, fit_seeds
from .runs import interruptible, series_fingerprint, with_seq_len
from .windows import split_sizes

# A task's seeds train in groups of at most this many (stacked, one worker call each). The
# groups depend on the task's own seeds only, never on the number of workers or on which
# runs an interrupted call left unfinished: a seed stacked with others is rounded
# differently (in the 8th digit) from the same seed trained alone or in another stack, so
# only a fixed grouping gives a resumed or a --jobs 1 compare the table of an uninterrupted
# --jobs 2 one. Four keeps most of stacking's saving and still spreads a task of many seeds
# over several workers.
MAX_STACK = 4
# A record holds a run's test predictions (about 100 bytes each) beside its scores: 2 GB
# is 20 million test points, beyond any series rnnlab trains on one machine.
MAX_RECORD_BYTES = 2 << 30


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
        with_market(config.data, config.model)
        series = load_inputs(config.data, config.model, load_data(config.data))
        name = str(target_of(series).name)
        # seq_len None: chosen on the training part
        config = with_seq_len(config, target_of(series))[0]
        split = split_sizes(len(series), config.model.seq_len, config.data.val_fraction,
                            config.data.test_fraction, name=name)
        check_horizon(config.model.horizon, split, name)
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
           "run_id": run_id(task.config, seed), "data_sha256": series_fingerprint(series)}
    for name, values in result.metrics.items():
        prefix = "" if name == "model" else f"{name}_"
        row.update({prefix + metric: value for metric, value in values.items()})
    row.update(train_seconds=round(history.seconds, 3), wall_seconds=round(seconds, 3),
               epochs=history.epochs_run, best_epoch=history.best_epoch,
               stopped=history.stopped, scaler_used=result.forecaster.scaler_.kind,
               seasonal_period=result.seasonal_period, n_test=result.split.n_test,
               seq_len_used=result.forecaster.seq_len,
               outcome=result.verdict.outcome, against=result.verdict.against,
               p_value=result.verdict.p_value)
    # The recurrent net's share of the forecast (0: the pool chose other candidates)
    table = getattr(result.forecaster, "candidates_", None) or []
    row["net_weight"] = float(sum(c["weight"] for c in table if c["family"] == "net"))
    steps = result.multi_step
    if steps is not None:
        model = steps["overall"]["model"]
        row["coverage"] = model.get("coverage", math.nan)
        if steps["horizon"] > 1:  # the scores over all steps, beside the one-step ones
            found = steps["verdict"]
            row.update(rmse_h=model["rmse"], mase_h=model["mase"], smape_h=model["smape"],
                       outcome_h=found["outcome"], against_h=found["against"],
                       ratio_h=found["ratio"])
            for name, scores in steps["overall"].items():
                if name != "model":
                    row.update({f"{name}_rmse_h": scores["rmse"],
                                f"{name}_mase_h": scores["mase"]})
            row["multi_step"] = steps
            row["path_losses"] = {k: v.tolist() for k, v in result.path_losses.items()}
    # With features `series` is the frame, and the profile holds each channel too.
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
              progress: bool | None = None,
              on_record: Callable[[dict], None] | None = None,
              backend: str = "local", address: str | None = None) -> dict[str, dict]:
    """Run tasks in worker processes; returns {run_id: record}.

    ``on_record`` is called with each run as it finishes (the demo reports its stages so).
    ``backend`` "ray" runs them as Ray tasks instead (`check_backend`); only the executor
    differs, so records, resume and failures are the same as with "local".

    Each finished run is written to `folder` at once, so a killed command loses only the
    runs in flight; runs already there are skipped unless their data changed since, and a
    run asked for twice (same configuration and seed) is trained once. The first Ctrl-C or
    SIGTERM starts no new run and lets those in flight finish; a second aborts at once.
    Workers die with this process, even when it is killed.
    """
    check_backend(backend, address)
    log = logging.getLogger("rnnlab")
    folder = Path(folder) if folder is not None else None
    records, stale = _finished_records(tasks, folder)
    if stale:
        log.info("%d finished run(s) in %s were trained on other data than there is now "
                 "(its SHA-256 differs): training them again", stale, folder)
    groups = _owned_groups(tasks)
    wanted = {rid for _, owned in groups for rid in owned}
    skipped = len(wanted & set(records))
    pending = [(group, owned) for group, owned in
               ((g, [rid for rid in owned if rid not in records]) for g, owned in groups)
               if owned]
    total = sum(len(owned) for _, owned in pending)
    if skipped:
        log.info("%d of %d runs already finished in %s: skipped", skipped, skipped + total,
                 folder)
    asked = jobs
    workers = jobs or os.cpu_count() or 1
    jobs = max(1, min(workers, len(pending) or 1))
    bar = tqdm(total=total, desc="runs", unit="run", disable=(not progress)
               if progress is not None else None, dynamic_ncols=True)
    done = 0

    def keep(new: list[dict], owned: list[str]) -> None:
        nonlocal done
        for record in new:
            if record["run_id"] not in owned:
                continue  # trained beside the seeds it belongs with; another group keeps it
            if folder is not None:
                write_checked_json(folder / f"{record['run_id']}.json", record)
            records[record["run_id"]] = record
            done += 1
            if on_record is not None:
                on_record(record)
        bar.update(len(owned))

    notice = "stopping: no new run starts, those in flight finish first"
    with interruptible(notice) as stop_requested:
        if backend == "ray":
            _run_ray(pending, asked, keep, stop_requested, address)
        elif jobs == 1:
            for group, owned in pending:
                if stop_requested():
                    break
                keep(execute(group), owned)
        else:
            _run_pool(pending, jobs, keep, stop_requested)
    bar.close()
    if stop_requested() and done < total:
        saved = (f"; the finished ones are saved in {folder}: run the same command again to "
                 "continue" if folder is not None else "")
        raise KeyboardInterrupt(f"stopped after {done} of {total} runs{saved}")
    return records


def _run_pool(pending: list[tuple[Task, list[str]]], jobs: int, keep, stop_requested) -> None:
    threads = max(1, (os.cpu_count() or 1) // jobs)
    # spawn, not fork: a forked copy of a process that already ran torch can hang.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                               initargs=(threads, os.getpid()))
    # Longest first, so one slow run does not finish alone at the end.
    queue = sorted(pending, key=lambda item: _cost(item[0]), reverse=True)
    futures = {}

    def submit_next() -> None:
        while queue:
            group, owned = queue.pop(0)
            try:
                # Workers start inside submit (spawn starts them on demand), so these two
                # settings apply to every one of them.
                with _worker_env(threads), _main_not_reimported():
                    futures[pool.submit(execute, group)] = (group, owned)
                return
            except BrokenProcessPool as exc:  # a worker died: the pool takes no more work
                keep([_failed(group, seed, exc) for seed in group.seeds], owned)

    try:
        # One task per worker at a time: the pool would queue more ahead where a stop
        # request could no longer withdraw them.
        for _ in range(min(jobs, len(queue))):
            submit_next()
        while futures:
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished:
                group, owned = futures.pop(future)
                try:
                    new = future.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its runs only
                    new = [_failed(group, seed, exc) for seed in group.seeds]
                keep(new, owned)
                if queue and not stop_requested():
                    submit_next()
    except BaseException:
        # Aborted (a second Ctrl-C): the runs in flight are lost, and so must be their workers.
        _kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _as_bytes(fn: Callable, item):
    """fn(item), pickled here in the worker: a result sent back as it is travels by torch's
    own reducers, which pass every tensor as an open file descriptor, and 100,000 series
    with a net each ran the main process out of descriptors ("received 0 items of
    ancdata")."""
    return pickle.dumps(fn(item), protocol=pickle.HIGHEST_PROTOCOL)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes at once: their work is abandoned."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()


def pool_map(fn: Callable, items: list, jobs: int | None = None):
    """`map(fn, items)` on `jobs` worker processes (default: the CPU cores), in order,
    with the pool's settings (spawned workers, one thread each where cores are shared,
    dying with this process). One worker or one item runs here instead."""
    items = list(items)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(items)))
    if jobs == 1:
        yield from map(fn, items)
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    with _worker_env(threads), _main_not_reimported():
        pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                                   initargs=(threads, os.getpid()))
        try:
            for result in pool.map(functools.partial(_as_bytes, fn), items):
                yield pickle.loads(result)
        except BaseException:
            _kill_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def ray_map(fn: Callable, items: list, jobs: int | None = None, address: str | None = None):
    """`pool_map`'s twin on Ray: `map(fn, items)` as Ray tasks of one CPU each, at most
    `jobs` in flight, results in order, on a local Ray instance (started and stopped here)
    or the cluster at `address`. `fn` must be importable on the workers (rnnlab's own)."""
    items = list(items)
    if not items:
        return
    ray, started_here = start_ray(address, jobs)
    remote, in_flight, threads = ray_remote(ray, _ray_call, jobs, len(items), address)
    refs: list = []
    done = 0  # results yielded, in order
    try:
        for item in items:
            refs.append(remote.remote(fn, item, threads))
            if len(refs) - done >= in_flight:  # `in_flight` running: wait for the oldest
                yield ray.get(refs[done])
                done += 1
        while done < len(refs):
            yield ray.get(refs[done])
            done += 1
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


def _ray_call(fn: Callable, item, threads: int):
    """`fn(item)` in a Ray worker, with a pool worker's torch thread count."""
    import torch  # heavy: loaded in the worker

    torch.set_num_threads(threads)
    return fn(item)


BACKENDS = ("local", "ray")
RAY_MISSING = "--backend ray needs Ray: pip install 'rnnlab[ray]'"


def check_backend(backend: str, address: str | None) -> None:
    """Refuse an unknown backend, an address without Ray, and Ray where it is not installed,
    before anything is trained or written."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}; "
                          "pass --backend local or --backend ray")
    if address is not None and backend != "ray":
        raise ConfigError(f"--address {address} is the address of a Ray cluster; add "
                          "--backend ray, or drop --address to use the local worker pool")
    if backend == "ray":
        _import_ray()
        if address is not None:
            _check_reachable(address)


def _check_reachable(address: str) -> None:
    """Refuse a HOST:PORT where nothing listens, in seconds: Ray itself would retry for
    minutes. "auto" (the cluster started on this machine) is left to Ray."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address!r} is not auto or HOST:PORT; pass the address "
                          "that `ray start --head` printed, e.g. 10.0.0.5:6379")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"nothing answers at --address {address} ({exc.strerror or exc}); "
                          "start a cluster there with `ray start --head`, or pass --address "
                          "auto on its head node") from None


def _import_ray():
    try:
        import ray  # optional and heavy: only for --backend ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def _run_ray(pending: list[tuple[Task, list[str]]], jobs: int | None, keep, stop_requested,
             address: str | None = None) -> None:
    """The executor for --backend ray: the pool's groups as Ray tasks, in the same order and
    as many in flight as the pool would run, on a local Ray instance or the cluster at
    `address`. Each task sets the thread counts a pool worker would have."""
    if not pending:
        return  # everything was finished before: no instance to start
    ray, started_here = start_ray(address, jobs)
    remote, in_flight, threads = ray_remote(ray, _ray_execute, jobs, len(pending), address)
    queue = sorted(pending, key=lambda item: _cost(item[0]), reverse=True)
    refs = {}

    def submit_next() -> None:
        group, owned = queue.pop(0)
        refs[remote.remote(group, threads)] = (group, owned)

    try:
        for _ in range(min(in_flight, len(queue))):
            submit_next()
        while refs:
            # A timeout, so a second Ctrl-C is seen within a second.
            finished, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            for ref in finished:
                group, owned = refs.pop(ref)
                try:
                    new = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its runs only
                    # A RayTaskError's first line names only the task: report its cause.
                    cause = getattr(exc, "cause", None)
                    cause = cause if isinstance(cause, Exception) else exc
                    new = [_failed(group, seed, cause) for seed in group.seeds]
                keep(new, owned)
                if queue and not stop_requested():
                    submit_next()
    except BaseException:
        for ref in refs:  # aborted: the runs in flight are lost
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


def start_ray(address: str | None, jobs: int | None):
    """Ray, started as `_start_ray` starts it unless it already runs, and whether this call
    started it (the caller then shuts it down)."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        _start_ray(ray, address, jobs)
    return ray, started_here


def ray_remote(ray, func: Callable, jobs: int | None, n_items: int, address: str | None):
    """`func` as a Ray task of one CPU, how many of them to keep in flight for `n_items`
    pieces of work, and the torch thread count each should set (its BLAS ones are set)."""
    cpus = int(ray.cluster_resources().get("CPU", 1)) if address is not None else (
        os.cpu_count() or 1)
    in_flight = max(1, min(jobs or cpus, n_items or 1))
    # As _run_pool: each worker's share of this machine's cores; a cluster's nodes differ,
    # so there each task takes one core, as Ray counts them.
    threads = 1 if address is not None else max(1, (os.cpu_count() or 1) // in_flight)
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    # max_retries=0: work whose worker died is a failure, as in the pool, never run twice.
    remote = ray.remote(func).options(
        num_cpus=1, max_retries=0,
        runtime_env={"env_vars": {name: str(threads) for name in names}})
    return remote, in_flight, threads


def _start_ray(ray, address: str | None, jobs: int | None) -> None:
    """A quiet local Ray instance with `jobs` CPUs (all of them by default), or a connection
    to the cluster at `address`; the caller's signal handlers are kept."""
    # Ray reports usage statistics over the network unless told not to; a library must not
    # do that on its user's behalf.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # This rnnlab travels with the job, so a cluster's nodes run the driver's code (they
    # need only its dependencies).
    options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                   runtime_env={"py_modules": [str(Path(__file__).parent)]})
    if address is None:
        # "local": a new instance, never one that `ray start` left running here.
        options.update(address="local", num_cpus=jobs or os.cpu_count() or 1)
    else:
        options.update(address=address)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray.init(**options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        if address is None:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot reach a Ray cluster at --address {address} ({message}); "
                          "start one with `ray start --head` and pass --address auto, or "
                          "its HOST:PORT") from None
    finally:
        # ray.init sets its own SIGTERM handler; the first SIGTERM must still stop gently.
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():
                signal.signal(sig, handler)


def _ray_execute(task: Task, threads: int) -> list[dict]:
    """`execute` in a Ray worker, with a pool worker's torch thread count."""
    import torch  # heavy: loaded in the worker

    torch.set_num_threads(threads)
    return execute(task)


def _finished_records(tasks: list[Task], folder: Path | None) -> tuple[dict[str, dict], int]:
    """The finished records in `folder`, and how many of these tasks' runs were left out
    because the data they were trained on differs from the data there now."""
    records: dict[str, dict] = {}
    if folder is None:
        return records, 0
    folder.mkdir(parents=True, exist_ok=True)
    data_of = {rid: _data_key(task) for task in tasks for rid in task.run_ids()}
    fingerprints: dict[str, str | None] = {}
    stale = 0
    unchecked = 0
    for path in folder.glob("*.json"):
        try:
            record = read_json(path, MAX_RECORD_BYTES)
        except (OSError, RnnlabError):
            continue  # a damaged record is simply run again
        if not isinstance(record, dict) or record.get("status") != "ok":
            continue
        if not checked_json_ok(record):  # edited (a forged rmse of 1e-9), or from before
            unchecked += 1
            continue
        record.pop("sha256")
        key = data_of.get(path.stem)
        if key is not None:
            if key not in fingerprints:
                fingerprints[key] = _fingerprint(key)
            if record.get("data_sha256") != fingerprints[key] or fingerprints[key] is None:
                stale += 1
                continue
        records[path.stem] = record
    if unchecked:
        logging.getLogger("rnnlab").info(
            "%d finished run record(s) in %s fail their checksum (edited, or written by an "
            "rnnlab from before records had one): training them again", unchecked, folder)
    return records, stale


def _data_key(task: Task) -> str:
    return json.dumps(task.config["data"], sort_keys=True, default=str)


def _fingerprint(data_key: str) -> str | None:
    """The SHA-256 of the series these data settings load now; None when it cannot load
    (its runs are then trained again, and fail with the reason)."""


    try:
        return series_fingerprint(load_data(DataConfig(**json.loads(data_key))))
    except Exception:  # noqa: BLE001 - the run reports it
        return None


def _owned_groups(tasks: list[Task]) -> list[tuple[Task, list[str]]]:
    """Each task cut into its fixed seed groups, with the run ids each group keeps.

    A run asked for by several tasks belongs to the first group that asks, so it always
    trains beside the same seeds; a group that keeps nothing is dropped.
    """
    groups, claimed = [], set()
    for task in tasks:
        for seeds in seed_groups(task.seeds):
            group = Task(task.config, seeds, task.labels)
            owned = [rid for rid in group.run_ids() if rid not in claimed]
            claimed.update(owned)
            if owned:
                groups.append((group, owned))
    return groups


def seed_groups(seeds: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The seeds cut into as few groups of at most MAX_STACK as possible, sizes within one
    of each other: 5 seeds give (0, 1, 2) and (3, 4)."""
    n_groups = max(1, -(-len(seeds) // MAX_STACK))
    size, extra = divmod(len(seeds), n_groups)
    groups, start = [], 0
    for i in range(n_groups):
        end = start + size + (1 if i < extra else 0)
        groups.append(tuple(seeds[start:end]))
        start = end
    return [g for g in groups if g]


def _cost(task: Task) -> float:
    model, training = task.config["model"], task.config["training"]
    seq_len = model["seq_len"] or DEFAULT_SEQ_LEN  # None: chosen later, usually near it
    return len(task.seeds) * seq_len * model["hidden_size"] ** 0.5 * (
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


@contextlib.contextmanager
def _main_not_reimported():
    """Start workers without re-running the caller's script in each of them.

    Spawn re-runs the main script in every worker so that objects pickled from it can be
    found there (multiprocessing.spawn.get_preparation_data reads ``sys.modules
    ["__main__"]`` as each worker starts). Workers here run rnnlab's own functions on plain
    dicts, so they need nothing from it; and a script without an ``if __name__ ==
    "__main__":`` guard, as the README's example saved to a file, would call compare again
    in each worker and break the pool. A bare stand-in, only while workers start, says
    there is no script to re-run; the caller's own module is left untouched.
    """

    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _worker_init(threads: int, parent: int) -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    import torch  # heavy: loaded in the worker, not in the parent's start-up

    torch.set_num_threads(threads)


def _die_with_parent(parent: int) -> None:
    """End this worker as soon as `parent` ends, even by SIGKILL: a worker holds hundreds of
    MB and, once orphaned, would wait for work forever. Linux kills it through
    PR_SET_PDEATHSIG; elsewhere, or if that is unavailable, a thread watches the parent."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it ended before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="rnnlab-parent-watch", daemon=True).start()
