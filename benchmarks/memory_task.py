"""Does an LSTM fix the vanilla RNN's short memory? rnn, lstm and gru on the delay task.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_task.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_task.py --seeds 0,1,2,3,4,5
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_task.py --models lstm \
        --lstm-forget-bias 0          # PyTorch's own LSTM init, for comparison
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_task.py --out runs/memory

The task is `rnnlab.data.delay()`: x_t = 0.3 x_(t-1) + 0.6 x_(t-30) + e_t. Each net is
trained with `OVERRIDES` (the settings the demo's memory section uses) on one thread,
and scored on the test part beside the mean baseline and the closed-form linear
autoregression. A net "found the lag" when its input sensitivity peaks at lag 30.

Prints a Markdown table (test RMSE, mean baseline, effective memory, peak lag, share of
sensitivity at the lag, epochs, fit wall and CPU seconds); --out also writes
memory_task.json and the memory curves of the first seed.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np

from rnnlab.data import DELAY_LAG as LAG
from rnnlab.demo import MEMORY_OVERRIDES as OVERRIDES  # the demo's memory section

MODELS = ("rnn", "lstm", "gru")


def fit_one(series, split, model: str, seed: int, overrides: dict,
            lag: int) -> tuple[dict, object]:
    from rnnlab.backtest import score_fitted
    from rnnlab.explain import memory_profile
    from rnnlab.forecaster import Forecaster

    forecaster = Forecaster(model=model, seed=seed, progress=False, **overrides)
    wall, cpu = time.perf_counter(), time.process_time()
    forecaster.fit(series.iloc[: split.n_fit], val_size=split.n_val)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = score_fitted(series, forecaster, split)
    profile = memory_profile(forecaster, series, split)
    rmse, mean_rmse = result.metrics["model"]["rmse"], result.metrics["mean"]["rmse"]
    row = {"model": model, "seed": seed, "rmse": rmse, "mean_rmse": mean_rmse,
           "ratio": rmse / mean_rmse, "effective_memory": profile.effective_memory,
           "peak_lag": profile.peak_lag, "share_at_lag": float(profile.sensitivity[lag - 1]),
           "found": profile.peak_lag == lag, "epochs": forecaster.history_.epochs_run,
           "best_epoch": forecaster.history_.best_epoch, "fit_s": wall, "fit_cpu_s": cpu,
           "val_loss": [round(v, 4) for v in forecaster.history_.val_loss]}
    return row, profile


def linear_reference(series, split, seq_len: int) -> dict:
    """The closed-form linear autoregression on the same window: the level to reach."""
    from rnnlab.backtest import backtest
    from rnnlab.forecaster import Forecaster

    result = backtest(series, Forecaster(model="linear", seq_len=seq_len, progress=False), split)
    return {"rmse": result.metrics["model"]["rmse"],
            "mean_rmse": result.metrics["mean"]["rmse"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--lag", type=int, default=LAG, help="lag of the task")
    parser.add_argument("--seq-len", type=int, default=OVERRIDES["seq_len"])
    parser.add_argument("--near-weight", type=float, default=None,
                        help="weight of x(t-1) in the task (0: only the far lag is there)")
    parser.add_argument("--far-weight", type=float, default=None,
                        help="weight of x(t-lag) in the task")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--lstm-forget-bias", type=float, default=None,
                        help="start the LSTM forget gates at this bias instead of the "
                             "library's (1); 0 is PyTorch's own init")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import torch

    from rnnlab import models
    from rnnlab.data import delay
    from rnnlab.windows import split_sizes

    torch.set_num_threads(1)
    if args.lstm_forget_bias is not None:
        models.open_forget_gates = functools.partial(models.open_forget_gates,
                                                     bias=args.lstm_forget_bias)
    lag, overrides = args.lag, {**OVERRIDES, "seq_len": args.seq_len}
    weights = {name: value for name, value in (("near_weight", args.near_weight),
                                               ("far_weight", args.far_weight))
               if value is not None}
    series = delay(lag=lag, **weights)
    split = split_sizes(len(series), overrides["seq_len"], 0.1, 0.2)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, profiles = [], {}
    for seed in seeds:
        for model in args.models.split(","):
            row, profile = fit_one(series, split, model, seed, overrides, lag)
            rows.append(row)
            if seed == seeds[0]:
                profiles[model] = profile
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                              for k, v in row.items() if k != "val_loss"}), flush=True)
    linear = linear_reference(series, split, overrides["seq_len"])

    settings = ", ".join(f"{k}={v}" for k, v in overrides.items())
    bias = "" if args.lstm_forget_bias is None else \
        f", LSTM forget-gate bias {args.lstm_forget_bias:g}"
    task = "".join(f", {k} {v:g}" for k, v in weights.items())
    print(f"\n{series.name}{task} ({len(series)} points, test part {split.n_test}); "
          f"{settings}{bias}")
    print(f"linear autoregression (closed form): test RMSE {linear['rmse']:.3f} = "
          f"{linear['rmse'] / linear['mean_rmse']:.3f} x mean baseline {linear['mean_rmse']:.3f}")
    print("| model | seed | test RMSE | mean RMSE | RMSE / mean | effective memory | "
          f"peak lag | share at lag {lag} | epochs (best) | fit s | fit CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['seed']} | {r['rmse']:.3f} | {r['mean_rmse']:.3f} | "
              f"{r['ratio']:.3f} | {r['effective_memory']} | {r['peak_lag']} | "
              f"{r['share_at_lag']:.2f} | {r['epochs']} ({r['best_epoch']}) | "
              f"{r['fit_s']:.1f} | {r['fit_cpu_s']:.1f} |")
    for model in args.models.split(","):
        mine = [r for r in rows if r["model"] == model]
        print(f"- {model}: found lag {lag} in {sum(r['found'] for r in mine)} of {len(mine)} "
              f"seeds; median RMSE / mean {np.median([r['ratio'] for r in mine]):.3f}; "
              f"median fit {np.median([r['fit_s'] for r in mine]):.1f} s "
              f"({np.median([r['fit_cpu_s'] for r in mine]):.1f} CPU s)")
    if args.out is not None:
        from rnnlab.plots import plot_memory_curves

        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "memory_task.json").write_text(json.dumps(
            {"overrides": overrides, "lag": lag, "task_weights": weights,
             "lstm_forget_bias": args.lstm_forget_bias, "linear": linear, "rows": rows},
            indent=2))
        plot_memory_curves(profiles, args.out / "memory_task.png",
                           title=f"{series.name}: what each model looks at (seed {seeds[0]})")


if __name__ == "__main__":
    main()
