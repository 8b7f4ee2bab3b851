"""The `rnnlab` command: a thin layer over the Python API, with one-line errors.

Every config option is generated from its field in `rnnlab.config` (name, type, default,
help). The commands import the modules they run inside their functions, so that
`rnnlab --help` loads neither numpy nor pandas nor torch.

    rnnlab train --data sine --out runs/sine
    rnnlab forecast --run runs/sine --horizon 10
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import logging
import os
import shlex
import signal
import sys
import time
import typing
from pathlib import Path

import click

from .config import (
    MODEL_NAMES,
    SECTIONS,
    DataConfig,
    RunConfig,
    build,
    check,
    param_names,
)
from .errors import ConfigError, RnnlabError

MODEL_LIST = ", ".join(MODEL_NAMES)

class Group(click.Group):
    """Turns rnnlab's own errors into one line and exit status 2, never a traceback."""

    def make_context(self, info_name, args, parent=None, **extra):
        ctx = super().make_context(info_name, list(args), parent=parent, **extra)
        ctx.meta["rnnlab.args"] = list(self._given)
        return ctx

    def main(self, args=None, *rest, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        self._given = list(args)
        # -q / --quiet belong to the group but read naturally after the command too.
        head = args[:args.index("--")] if "--" in args else args
        quiet = [a for a in head if a in ("-q", "--quiet")]
        args = quiet + [a for a in head if a not in quiet] + args[len(head):]
        if not kwargs.pop("standalone_mode", True):
            return super().main(args, *rest, standalone_mode=False, **kwargs)
        try:
            result = super().main(args, *rest, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            # One line, like rnnlab's own errors, instead of click's usage block.
            where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{where}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RnnlabError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:  # compare and sweep say what they saved
            if _OWN_PROCESS:
                # The process is ending: one more Ctrl-C or SIGTERM (a second press that
                # lands now) must not kill it mid-exit, with exit status -2 and no message.
                # (Not where the CLI runs inside another program: its handlers stay.)
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_IGN)
            click.echo(str(exc) or "interrupted", err=True)
            sys.exit(143 if isinstance(exc, Terminated) else 130)
        except BrokenPipeError:
            # The reader went away (rnnlab ... | head): stop quietly, as other tools do.
            sys.stderr.close()
            os._exit(0)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("RNNLAB_DEBUG"):
                raise
            if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and any(
                    words in str(exc) for words in ("can't allocate memory", "out of memory"))):
                # An allocation the machine (or a ulimit) refused: a size, not a bug.
                click.echo("error: ran out of memory; use a smaller --hidden-size, "
                           "--num-layers, --seq-len or --batch-size, or less data", err=True)
                sys.exit(2)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"error: internal error ({type(exc).__name__}: {message}); rerun with "
                       "RNNLAB_DEBUG=1 for the traceback and report it", err=True)
            sys.exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, as Ctrl-C raises KeyboardInterrupt: locks are
    let go, a folder made for nothing is removed, and one line says what happened."""


def _terminate(signum, frame):
    raise Terminated("stopped by SIGTERM")


def _click_type(hint):
    allowed = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    return {int: click.INT, float: click.FLOAT, str: click.STRING}.get(allowed[0], click.STRING)


def config_options(exclude: tuple[str, ...] = (), sections: tuple | None = None):
    """Add one option per config field, named, typed and explained after it, defaults shown."""
    chosen = tuple(SECTIONS.values()) if sections is None else sections
    return lambda func: _add_config_options(func, exclude, chosen)


def _add_config_options(func, exclude, sections):
    for section in reversed(sections):
        hints = typing.get_type_hints(section)
        for field in reversed(dataclasses.fields(section)):
            if field.name == "source" or field.name in exclude:
                continue
            flag = "--" + field.name.replace("_", "-")
            text = field.metadata["help"]
            if hints[field.name] is bool:
                decl = f"{flag}/--no-{flag[2:]}"
                func = click.option(decl, field.name, default=None, help=text
                                    + f"  [default: {'on' if field.default else 'off'}]")(func)
            else:
                shown = f"  [default: {field.default}]" if field.default is not None else ""
                func = click.option(flag, field.name, type=_click_type(hints[field.name]),
                                    default=None, help=text + shown)(func)
    return func


def run_config(data: str, options: dict) -> RunConfig:
    """Options given on the command line, over the dataclass defaults."""
    parts = {}
    for name, section in SECTIONS.items():
        names = {f.name for f in dataclasses.fields(section)}
        given = {k: v for k, v in options.items() if k in names and v is not None}
        if name == "data":
            given["source"] = data
        parts[name] = build(section, given)
    return RunConfig(**parts)


def command_line() -> str:
    """The command as typed, for config.json (the arguments click was given)."""
    args = click.get_current_context().find_root().meta.get("rnnlab.args", sys.argv[1:])
    return " ".join(["rnnlab", *(shlex.quote(a) for a in args)])


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("note: %(message)s"))
    log = logging.getLogger("rnnlab")
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"],
                                          "max_content_width": 100})
@click.version_option(package_name="rnnlab")
@click.option("--quiet", "-q", is_flag=True, help="print only results and errors")
@click.pass_context
def cli(ctx, quiet):
    """Train, evaluate and forecast RNN / LSTM / GRU models, always beside naive baselines.

    SOURCE is a built-in series (sine, noise, complex, random_walk, drop, delay), a real
    series from statsmodels (sunspots, co2, elnino, nile), stock:TICKER for a bundled
    ticker (A, AAPL, AMZN, GOOG, MSFT), or the path of a CSV.
    """
    ctx.obj = {"quiet": quiet}
    _setup_logging(quiet)


def _backend_options(what: str):
    """--backend (`what` is its help) and --address, as compare, sweep and tune share them."""
    def add(func):
        func = click.option("--address", default=None, metavar="ADDR",
                            help="with --backend ray: a running Ray cluster, 'auto' or "
                            "HOST:PORT (ray start --head)  [default: a local Ray instance]")(func)
        return click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
                            show_default=True, help=what)(func)
    return add


@cli.command()
@click.option("--data", "data", default=None, metavar="SOURCE",
              help="what to train on (not needed with --resume)")
@config_options()
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="run directory to create")
@click.option("--resume", is_flag=True, help="continue an interrupted run in --out")
@click.option("--overwrite", is_flag=True, help="replace an existing run in --out")
@click.option("--progress/--no-progress", default=None,
              help="show a progress bar [default: only on a terminal]")
@click.option("--global", "global_model", is_flag=True,
              help="--data is a panel of many series (a folder of CSVs, one long CSV with "
              "--id-column, or one CSV of dates and a column per series): each series gets "
              "its own pool, with a recurrent net trained across all of them")
@click.option("--id-column", default=None, help="the series-id column of one long CSV of a "
              "panel  [default: Name]")
@click.option("--ensemble", default=3, show_default=True, type=click.IntRange(1, 100),
              help="with a panel: the seeds of the global net whose median forecasts")
@click.option("--jobs", default=None, type=click.IntRange(1, 1024),
              help="with a panel: worker processes fitting the series' pools [default: the "
              "CPU cores]")
@_backend_options("with a panel: fit the series' pools in local worker processes, or as "
                  "Ray tasks")
@click.pass_context
def train(ctx, data, out, resume, overwrite, progress, global_model, id_column, ensemble,
          jobs, backend, address, **options):
    """Train one model and score it on the test part beside the baselines.

    Writes config.json, metrics.json, model.pt, predictions.csv and PNG plots into --out.
    Ctrl-C stops after the current epoch and keeps the best weights; --resume continues.
    """
    if global_model or id_column is not None or _is_folder(data):
        _train_global(ctx, data, out, resume, overwrite, progress, id_column, ensemble,
                      jobs, options, backend, address)
        return
    if backend != "local" or address is not None:
        raise click.UsageError("--backend and --address are for a panel (many series); "
                               "one series trains here")
    from .report import (
        choice_lines,
        coverage_words,
        horizon_reading,
        horizon_table,
        metrics_table,
        versus_naive,
    )
    from .runs import check_resume_options, run_train

    if resume:
        check_resume_options(out, data, options)  # it continues with the saved settings
        config = None
    elif data is None:
        raise click.UsageError("Missing option '--data'.")
    else:
        config = run_config(data, options)
    if ctx.obj["quiet"] and progress is None:
        progress = False
    metrics = run_train(config, out, command_line(), resume=resume, overwrite=overwrite,
                        progress=progress)
    if metrics.get("message"):
        click.echo(f"warning: {metrics['message']}", err=True)
    if metrics["status"] != "complete":
        click.echo(f"stopped: {metrics['reason']}", err=True)
        sys.exit(130)
    label = metrics["model"]
    click.echo(f"{metrics['series']}: {label} on the last {metrics['n_test']} points "
               f"(trained on {metrics['n_train']}, validated on {metrics['n_val']}; "
               f"{metrics['epochs_run']} epochs, {metrics['train_seconds']:.2f} s, "
               f"scaler {metrics['scaler']})")
    if metrics.get("window"):
        click.echo(metrics["window"])
    click.echo(metrics_table(metrics["test"], label))
    click.echo(versus_naive({**metrics["test"], "verdict": metrics["verdict"]}, label) + ".")
    if metrics.get("candidates"):
        click.echo("\n".join(choice_lines(metrics["candidates"])))
    steps = metrics.get("multi_step")
    if steps and steps["horizon"] > 1:
        click.echo(horizon_table(steps, label))
        click.echo(horizon_reading(steps, label))
    elif steps and steps["interval"]:
        level, covered = steps["interval"], steps["overall"]["model"]["coverage"]
        click.echo(f"The {100 * level:.0f}% interval covered {100 * covered:.0f}% of the test "
                   f"values: {coverage_words(covered, level)}.")
    if metrics.get("far_outside"):
        click.echo("warning: some test forecasts leave the training range by more than its "
                   "span: treat them as extrapolations", err=True)
    files = sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
    click.echo(f"wrote {out}/: {' '.join(files)}")


def _train_global(ctx, data, out, resume, overwrite, progress, id_column, ensemble,
                  jobs, options, backend="local", address=None):
    """`train` on a panel: each series' pool with the global net (rnnlab.runs.run_global)."""
    # Before numpy loads: the seasonal period is found per series by small regressions,
    # 2.2 s each under OpenBLAS's own threads on a busy 2-core machine, 0.09 s on one.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .runs import global_summary_lines, run_global
    from .tasks import pool_map, ray_map

    if resume:
        raise click.UsageError("--resume does not work with a panel yet; train again")
    if data is None:
        raise click.UsageError("Missing option '--data'.")
    config = run_config(data, options)
    if ctx.obj["quiet"] and progress is None:
        progress = False
    metrics = run_global(config, out, command_line(), id_column=id_column,
                         ensemble=ensemble, overwrite=overwrite, progress=progress,
                         mapper=functools.partial(ray_map, jobs=jobs, address=address)
                         if backend == "ray" else functools.partial(pool_map, jobs=jobs))
    if metrics.get("message"):
        click.echo(f"warning: {metrics['message']}", err=True)
    for line in global_summary_lines(metrics, out):
        click.echo(line)


@cli.command()
@click.option("--run", "run_dir", default=None, type=click.Path(file_okay=False),
              help="run directory written by rnnlab train (not needed with --model pretrained)")
@click.option("--data", "data", default=None, metavar="SOURCE",
              help="forecast after this series instead of the training data")
@click.option("--horizon", default=10, show_default=True, type=click.IntRange(1, 100000),
              help="how many steps ahead")
@click.option("--id", "series_id", default=None, help="the series of a global run")
@click.option("--model", default=None, metavar="pretrained",
              help="without --run: pretrained, the net shipped inside rnnlab forecasts --data "
              "as it is, with no training")
def forecast(run_dir, data, horizon, series_id, model):
    """Print the next --horizon values after the data, with their dates.

    lower and upper bound the run's interval (--interval, 80% by default), calibrated on
    its validation part for the steps the run was scored at (--horizon of train); further
    out it widens as the square root of the step. With --model pretrained and no --run,
    the shipped net forecasts --data with no training; its interval is calibrated on the
    series' own rolling origins.
    """
    from .runs import forecast_global, forecast_run, is_global_run

    if run_dir is None or model is not None:
        if model is None:
            raise click.UsageError("Missing option '--run' (or --model pretrained with --data "
                                   "for a forecast with no training).")
        if model.strip().lower() != "pretrained" or run_dir is not None or data is None:
            raise click.UsageError(f"--model {model} forecasts without a run: --model "
                                   "pretrained --data SOURCE, and no --run")
        from .runs import forecast_pretrained

        click.echo(forecast_pretrained(data, horizon).to_string(index=False))
        return
    if series_id is not None or is_global_run(run_dir):
        if data is not None:
            raise click.UsageError("--data does not work with a global run's --id yet")
        frame = forecast_global(run_dir, series_id, horizon)
    else:
        frame = forecast_run(run_dir, data, horizon)
    click.echo(frame.to_string(index=False))


@cli.command("backtest")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False),
              help="run directory written by rnnlab train")
@click.option("--horizon", default=None, type=click.IntRange(1, 100000),
              help="steps ahead to score  [default: the run's --horizon]")
@click.option("--json", "as_json", is_flag=True, help="print the scores as JSON")
def backtest_command(run_dir, horizon, as_json):
    """Score a trained run H steps ahead from every origin of its test part.

    The model is not retrained: each origin's forecast uses only the values before it,
    beside naive, seasonal naive and the training mean on the same origins and targets.
    """
    from .report import horizon_reading, horizon_table
    from .runs import backtest_global, backtest_run, is_global_run, read_run_file

    if is_global_run(run_dir):  # a panel: every series, aggregated
        steps = backtest_global(run_dir, horizon)
        if as_json:
            click.echo(json.dumps(steps, indent=1, default=str))
            return
        m4 = steps["m4"]
        click.echo(f"{steps['n_series']} series, {steps['horizon']} steps ahead from "
                   f"{steps['origins']} test origins: mean sMAPE "
                   f"{m4['model']['smape']['mean']:.3f} (Naive2 "
                   f"{m4['naive2']['smape']['mean']:.3f}), mean MASE "
                   f"{m4['model']['mase']['mean']:.3f} (Naive2 "
                   f"{m4['naive2']['mase']['mean']:.3f}), OWA {m4['owa']:.3f}")
        return
    steps = backtest_run(run_dir, horizon)
    if as_json:
        click.echo(json.dumps(steps, indent=1))
        return
    name = read_run_file(run_dir)["model"].get("model", "model")
    click.echo(horizon_table(steps, name))
    click.echo(horizon_reading(steps, name))


def _overrides(options: dict) -> dict:
    return {k: v for k, v in options.items() if v is not None}


def _lab_options(func):
    func = _backend_options("run the runs in local worker processes, or as Ray tasks")(func)
    func = click.option("--progress/--no-progress", default=None,
                        help="show a progress bar [default: only on a terminal]")(func)
    func = click.option("--jobs", type=click.IntRange(1), default=None,
                        help="parallel worker processes  [default: CPU cores]")(func)
    func = click.option("--out", required=True, type=click.Path(file_okay=False),
                        help="results folder; re-running into it resumes")(func)
    return click.option("--seeds", default=3, show_default=True, type=click.IntRange(1),
                        help="seeds per setting (seed, seed+1, ...)")(func)


def default_of(param: str):
    """The default value of a config parameter (None for an unknown name, and for seq_len,
    which is chosen per series: `rnnlab.report.setting_default`)."""
    section = param_names().get(param)
    return getattr(section(), param) if section is not None else None


def _print_summary(results, by: list[str], settings_kind: str, options: dict) -> None:
    from .experiment import summarize
    from .report import compare_reading, setting_default, sweep_reading

    summary = results.attrs.get("summary")
    if summary is None:
        summary = summarize(results, by)
    if summary.empty:
        click.echo("no run finished; see results.csv for the errors", err=True)
        sys.exit(1)
    columns = [*by, "runs", "rmse_mean", "rmse_std", "mase_mean"]
    # Scored many steps ahead: the scores over all H steps, their outcome, the coverage.
    # net_chosen: the share of runs whose forecast the pool took (partly) from the net
    columns += [c for c in ("rmse_h_mean", "mase_h_mean", "outcome_h", "coverage_mean",
                            "net_chosen") if c in summary]
    shown = summary[[*columns, "train_seconds_mean"]]
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))
    for dataset in summary["dataset"].unique():
        if settings_kind == "compare":
            click.echo("- " + compare_reading(summary, dataset))
            continue
        for param in [p for p in by if p not in ("dataset", "model")] or ["model"]:
            default = setting_default(param, dataset, options)
            click.echo("- " + sweep_reading(summary, dataset, param, default))
    failed = results[results["status"] != "ok"]
    if len(failed):
        click.echo(f"{len(failed)} run(s) failed: see the table's error column", err=True)


@cli.command()
@click.option("--data", required=True, metavar="SOURCE[,SOURCE...]",
              help="datasets, comma-separated")
@click.option("--models", default="rnn,lstm,gru", show_default=True,
              help=f"models, comma-separated: {MODEL_LIST}; with --data FOLDER, NAME-global "
              "is one NAME over all its series")
@_lab_options
@config_options(exclude=("model",))
def compare(data, models, seeds, out, jobs, progress, backend, address, **options):
    """Train every model on every dataset with several seeds, beside the baselines.

    Writes results.csv/json (one row per run), summary.csv/json (mean ± std), plots and
    report.html into --out. Runs already finished there are skipped.
    """
    from .experiment import compare as run_compare
    from .experiment import compare_panel, is_panel_compare, panel_compare_lines

    if is_panel_compare(models):  # NAME-global: one model over the series of a folder
        if backend != "local":
            raise click.UsageError("--backend ray does not work with a -global model yet")
        results = compare_panel(data, models, seeds, out, progress, command_line(),
                                **_overrides(options))
        for line in panel_compare_lines(results):
            click.echo(line)
        click.echo(f"wrote {out}/: results.csv summary.csv config.json")
        return
    results = run_compare(data, models, seeds, out, jobs, progress, command_line(),
                          backend=backend, address=address, **_overrides(options))
    _print_summary(results, ["dataset", "model"], "compare", options)
    click.echo(f"wrote {out}/: results.csv summary.csv report.html and plots")


@cli.command()
@click.option("--data", required=True, metavar="SOURCE[,SOURCE...]",
              help="datasets, comma-separated")
@click.option("--model", default="lstm", show_default=True, help=f"network: {MODEL_LIST}")
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=V1,V2,...",
              help="a parameter and its values; repeat for a grid (e.g. seq_len=10,30,100)")
@_lab_options
@config_options(exclude=("model",))
def sweep(data, model, params, seeds, out, jobs, progress, backend, address, **options):
    """Train one model over a grid of any config parameters and plot the metric against each.

    Example: rnnlab sweep --data stock:A --param seq_len=10,30,100 --seeds 3 --out runs/sw
    """
    from .experiment import sweep as run_sweep

    grid = {}
    for text in params:
        name, sep, values = text.partition("=")
        if not sep or not values.strip():
            raise ConfigError(f"--param {text!r} must look like NAME=V1,V2 (e.g. seq_len=10,30)")
        if name.strip() in grid:
            raise ConfigError(f"--param {name.strip()} is given twice ({name.strip()}="
                              f"{grid[name.strip()]} and {text}); give all its values in one "
                              f"--param {name.strip()}={grid[name.strip()]},{values}")
        grid[name.strip()] = values
    results = run_sweep(data, model, grid, seeds, out, jobs, progress, command_line(),
                        backend=backend, address=address, **_overrides(options))
    swept = [p for p in grid if p != "model"]
    _print_summary(results, ["dataset", *swept, "model"], "sweep", options)
    click.echo(f"wrote {out}/: results.csv summary.csv report.html and plots")


@cli.command()
@click.option("--data", "data", required=True, metavar="SOURCE", help="what to tune on")
@click.option("--model", default="lstm", show_default=True, help=f"network: {MODEL_LIST}")
@click.option("--trials", default=20, show_default=True, type=int,
              help="trials this worker runs (workers sharing --storage add theirs up)")
@click.option("--timeout", default=None, type=float,
              help="start no trial after this many seconds")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna database URL; workers given the same one share the study  "
              "[default: sqlite in --out/study.db]")
@click.option("--study-name", default=None,
              help="study to create or join  [default: 'MODEL on SOURCE']")
@click.option("--seed", default=None, type=int,
              help="seed of the sampler and of each trial's training  [default: random "
              "sampler, training seed 0]")
@click.option("--epochs", default=None, type=int,
              help=f"maximum epochs per trial  [default: {default_of('epochs')}]")
@config_options(sections=(DataConfig,))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="tune folder; re-running into it adds trials to its study")
@click.option("--jobs", type=click.IntRange(1), default=None,
              help="with --backend ray: Ray workers sharing the --trials  [default: CPU cores]")
@_backend_options("run the trials in this process, or as Ray tasks")
@click.pass_context
def tune(ctx, data, model, trials, timeout, storage, study_name, seed, epochs, out, jobs,
         backend, address, **options):
    """Search the settings with Optuna, then score the best on the test part.

    Searches seq_len, hidden_size, num_layers, lr, dropout, clipping and the scaler on the
    validation part, then scores the best config on the test part.

    Writes best.json (the best config), metrics.json, trials.csv, history.png and, without
    --storage, the study in study.db into --out. Needs: pip install 'rnnlab[tune]'.
    """
    from .experiment import import_optuna, run_tune, summary_lines

    import_optuna()  # the install hint comes before any other check
    config = run_config(data, {**options, "model": model, "epochs": epochs})
    echo = None if ctx.obj["quiet"] else (lambda line: click.echo(line, err=True))
    result = run_tune(config, out, trials, timeout=timeout, storage=storage,
                      study_name=study_name, seed=seed, command=command_line(), on_trial=echo,
                      backend=backend, address=address, jobs=jobs)
    for line in summary_lines(result):
        click.echo(line)
    files = sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
    click.echo(f"wrote {out}/: {' '.join(files)}")


@cli.command("inspect")
@click.option("--data", "data", required=True, metavar="SOURCE", help="what to inspect")
@config_options(sections=(DataConfig,), exclude=("val_fraction", "test_fraction", "market"))
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="folder for inspection.json, acf_pacf.png and periodogram.png")
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON")
def inspect_command(data, out, as_json, **options):
    """Is the series predictable? Tests, period, verdict, and train's window.

    Prints the statistical tests, the autocorrelation, the period, the verdict (one of
    white_noise, random_walk, trend, seasonal, stationary) and the window (seq_len) rnnlab
    train would use on it.
    """
    from .data import load_data
    from .diagnostics import inspect
    from .report import write_inspection
    from .windows import train_window

    given = {k: v for k, v in options.items() if v is not None}
    config = build(DataConfig, {**given, "source": data})
    check(config)  # the ranges train checks too: --data-seed -1 is refused, not a traceback
    # The same reading as `train`, without importing torch.
    series = load_data(config)
    inspection = inspect(series)
    window = train_window(series, config.val_fraction, config.test_fraction)
    if as_json:
        click.echo(json.dumps({**inspection.to_dict(), "train_seq_len": window.seq_len,
                               "train_window": window.reason}, indent=2))
    else:
        click.echo(inspection.report())
        click.echo(f"rnnlab train's default window: {window.reason}")
    if out is not None:
        names = write_inspection(inspection, out)
        click.echo(f"wrote {out}/: {' '.join(names)}", err=as_json)


@cli.command("explain")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False),
              help="run directory written by rnnlab train")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="folder for explain.json and plots  [default: the run directory]")
def explain_command(run_dir, out):
    """What the trained model remembers, where it fails, and whether it only lags.

    Prints the memory probe (input sensitivity per lag), the failure anatomy after the
    largest jumps of the test part, and the lag check; writes explain.json, memory.png
    and episodes.png.
    """
    from .runs import explain_global, explain_run, is_global_run

    if is_global_run(run_dir):  # a panel: the global net's memory, the families used
        result = explain_global(run_dir, out)
        click.echo(f"{result['series']} series, the global {result['model']} from {run_dir}")
        click.echo(f"memory: {result['memory_text']}")
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in result["families"].items())
        click.echo(f"the forecasts' weight by family, over the series: {shares}")
        click.echo(f"wrote {out or run_dir}/: {' '.join(result['files'])}")
        return
    result = explain_run(run_dir, out)
    inspection = result["inspection"]
    click.echo(f"{result['series']}: {result['model']} (scaler {result['scaler']}, linear "
               f"skip {'on' if result['linear_skip'] else 'off'}) from {run_dir}")
    click.echo(f"series: {inspection['verdict']}: {inspection['evidence']}")
    click.echo(f"memory: {result['memory']['text']}")
    for line in result["memory"].get("channel_lines", []):
        click.echo(f"  {line}")
    click.echo("failure anatomy:")
    for line in result["anatomy"]["lines"]:
        click.echo(f"  {line}")
    click.echo("lag check:")
    for line in result["lag_check"]["lines"]:
        click.echo(f"  {line}")
    click.echo(f"wrote {out or run_dir}/: {' '.join(result['files'])}")


@cli.command()
@click.option("--out", default="runs/demo", show_default=True,
              type=click.Path(file_okay=False), help="folder for the report and runs")
@click.option("--quick", is_flag=True, help="tiny settings: the same report in under a minute")
@click.option("--jobs", type=click.IntRange(1), default=None,
              help="parallel worker processes  [default: CPU cores]")
@click.option("--progress/--no-progress", default=None,
              help="show a progress bar [default: only on a terminal]")
def demo(out, quick, jobs, progress):
    """Run the whole study on the built-in and bundled data and write report.html.

    Re-running into the same --out reuses every finished run.
    """
    from .demo import run_demo

    started = time.perf_counter()
    path = run_demo(out, quick=quick, jobs=jobs, progress=progress, command=command_line())
    click.echo(f"wrote {path} in {time.perf_counter() - started:.0f} s; open it in a browser")


def _is_folder(data: str | None) -> bool:
    """Whether --data names a folder (a panel); a name the system cannot look at (over 255
    characters, say) is no folder, and loading it says why in one line."""
    try:
        return bool(data) and Path(data).is_dir()
    except OSError:
        return False


# Whether the CLI is the process (`main`, the `rnnlab` command), not a caller's library
_OWN_PROCESS = False


def main() -> None:
    global _OWN_PROCESS
    _OWN_PROCESS = True
    # By default SIGTERM ends the process at once, leaving a lock and a half-made folder;
    # commands that save work (train, compare, tune) install their own handler meanwhile.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli(prog_name="rnnlab")
    finally:
        # The exit's last garbage collection walks every object torch and friends made:
        # 0.5-0.9 s of a train's wall time. Nothing is left to collect by then.
        gc.freeze()


if __name__ == "__main__":
    main()
