"""Many steps ahead: direct against recursive, for rnn, lstm and gru, beside the baselines.

Every model is fitted as `rnnlab train --data SERIES --model M --horizon H --strategy S`
fits it (defaults otherwise) and scored from every origin of the test part by
`rnnlab.backtest.score_paths`, the baselines on the same origins and targets. The
statistical peers on the same origins: benchmarks/stats_peers.py (separate environment).

    python benchmarks/horizon.py                                   # 7 series, H = 10
    python benchmarks/horizon.py --series sine,co2 --models lstm --json /tmp/h.json
"""

from __future__ import annotations

import argparse
import json
import time

from rnnlab.backtest import backtest
from rnnlab.config import DataConfig, ModelConfig, TrainConfig
from rnnlab.data import load_data
from rnnlab.errors import RnnlabError
from rnnlab.forecaster import Forecaster
from rnnlab.windows import seq_len_for_split, split_sizes

SERIES = ("sine", "stock:A", "drop", "sunspots", "co2", "elnino", "nile")
SHOWN = (1, 2, 5, 10)


def run_one(source: str, model: str, strategy: str, horizon: int, seed: int) -> dict:
    series = load_data(DataConfig(source=source))
    model_cfg = ModelConfig(model=model, horizon=horizon, strategy=strategy)
    window = seq_len_for_split(series.to_numpy(), DataConfig.val_fraction,
                               DataConfig.test_fraction, model_cfg.seq_len)
    split = split_sizes(len(series), window.seq_len, DataConfig.val_fraction,
                        DataConfig.test_fraction, name=source)
    forecaster = Forecaster.from_config(model_cfg, TrainConfig(seed=seed), progress=False)
    started = time.perf_counter()
    result = backtest(series, forecaster, split)
    steps = result.multi_step
    steps["seconds"] = time.perf_counter() - started
    steps["one_step_rmse"] = result.metrics["model"]["rmse"]
    steps["seq_len"] = forecaster.seq_len
    return steps


def table(source: str, runs: dict[str, dict], horizon: int) -> str:
    shown = [h for h in SHOWN if h <= horizon] or [horizon]
    first = next(iter(runs.values()))
    rows = {label: run["per_step"]["model"] | {"all": run["overall"]["model"],
                                                "verdict": run["verdict"],
                                                "seconds": run["seconds"]}
            for label, run in runs.items()}
    for name in ("naive", "seasonal_naive", "mean"):
        rows[name] = first["per_step"][name] | {"all": first["overall"][name]}
    head = " | ".join(f"RMSE {h}" for h in shown) + " | RMSE all | " + \
        " | ".join(f"MASE {h}" for h in shown) + " | MASE all | cover 1 | cover H | verdict"
    lines = [f"{source} (H = {horizon}, {first['origins']} origins, seasonal period "
             f"{first['seasonal_period']}, seq_len {first['seq_len']})", "",
             f"| model | {head} |",
             "|---" * (2 * len(shown) + 5) + "|---|"]
    for label, row in rows.items():
        cells = [f"{row['rmse'][h - 1]:.4g}" for h in shown] + [f"{row['all']['rmse']:.4g}"]
        cells += [f"{row['mase'][h - 1]:.3f}" for h in shown] + [f"{row['all']['mase']:.3f}"]
        cover = row.get("coverage")
        cells += [f"{cover[0]:.2f}", f"{cover[-1]:.2f}"] if cover else ["", ""]
        found = row.get("verdict")
        cells.append(f"{found['outcome']} vs {found['against']} ({found['ratio']:.3f})"
                     if found else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=",".join(SERIES))
    parser.add_argument("--models", default="rnn,lstm,gru")
    parser.add_argument("--strategies", default="direct,recursive")
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write every score here")
    args = parser.parse_args()
    everything = {}
    for source in args.series.split(","):
        runs = {}
        for model in args.models.split(","):
            for strategy in args.strategies.split(","):
                try:
                    runs[f"{model} {strategy}"] = run_one(source, model, strategy,
                                                          args.horizon, args.seed)
                except RnnlabError as exc:  # e.g. too short for direct windows
                    print(f"{source}: {model} {strategy}: {exc}", flush=True)
        everything[source] = runs
        if runs:
            print(table(source, runs, args.horizon), "\n", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1)


if __name__ == "__main__":
    main()
