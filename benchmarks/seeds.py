"""Five seeds trained as one stack (`rnnlab.forecaster.fit_seeds`) against one seed alone and
against five separate fits, with rnnlab's default settings.

For each task and model, in one warm process (a throw-away fit first pays the imports),
it times, as medians over the repeats:
- one seed alone: ``Forecaster(seed=0).fit`` (what ``compare --seeds 1`` trains);
- five separate fits, seeds 0-4, one after the other;
- `fit_seeds` with the same five seeds.
It also prints the epochs the seeds ran (early stopping: the stack trains each model only
until it stops, so its work is the sum of the seeds' epochs and it lasts as long as the
slowest seed), and the largest difference in test RMSE between a stacked model and the
separate fit of the same seed. First, one training step (forward + backward, batch 256,
default sizes) of one model, of five models one call each, and of five models in
`stacked_forward`: the figures behind the choice of `rnnlab.stacked.STACKED_MODES`.

    .venv/bin/python benchmarks/seeds.py
    .venv/bin/python benchmarks/seeds.py --tasks sine --models lstm --repeats 1
    .venv/bin/python benchmarks/seeds.py --models lstm --stacked-modes RNN_TANH,GRU,LSTM
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

import rnnlab  # noqa: F401 - sets OMP_WAIT_POLICY=PASSIVE, which must come before torch

# isort: split
import numpy as np
import torch

from rnnlab import stacked as stacking
from rnnlab.config import DataConfig
from rnnlab.data import load_series
from rnnlab.forecaster import Forecaster, fit_seeds
from rnnlab.metrics import rmse
from rnnlab.models import build_model
from rnnlab.stacked import stacked_forward
from rnnlab.windows import split_sizes


def test_rmse(forecaster: Forecaster, series, n_test: int) -> float:
    predicted = forecaster.predict(series).iloc[-n_test:]
    return rmse(series.iloc[-n_test:].to_numpy(), predicted.to_numpy())


@contextlib.contextmanager
def timed(into: list):
    """Append (wall seconds, CPU seconds of this process) of the block to `into`."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append((time.perf_counter() - wall, time.process_time() - cpu))


def median(pairs: list) -> tuple[float, float]:
    return statistics.median(w for w, _ in pairs), statistics.median(c for _, c in pairs)


def step_times(model: str, n_models: int, repeats: int = 9) -> dict:
    """Median (wall, CPU) seconds of one training step's forward and backward."""
    template = Forecaster(model=model)
    nets = [build_model(template.model_config()) for _ in range(n_models)]
    for net in nets:  # a trained-looking head, so gradients reach the recurrent layers
        torch.nn.init.normal_(net.head.weight, std=0.1)
    x = torch.randn(n_models, template.batch_size, template.seq_len, 1)
    y = torch.randn(n_models, template.batch_size)

    def one():
        (nets[0](x[0]) - y[0]).pow(2).mean().backward()

    def each():
        for net, x_m, y_m in zip(nets, x, y, strict=True):
            (net(x_m) - y_m).pow(2).mean().backward()

    def stacked():
        stacked_forward(nets, x).sub(y).pow(2).mean(1).sum().backward()

    times = {}
    for name, step in (("one", one), ("each", each), ("stacked", stacked)):
        step()
        runs = []
        for _ in range(repeats):
            with timed(runs):
                step()
        times[name] = median(runs)
    return times


def ratios(top: tuple[float, float], bottom: tuple[float, float]) -> str:
    return f"{top[0] / bottom[0]:4.2f} ({top[1] / bottom[1]:4.2f})"


def measure(task: str, model: str, seeds: list[int], repeats: int) -> dict:
    series = load_series(task)
    split = split_sizes(len(series), Forecaster().seq_len, DataConfig.val_fraction,
                        DataConfig.test_fraction, name=task)
    fit_part = series.iloc[:split.n_fit]
    template = Forecaster(model=model, progress=False)
    single, separate, stacked = [], [], []
    for _ in range(repeats):
        with timed(single):
            Forecaster(model=model, seed=seeds[0], progress=False).fit(fit_part, split.n_val)
        with timed(separate):
            alone = [Forecaster(model=model, seed=s, progress=False).fit(fit_part, split.n_val)
                     for s in seeds]
        with timed(stacked):
            together = fit_seeds(template, fit_part, split.n_val, seeds)
    rmse_alone = [test_rmse(f, series, split.n_test) for f in alone]
    rmse_together = [test_rmse(f, series, split.n_test) for f in together]
    return {
        "task": task, "model": model,
        "single": median(single), "separate": median(separate), "stacked": median(stacked),
        "epochs": [f.history_.epochs_run for f in together],
        "epochs_alone": [f.history_.epochs_run for f in alone],
        "rmse": float(np.mean(rmse_together)),
        "max_rmse_diff": float(np.max(np.abs(np.subtract(rmse_together, rmse_alone)))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="sine,stock:A")
    parser.add_argument("--models", default="rnn,lstm,gru")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument("--stacked-modes", default=None,
                        help="override rnnlab.stacked.STACKED_MODES, e.g. RNN_TANH,GRU,LSTM")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.stacked_modes is not None:
        stacking.STACKED_MODES = tuple(args.stacked_modes.split(","))
    seeds = list(range(args.seeds))
    warm = load_series("sine").iloc[:400]
    fit_seeds(Forecaster(model="gru", epochs=1, progress=False), warm, 40, [0, 1])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY "
          f"{os.environ.get('OMP_WAIT_POLICY')}, stacked modes {stacking.STACKED_MODES}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"medians of {args.repeats}; seconds as wall (CPU time of this process)")
    k = len(seeds)
    print(f"one training step, ms: {'1 model':>15} {f'{k} models, one call each':>25} "
          f"{f'{k} models stacked':>18}")
    for model in args.models.split(","):
        t = step_times(model, k)
        cells = [f"{1e3 * w:6.1f} ({1e3 * c:6.1f})" for w, c in (t["one"], t["each"],
                                                                  t["stacked"])]
        print(f"{model:22} {cells[0]:>15} {cells[1]:>25} {cells[2]:>18}", flush=True)
    print(f"{'task':8} {'model':5} {'1 seed':>13} {f'{k} separate':>15} {f'{k} stacked':>15} "
          f"{'stacked/1':>11} {'separate/stacked':>16} {'epochs per seed':>16} "
          f"{'test RMSE':>9} {'max |dRMSE|':>11}")
    for task in args.tasks.split(","):
        for model in args.models.split(","):
            r = measure(task, model, seeds, args.repeats)
            cells = [f"{w:6.2f} ({c:5.2f})" for w, c in (r["single"], r["separate"],
                                                          r["stacked"])]
            ratio = ratios(r["stacked"], r["single"])
            speedup = ratios(r["separate"], r["stacked"])
            epochs = ",".join(map(str, r["epochs"]))
            print(f"{task:8} {model:5} {cells[0]:>13} {cells[1]:>15} {cells[2]:>15} "
                  f"{ratio:>11} {speedup:>16} {epochs:>16} {r['rmse']:9.4f} "
                  f"{r['max_rmse_diff']:11.2e}", flush=True)
            if r["epochs"] != r["epochs_alone"]:
                print(f"  epochs of the separate fits differ: {r['epochs_alone']}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
