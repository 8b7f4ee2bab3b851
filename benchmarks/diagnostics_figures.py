"""Acceptance figures of the diagnostics (issue 4), measured on this machine.

    .venv/bin/python benchmarks/diagnostics_figures.py                 # everything
    .venv/bin/python benchmarks/diagnostics_figures.py --part verdicts
    .venv/bin/python benchmarks/diagnostics_figures.py --part drop --out runs/diag

- verdicts: `rnnlab.inspect` on every built-in series and on 10 tickers drawn (seeded)
  from ../shared/data/sandp500/individual_stocks_5yr;
- drop: lstm on `drop` with the auto and the window scaler: error after the drop against
  before it, the undershoot and the recovery time.

rnn, lstm and gru on the long-delay task are measured by benchmarks/memory_task.py.

Prints Markdown tables; with --out also writes figures.json and the plots there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SANDP = Path(__file__).resolve().parents[2] / "shared" / "data" / "sandp500" / \
    "individual_stocks_5yr"
BUILTINS = ["sine", "noise", "complex", "random_walk", "drop", "delay",
            "stock:A", "stock:AAPL", "stock:AMZN", "stock:GOOG", "stock:MSFT"]


def random_tickers(count: int = 10, seed: int = 0) -> list[Path]:
    files = sorted(SANDP.glob("*_data.csv"))
    picked = np.random.default_rng(seed).choice(len(files), size=count, replace=False)
    return [files[i] for i in sorted(picked)]


def verdicts(ticker_seed: int) -> list[dict]:
    from rnnlab import inspect, load_series
    from rnnlab.errors import RnnlabError
    from rnnlab.windows import train_window

    sources = [(name, name) for name in BUILTINS]
    if SANDP.is_dir():
        sources += [(path.name.split("_data")[0], str(path))
                    for path in random_tickers(seed=ticker_seed)]
    rows = []
    for label, source in sources:
        try:
            series = load_series(source)
            found = inspect(series)
        except RnnlabError as exc:
            rows.append({"series": label, "verdict": "error", "evidence": str(exc)})
            continue
        rows.append({"series": label, "n": found.n, "verdict": found.verdict,
                     "period": found.period, "seq_len": train_window(series).seq_len,
                     "adf_p": found.tests["adf"].p_value,
                     "ljung_box_p": found.tests["ljung_box"].p_value,
                     "evidence": found.evidence})
    print("| series | n | verdict | period | seq_len | ADF p | Ljung-Box p |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["verdict"] == "error":
            print(f"| {r['series']} | | error: {r['evidence']} | | | | |")
            continue
        print(f"| {r['series']} | {r['n']} | {r['verdict']} | {r['period'] or ''} | "
              f"{r['seq_len']} | {r['adf_p']:.3f} | {r['ljung_box_p']:.3g} |")
    return rows


def drop_anatomy(out: Path | None) -> list[dict]:
    from rnnlab.backtest import backtest
    from rnnlab.data import load_series
    from rnnlab.explain import failure_anatomy
    from rnnlab.forecaster import Forecaster
    from rnnlab.plots import plot_episodes
    from rnnlab.windows import split_sizes

    series = load_series("drop")
    split = split_sizes(len(series), 30, 0.1, 0.2)
    rows = []
    for scaler in ("auto", "window"):
        result = backtest(series, Forecaster(model="lstm", scaler=scaler, progress=False),
                          split)
        anatomy = failure_anatomy(result.predictions)
        first = max(anatomy.episodes, key=lambda e: abs(e.jump))
        rows.append({"scaler": scaler, "resolved": result.forecaster.scaler_.kind,
                     "rmse": result.metrics["model"]["rmse"],
                     "naive_rmse": result.metrics["naive"]["rmse"],
                     "rmse_before": anatomy.rmse_before, "episode": first.__dict__,
                     "lines": anatomy.lines})
        if out is not None:
            plot_episodes(result.predictions, anatomy, out / f"drop_episodes_{scaler}.png",
                          title=f"drop: lstm, scaler {scaler}")
    print("\ndrop (level drop of 4 at step 880; test part starts at 800), lstm")
    print("| scaler | test RMSE | naive | RMSE before the drop | RMSE 20 steps after | "
          "mean error after | share of the drop missed | recovery (steps) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        e = r["episode"]
        recovery = "none within the test part" if e["recovery_steps"] is None \
            else e["recovery_steps"]
        print(f"| {r['scaler']} ({r['resolved']}) | {r['rmse']:.3f} | {r['naive_rmse']:.3f} | "
              f"{r['rmse_before']:.3f} | {e['rmse_after']:.3f} | {e['bias_after']:+.3f} | "
              f"{100 * e['undershoot']:.0f}% | {recovery} |")
    for r in rows:
        print(f"\nscaler {r['scaler']}:")
        for line in r["lines"]:
            print(f"  {line}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "verdicts", "drop"), default="all")
    parser.add_argument("--ticker-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    figures = {}
    if args.part in ("all", "verdicts"):
        figures["verdicts"] = verdicts(args.ticker_seed)
    if args.part in ("all", "drop"):
        figures["drop"] = drop_anatomy(args.out)
    if args.out is not None:
        (args.out / "figures.json").write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
