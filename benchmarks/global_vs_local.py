"""One global model against one model per series, on a fixed sample of S&P 500 tickers.

Both see the same per-series split (common cut dates) and are scored on the same test
targets; accuracy is the median over tickers of test RMSE / naive RMSE, time the total
fit time (one global fit against the sum of the per-series fits).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/global_vs_local.py   # 20 tickers
    .venv/bin/python benchmarks/global_vs_local.py --every 25 --epochs 20

The 505-ticker figures come from `rnnlab train --global` itself (metrics.json holds the
epoch time, fit time and peak memory), run under `/usr/bin/time -v`.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

from rnnlab.forecaster import Forecaster
from rnnlab.global_forecaster import GlobalForecaster, fit_panel
from rnnlab.metrics import rmse, verdict
from rnnlab.panel import load_panel, score_panel, split_panel

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "sandp500" / \
    "individual_stocks_5yr"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=os.environ.get("RNNLAB_SANDP500", str(FOLDER)))
    parser.add_argument("--every", type=int, default=25, help="every k-th ticker by name")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--local-scalers", default="auto,window",
                        help="scalers of the per-series models, comma-separated")
    args = parser.parse_args()

    panel = load_panel(args.folder)
    names = sorted(panel)[:: args.every][: args.count]
    sample = {name: panel[name] for name in names}
    split = split_panel(sample, seq_len=30)
    print(f"{len(split.sizes)} tickers: {' '.join(split.sizes)}; split by {split.how} at "
          f"{split.cuts}; skipped: {sorted(split.skipped) or 'none'}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    # The first fit in a process pays one-off costs (lazy imports, allocator warm-up):
    # keep them out of both timings.
    warm = {name: sample[name] for name in list(split.sizes)[:2]}
    fit_panel(GlobalForecaster(epochs=1, progress=False), warm, split_panel(warm, seq_len=30))
    Forecaster(epochs=1, progress=False).fit(next(iter(warm.values())))
    rows = []
    for embedding in (False, True):
        started = time.perf_counter()
        forecaster = fit_panel(GlobalForecaster(epochs=args.epochs, series_embedding=embedding,
                                                progress=False), sample, split)
        global_seconds = time.perf_counter() - started
        table = score_panel(forecaster, sample, split)
        history = forecaster.history_
        rows.append((f"global lstm{' + embedding' if embedding else ''}",
                     float(np.median(table["rmse_ratio_naive"])),
                     float(table["vs_naive"].isin(["win", "tie"]).mean()), global_seconds,
                     f"{history.epochs_run} epochs (best {history.best_epoch}), "
                     f"{forecaster.n_windows_['train']} windows"))

    for scaler in args.local_scalers.split(","):
        ratios, ties, seconds, epochs = [], [], 0.0, []
        for name, sizes in split.sizes.items():
            series = sample[name]
            started = time.perf_counter()
            model = Forecaster(epochs=args.epochs, scaler=scaler, progress=False)
            model.fit(series.iloc[: sizes.n_fit], val_size=sizes.n_val)
            seconds += time.perf_counter() - started
            epochs.append(model.history_.best_epoch)
            actual = series.to_numpy()[sizes.n_fit:]
            pred = model.predict(series.iloc[sizes.n_fit - 30:]).to_numpy()[-sizes.n_test:]
            naive = series.to_numpy()[sizes.n_fit - 1: -1]
            ratios.append(rmse(actual, pred) / rmse(actual, naive))
            ties.append(verdict(actual, pred, {"naive": naive}).outcome != "loss")
        rows.append((f"per-series lstm ({scaler})", float(np.median(ratios)),
                     float(np.mean(ties)), seconds,
                     f"median best epoch {int(np.median(epochs))}"))

    print(f"{'model':<26} {'median RMSE/naive':>18} {'ties/beats naive':>17} "
          f"{'fit s':>8}  notes")
    for label, ratio, share, seconds, notes in rows:
        print(f"{label:<26} {ratio:>18.4f} {100 * share:>16.0f}% {seconds:>8.1f}  {notes}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("ties/beats naive: rnnlab.metrics.verdict against naive (a win or loss needs a "
          "1% RMSE gap and a Diebold-Mariano p < 0.05)")


if __name__ == "__main__":
    main()
