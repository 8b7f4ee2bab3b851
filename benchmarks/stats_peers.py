"""statsforecast's AutoETS and AutoTheta on the multi-step origins rnnlab scores.

Each series is split as rnnlab splits it (70/10/20, `rnnlab.windows.split_sizes`); the fit
part is the first n_fit = n_train + n_val values. Every origin o from n_fit to n - H
forecasts values[o:o+H] from values[:o]. Each model is fit once on values[:n_fit]; later
origins reuse its parameters through the model's `forward` (no refit). Naive and seasonal
naive on the same origins are the sanity check against rnnlab's own table. statsforecast
is not an rnnlab dependency: see benchmarks/README.md for its separate environment.

    /work/sf-venv/bin/python benchmarks/stats_peers.py                       # 7 series, H 10
    /work/sf-venv/bin/python benchmarks/stats_peers.py --series co2,nile --horizon 12 --all-steps
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from rnnlab.baselines import BASELINES
from rnnlab.config import DataConfig
from rnnlab.data import load_series
from rnnlab.diagnostics import find_period
from rnnlab.errors import RnnlabError
from rnnlab.metrics import mase, rmse, verdict_of_losses
from rnnlab.windows import split_sizes

SERIES = ("sine", "stock:A", "drop", "sunspots", "co2", "elnino", "nile")
SEQ_LEN = 30  # only decides the shortest series split_sizes accepts
SHOWN_STEPS = (1, 2, 5, 10)


@dataclass
class Scores:
    model: str
    form: str  # the model the automatic search chose, e.g. ETS(A,Ad,N)
    fit_s: float
    forecast_s: float  # forecasts from every origin
    rmse_steps: list[float]
    mase_steps: list[float]
    rmse: float  # over every origin and step
    mase: float
    # The one rule against rnnlab's baselines on the same origins, as rnnlab's own rows
    verdict: str = ""


@dataclass
class SeriesResult:
    series: str
    n: int
    n_fit: int
    n_origins: int
    horizon: int
    period: int | None  # find_period on the fit part
    season_length: int  # what the models and seasonal naive use: period, or 1
    models: list[Scores] = field(default_factory=list)


# --- origins, targets and forecasts: arrays of shape (n_origins, horizon) ------------


def origin_targets(values: np.ndarray, n_fit: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Origins n_fit .. n - horizon and their targets: row i is values[o_i:o_i + horizon]."""
    targets = np.lib.stride_tricks.sliding_window_view(values[n_fit:], horizon)
    return np.arange(n_fit, n_fit + len(targets)), targets


def naive(values, origins, horizon, season_length):
    return np.repeat(values[origins - 1][:, None], horizon, axis=1), 0.0, ""


def seasonal_naive(values, origins, horizon, season_length):
    # step k (0-based) repeats the value one season before it: values[o - m + k mod m]
    back = np.arange(horizon) % season_length - season_length
    return values[origins[:, None] + back], 0.0, ""


def statsforecast_model(name: str):
    """Fit statsforecast's `name` once on the fit part, then forward it to every origin.

    The forecast function returns (forecasts, fit seconds, the chosen form).
    """

    def run(values, origins, horizon, season_length):
        import statsforecast.models

        model = getattr(statsforecast.models, name)(season_length=season_length)
        started = time.perf_counter()
        model.fit(values[:origins[0]])
        fit_s = time.perf_counter() - started
        # forward keeps the fitted parameters and filters the longer history with them.
        predicted = np.stack([model.forward(values[:o], h=horizon)["mean"] for o in origins])
        return predicted, fit_s, model_form(model)

    return run


def model_form(model) -> str:
    fitted = model.model_
    if "method" in fitted:  # ETS
        return str(fitted["method"])
    return f"{fitted.get('modeltype', '?')} (theta {float(fitted['par']['theta']):.3g})"


MODELS = {
    "naive": naive,
    "seasonal_naive": seasonal_naive,
    "AutoETS": statsforecast_model("AutoETS"),
    "AutoTheta": statsforecast_model("AutoTheta"),
}


def score(name, predicted, targets, y_train, fit_s, forecast_s, form) -> Scores:
    steps = range(targets.shape[1])
    return Scores(
        model=name, form=form, fit_s=fit_s, forecast_s=forecast_s,
        rmse_steps=[rmse(targets[:, k], predicted[:, k]) for k in steps],
        mase_steps=[mase(targets[:, k], predicted[:, k], y_train) for k in steps],
        rmse=rmse(targets.ravel(), predicted.ravel()),
        mase=mase(targets.ravel(), predicted.ravel(), y_train),
    )


def run_series(name: str, horizon: int, models: list[str]) -> SeriesResult:
    series = load_series(name)
    values = series.to_numpy(dtype=np.float64)
    split = split_sizes(len(values), SEQ_LEN, DataConfig.val_fraction,
                        DataConfig.test_fraction, name=name)
    n_fit = split.n_train + split.n_val
    origins, targets = origin_targets(values, n_fit, horizon)
    if len(origins) == 0:
        raise RnnlabError(f"{name}: its test part has {split.n_test} values, fewer than "
                          f"--horizon {horizon}; use a shorter horizon")
    period = find_period(values[:n_fit])
    season_length = period or 1
    result = SeriesResult(name, len(values), n_fit, len(origins), horizon, period,
                          season_length)
    # rnnlab's baselines, fitted as rnnlab.backtest fits them (seasonal naive may repeat
    # a longer season than `period`), for the one rule's verdict on the same origins.
    baselines = {key: ((targets - cls().fit(series.iloc[:n_fit]).paths_from(
        values, origins, horizon)) ** 2).mean(1) for key, cls in BASELINES.items()}
    for model in models:
        started = time.perf_counter()
        predicted, fit_s, form = MODELS[model](values, origins, horizon, season_length)
        forecast_s = time.perf_counter() - started - fit_s
        scores = score(model, predicted, targets, values[:n_fit], fit_s, forecast_s, form)
        if model not in BASELINES:
            found = verdict_of_losses(((targets - predicted) ** 2).mean(1), baselines, horizon)
            tested = f"p = {found.p_value:.3f}" if np.isfinite(found.p_value) else \
                "too few origins for the paired test"
            scores.verdict = f"{found.outcome} vs {found.against} ({found.ratio:.3f}, {tested})"
        result.models.append(scores)
    return result


def warm_up(models: list[str]) -> float:
    """Pay statsforecast's first-call costs (lazy imports, compiled kernels) untimed."""
    started = time.perf_counter()
    values = 10 + np.sin(np.arange(120) * 2 * np.pi / 12)
    for model in models:
        MODELS[model](values, np.arange(100, 111), 3, 12)
    return time.perf_counter() - started


# --- output ------------------------------------------------------------------------


def shown_steps(horizon: int, all_steps: bool) -> list[int]:
    if all_steps:
        return list(range(1, horizon + 1))
    return sorted({s for s in SHOWN_STEPS if s <= horizon} | {horizon})


def table(result: SeriesResult, steps: list[int]) -> str:
    head = ([f"RMSE {s}" for s in steps] + ["RMSE all"] + [f"MASE {s}" for s in steps]
            + ["MASE all", "fit s", "forecast s", "form", "verdict"])
    lines = ["| model | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for m in result.models:
        cells = ([m.rmse_steps[s - 1] for s in steps] + [m.rmse]
                 + [m.mase_steps[s - 1] for s in steps] + [m.mase])
        lines.append(f"| {m.model} | " + " | ".join(f"{c:.4g}" for c in cells)
                     + f" | {m.fit_s:.3f} | {m.forecast_s:.3f} | {m.form} | {m.verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", default=",".join(SERIES), help="comma list of sources")
    parser.add_argument("--horizon", type=int, default=10, help="steps ahead [10]")
    parser.add_argument("--models", default=",".join(MODELS), help="comma list of "
                        + ", ".join(MODELS))
    parser.add_argument("--all-steps", action="store_true", help="a column for every step")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    if args.horizon < 1:
        parser.error(f"--horizon must be at least 1, got {args.horizon}")
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown --models {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    try:
        import statsforecast
    except ImportError as exc:
        raise SystemExit(f"statsforecast is not installed here ({exc}); "
                         "see benchmarks/README.md for its environment") from None

    load = os.getloadavg()
    print(f"statsforecast {statsforecast.__version__}, numpy {np.__version__}; horizon "
          f"{args.horizon}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"first fits (untimed warm-up): {warm_up(models):.2f} s")
    steps = shown_steps(args.horizon, args.all_steps)
    results = []
    for name in args.series.split(","):
        try:
            result = run_series(name, args.horizon, models)
        except RnnlabError as exc:
            print(f"\nskipped {name}: {exc}")
            continue
        results.append(result)
        print(f"\n### {name}: n {result.n}, fit part {result.n_fit}, {result.n_origins} "
              f"origins, season length {result.season_length} "
              f"(find_period: {result.period})\n")
        print(table(result, steps), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"statsforecast": statsforecast.__version__, "horizon": args.horizon,
                       "load_average": load, "series": [asdict(r) for r in results]},
                      fh, indent=1)


if __name__ == "__main__":
    main()
