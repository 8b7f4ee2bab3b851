"""How a forecast is chosen: every candidate scored on the same rolling origins by one
scale-free loss, then one rule picks or combines them.

The stages, in the order `rnnlab.forecaster.Forecaster.fit` runs them:

1. `make_folds`: the origins, at the end of the data the fit is given. Candidates are
   fitted on the values before the first origin only, and forecast H steps from every
   origin after it; the last origins are scored on the steps the data still holds.
2. `fold_losses`: each candidate's loss per origin, its mean absolute error over those
   steps divided by the in-sample seasonal naive error (MASE's scale), on the same
   targets for all.
3. `plausible`: a candidate whose fold paths leave the range of the values known at their
   origin, widened by its span, cannot be chosen (a runaway linear map, a trend
   extrapolated too far).
4. `choose`: the one rule (below) turns the losses into weights.
5. `conformal_widths` of `rnnlab.base`, on the combined forecast's fold errors: the
   interval.

The rule. The candidates of one family (the linear forms, the seasonal naive lags, ETS
per season) are variants of one idea: each family is represented by its best member on the
folds. Every family whose mean fold loss is at most COMBINE_FACTOR times the best family's
is kept, and the forecast is the median of the kept families' forecasts at each step
(their mean where two are kept). Few folds rarely single out the family that will forecast
best, and a combination of the good ones beats any one of them picked on noisy folds; the
median lets no one family drag the others off (a trend extrapolated by one, a level held by
another). Where the data never went below zero, no path does (each candidate's paths are
floored at zero before they are scored and combined).

    rnnlab train --data co2 --horizon 12 --out runs/co2   # prints the table and the choice
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import DataError

# The budget of the rolling origins: at most this many non-overlapping H-step folds, and
# at most half the values, so every candidate is fitted on at least as much as it is
# scored on. One step ahead the validation share of the data decides (every origin is
# its own fold there).
MAX_FOLDS = 5
# The fewest values a candidate is fitted on before the first origin (ETS needs ten).
MIN_FIT = 10
# And at most this many origins: a tenth of a 10-million-row series would be a million
# paths of every candidate (11 GB), where ten thousand already estimate each loss and the
# interval's quantiles closely. Only series over 100,000 values reach it.
MAX_ORIGINS = 10_000


@dataclass(frozen=True)
class Folds:
    """Origins start .. stop - 1, each scored on its targets up to `stop` (the last ones on
    fewer than `horizon` steps): candidates are fitted on values[:start]."""

    start: int
    stop: int
    horizon: int

    @property
    def origins(self) -> np.ndarray:
        return np.arange(self.start, self.stop)

    @property
    def span(self) -> int:
        return self.stop - self.start

    def targets(self, values: np.ndarray) -> np.ndarray:
        """(n_origins, horizon): the values each origin's path is scored on, NaN past
        `stop`."""
        ahead = self.origins[:, None] + np.arange(self.horizon)
        padded = np.r_[np.asarray(values, np.float64)[:self.stop], np.full(self.horizon, np.nan)]
        return padded[ahead]


def make_folds(n: int, horizon: int, n_val: int, name: str = "series") -> Folds:
    """The rolling origins over the end of `n` fit values.

    The span they cover is the validation share `n_val`, widened to up to MAX_FOLDS
    paths of `horizon` steps where that fits in half the values, and at most MAX_ORIGINS
    origins.

    Examples
    --------
    >>> make_folds(300, 24, 38)
    Folds(start=180, stop=300, horizon=24)
    >>> make_folds(1000, 1, 125).origins[[0, -1]].tolist()
    [875, 999]
    >>> make_folds(40, 3, 5).targets(np.arange(40.0))[-1].tolist()
    [39.0, nan, nan]
    >>> make_folds(10_000_000, 1, 1_000_000).span
    10000
    """
    span = max(n_val, min(MAX_FOLDS * horizon, n // 2), horizon)
    span = min(span, n - MIN_FIT, max(MAX_ORIGINS, horizon))
    if span < horizon:
        raise DataError(
            f"{name} has {n} values to fit on; forecasts {horizon} steps ahead need at "
            f"least {MIN_FIT + horizon} ({MIN_FIT} to fit the candidates on, {horizon} to "
            "score them on); use a shorter --horizon or a longer series")
    return Folds(n - span, n, horizon)


def loss_scale(values: np.ndarray, period: int | None) -> float:
    """MASE's denominator on `values`: the mean absolute change one season (or one step)
    apart; the mean absolute value where that is zero, and 1 where both are.

    >>> loss_scale(np.array([1.0, 2.0, 4.0]), None)
    1.5
    """
    values = np.asarray(values, np.float64)
    lag = period if period and len(values) > period else 1
    for scale in (np.mean(np.abs(values[lag:] - values[:-lag])) if len(values) > lag else 0.0,
                  np.mean(np.abs(values))):
        if scale > 0 and math.isfinite(scale):
            return float(scale)
    return 1.0


def fold_losses(paths: np.ndarray, targets: np.ndarray, scale: float) -> np.ndarray:
    """Each candidate's loss per origin: (n_candidates, n_origins), from paths
    (n_candidates, n_origins, H) and targets (n_origins, H; NaN where unknown), the mean
    over the steps each origin has targets for. Non-finite paths lose."""
    known = np.isfinite(targets)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.where(known[None], np.abs(paths - np.where(known, targets, 0)[None]), 0.0)
        loss = error.sum(axis=2) / known.sum(axis=1) / scale
    bad = ~np.isfinite(paths).all(axis=2) | ~np.isfinite(loss)
    return np.where(bad, np.inf, loss)


def plausible(paths: np.ndarray, values: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Per candidate (paths (n_candidates, n_origins, H)): whether every path stays within
    the range of the values known at its origin (values[:o]) widened by its span on each
    side: further than the data ever moved is a runaway, not a forecast.

    >>> plausible(np.array([[[5.0, 12.0]], [[5.0, 31.0]]]), np.array([10.0, 20.0]), [2]).tolist()
    [True, False]
    """
    origins = np.asarray(origins, dtype=np.int64)
    values = np.asarray(values, np.float64)
    if not len(paths):
        return np.zeros(0, bool)
    lo = np.minimum.accumulate(values)[origins - 1][:, None]
    hi = np.maximum.accumulate(values)[origins - 1][:, None]
    span = hi - lo
    with np.errstate(invalid="ignore"):
        inside = (paths >= lo - span) & (paths <= hi + span)
    return inside.reshape(len(paths), -1).all(axis=1)


# A family joins the forecast where its mean fold loss is at most this times the best
# family's. Measured against 1.2, 2 and 3, and against picking the best alone, keeping the
# best k (2 to 6) and weighting by inverse loss, on 1,900 series of 7 kinds (tourism,
# hospital and car-part panels, hourly demand and synthetic series, weekly CO2 and stock
# closes; benchmarks/pool_rules.py, README "Choosing a forecast"): the best alone lost
# 5-10% MASE on the seasonal panels, wider factors let worse families in on the hourly
# and weekly series.
COMBINE_FACTOR = 1.5


def choose(losses: np.ndarray, families: list[str], usable: np.ndarray | None = None
           ) -> np.ndarray:
    """The one rule (see the module's docstring): the best member of each family whose
    mean fold loss is within COMBINE_FACTOR of the best family's, each with weight 1/k
    (k of them kept; the forecast is their median, `combine`).

    Parameters
    ----------
    losses : (n_candidates, n_origins) fold losses (`fold_losses`).
    families : each candidate's family.
    usable : which candidates may be chosen (`plausible`); default all.

    Examples
    --------
    >>> losses = np.array([[1.0, 1.2], [1.1, 1.2], [1.05, 1.1], [3.0, 3.1]])
    >>> choose(losses, ["ets", "ets", "theta", "naive"]).tolist()
    [0.5, 0.0, 0.5, 0.0]
    """
    n = len(losses)
    usable = np.ones(n, bool) if usable is None else np.asarray(usable, bool)
    usable = usable & np.isfinite(losses).all(axis=1)
    weights = np.zeros(n)
    if not usable.any():
        return weights
    mean = np.where(usable, losses.mean(axis=1), np.inf)
    best = {}
    for i, family in enumerate(families):
        if usable[i] and (family not in best or mean[i] < mean[best[family]]):
            best[family] = i
    top = min(mean[i] for i in best.values())
    kept = [i for i in best.values() if mean[i] <= COMBINE_FACTOR * top]
    weights[kept] = 1.0 / len(kept)
    return weights


def combine(paths: list[np.ndarray]) -> np.ndarray:
    """The kept candidates' forecasts combined: their median at each origin and step (the
    mean of two, the one alone).

    >>> combine([np.array([[1.0]]), np.array([[2.0]]), np.array([[9.0]])]).tolist()
    [[2.0]]
    """
    return np.median(np.stack(paths), axis=0)
