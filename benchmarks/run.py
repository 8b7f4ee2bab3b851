"""rnnlab's speed suite: one command, one table.

Three sections, each figure a median over repeated runs in one warm process:
- defaults: fit time, predict time and test RMSE of `rnnlab train`'s defaults on sine,
  complex and stock:A (the naive RMSE beside), with the one-off import costs apart;
- start-up: `rnnlab --help` and `rnnlab forecast` from process start to printed output;
- throughput: training windows/s and peak memory of rnnlab's loop beside a raw PyTorch
  loop on the same tensors (benchmarks/throughput.py), as a fraction of it.

    make bench                                   # = .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --repeats 1 --sizes 32x30 --models lstm  # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = ("sine", "complex", "stock:A")


def row(section: str, case: str, figure: str, rnnlab, raw=None, fraction=None) -> dict:
    return {"section": section, "case": case, "figure": figure, "rnnlab": rnnlab,
            "raw torch": raw, "rnnlab/raw": fraction}


def defaults(tasks: list[str], models: list[str], repeats: int) -> list[dict]:
    """`rnnlab train`'s defaults as `backtest` runs them: fit, predict all windows, score."""
    started = time.perf_counter()
    import torch  # noqa: F401  (timed here so that no fit below pays for it)

    rows = [row("defaults", "one-off", "import torch s", time.perf_counter() - started)]
    from rnnlab.backtest import backtest
    from rnnlab.config import DataConfig, ModelConfig, TrainConfig
    from rnnlab.data import load_data
    from rnnlab.forecaster import Forecaster
    from rnnlab.windows import split_sizes

    first = True
    for task in tasks:
        series = load_data(DataConfig(source=task))
        split = split_sizes(len(series), ModelConfig.seq_len, DataConfig.val_fraction,
                            DataConfig.test_fraction)
        for model in models:
            runs = []
            for _ in range(repeats + first):
                forecaster = Forecaster.from_config(ModelConfig(model=model), TrainConfig(),
                                                 progress=False)
                timed = TimedFit(forecaster)
                result = backtest(series, timed, split)
                runs.append((timed.fit_s, timed.predict_s, result.metrics["model"]["rmse"],
                             result.metrics["naive"]["rmse"], forecaster.epochs_run_))
                if first:
                    # The first optimizer imports torch._dynamo and the first ADF test
                    # statsmodels: paid once per process, so kept out of the medians.
                    rows.append(row("defaults", "one-off", f"first fit s ({task} {model})",
                                    timed.fit_s))
                    runs.pop()
                    first = False
            fit_s, predict_s, rmse, naive, epochs = (statistics.median(v) for v in zip(*runs,
                                                                                       strict=True))
            case = f"{task} {model}"
            rows += [row("defaults", case, "fit s", fit_s),
                     row("defaults", case, "predict s", predict_s),
                     row("defaults", case, "test rmse", rmse),
                     row("defaults", case, "naive rmse", naive),
                     row("defaults", case, "epochs", epochs)]
            print(f"defaults {case}: fit {fit_s:.2f} s, predict {predict_s:.3f} s, "
                  f"rmse {rmse:.4g} (naive {naive:.4g}), {epochs:g} epochs", flush=True)
    return rows


class TimedFit:
    """A forecaster wrapper that times `fit` and `predict` inside `backtest`."""

    def __init__(self, forecaster):
        self.forecaster = forecaster
        self.fit_s = self.predict_s = 0.0

    def __getattr__(self, name):  # everything else (min_history, model_, ...) as is
        return getattr(self.forecaster, name)

    def fit(self, *args, **kwargs):
        started = time.perf_counter()
        self.forecaster.fit(*args, **kwargs)
        self.fit_s = time.perf_counter() - started
        return self

    def predict(self, series):
        started = time.perf_counter()
        predicted = self.forecaster.predict(series)
        self.predict_s = time.perf_counter() - started
        return predicted


def process_seconds(command: list[str], repeats: int) -> tuple[float, float]:
    """Median wall time of a fresh process, start to exit (output discarded), and median
    CPU time (user + system): on a busy machine the CPU time is what an idle one's wall
    time would be, for a process that runs one thread."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def startup(repeats: int) -> list[dict]:
    from rnnlab.config import DataConfig, RunConfig
    from rnnlab.runs import run_train

    script = Path(sys.executable).with_name("rnnlab")
    rnnlab = [str(script)] if script.exists() else [sys.executable, "-m", "rnnlab.cli"]
    rows = []
    commands = [("python -c 'import torch'", [sys.executable, "-c", "import torch"]),
                ("rnnlab --help", rnnlab + ["--help"])]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_train(RunConfig(data=DataConfig(source="stock:A")), run_dir, progress=False,
                  plots=False)
        commands.append(("rnnlab forecast --horizon 10",
                         rnnlab + ["forecast", "--run", str(run_dir), "--horizon", "10"]))
        for label, command in commands:
            wall, cpu = process_seconds(command, repeats)
            rows += [row("start-up", label, "wall s", wall), row("start-up", label, "cpu s", cpu)]
            print(f"start-up {label}: {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)
    return rows


def throughput(models: list[str], sizes: list[tuple[int, int]], repeats: int) -> list[dict]:
    from throughput import measure, warm_up

    warm_up()
    rows = []
    for hidden_size, seq_len in sizes:
        for model in models:
            c = measure(model, hidden_size, seq_len, repeats)
            case = f"{model} h{hidden_size} L{seq_len}"
            rows += [row("throughput", case, "windows/s", c.rnnlab_wps, c.raw_wps, c.ratio),
                     row("throughput", case, "peak MiB", c.rnnlab_peak_mib, c.raw_peak_mib,
                         c.rnnlab_peak_mib / c.raw_peak_mib if c.raw_peak_mib else None)]
            print(f"throughput {case}: {c.rnnlab_wps:.0f} vs {c.raw_wps:.0f} windows/s "
                  f"({c.ratio:.2f}); peak {c.rnnlab_peak_mib:.1f} vs {c.raw_peak_mib:.1f} MiB",
                  flush=True)
    return rows


def format_table(rows: list[dict]) -> str:
    import pandas as pd

    def show(value):
        if value is None or value != value:
            return ""
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    frame = pd.DataFrame(rows)
    for column in ("rnnlab", "raw torch", "rnnlab/raw"):
        frame[column] = frame[column].map(show)
    return frame.to_string(index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--models", default="rnn,lstm,gru", help="throughput models")
    parser.add_argument("--default-models", default="lstm",
                        help="models for the defaults section [default: lstm, the default]")
    parser.add_argument("--sizes", default="32x30,32x100,128x30,128x100",
                        help="throughput sizes, hidden_size x seq_len")
    parser.add_argument("--sections", default="defaults,start-up,throughput")
    parser.add_argument("--threads", type=int, help="torch threads [default: torch's]")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    sections = args.sections.split(",")
    if args.threads:
        # Set before torch loads, for the subprocesses too.
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    load = os.getloadavg()[0]
    print(f"rnnlab speed suite, {os.cpu_count()} CPUs, load average {load:.1f}", flush=True)
    rows = []
    if "defaults" in sections:
        rows += defaults(args.tasks.split(","), args.default_models.split(","), args.repeats)
    if "start-up" in sections:
        rows += startup(max(args.repeats, 5))
    if "throughput" in sections:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        rows += throughput(args.models.split(","), sizes, args.repeats)
    import torch

    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, batch 256; "
          f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
