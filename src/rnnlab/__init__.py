"""rnnlab: forecast time series with recurrent networks, honestly.

    >>> from rnnlab import Forecaster, load_series
    >>> series = load_series("sine")
    >>> model = Forecaster(model="lstm", progress=False).fit(series[:800])

Heavy modules (torch, statsmodels, matplotlib) load on first use, so `rnnlab --help`
starts fast.
"""

import os

__version__ = "0.2.0"

# torch's idle worker threads sleep instead of spinning. On a shared CPU, spinning OpenMP
# threads made a default fit 5-25x slower (benchmarks/README.md). It must be set before
# torch loads; an OMP_WAIT_POLICY already in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "Forecaster": "rnnlab.forecaster",
    "GlobalForecaster": "rnnlab.global_forecaster",
    "NaiveForecaster": "rnnlab.baselines",
    "MeanForecaster": "rnnlab.baselines",
    "SeasonalNaiveForecaster": "rnnlab.baselines",
    "load_series": "rnnlab.data",
    "load_data": "rnnlab.data",
    "RnnlabError": "rnnlab.errors",
    "run_train": "rnnlab.runs",
    "inspect": "rnnlab.diagnostics",
    "compare": "rnnlab.experiment",
    "sweep": "rnnlab.experiment",
    "backtest": "rnnlab.backtest",
    "fit_seeds": "rnnlab.forecaster",
    "run_demo": "rnnlab.demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
