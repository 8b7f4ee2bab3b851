"""The contract every forecaster honours, the naive baselines included.

- ``__init__`` only stores keyword hyperparameters;
- ``fit(series)`` validates, learns trailing-underscore state, and returns ``self``;
- ``predict(series, start=None)`` gives one-step-ahead predictions for every point that
  has enough history (from position ``start`` on), indexed by the date of the value
  predicted;
- ``forecast(h)`` gives the next h values after the data, with their future dates.

pandas in and out, dates kept; tensors only inside.

    rnnlab train --data stock:A --model lstm --out runs/a && rnnlab forecast --run runs/a
"""

from __future__ import annotations

import inspect
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError, NotFittedError


class BaseForecaster:
    """Shared contract: parameter introspection, input checks, future dates."""

    # How the forecaster is named in tables and predictions.csv columns.
    name = "forecaster"
    min_history = 1

    def __init__(self):
        """A forecaster without hyperparameters."""

    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(series) first"
            )

    def _remember_tail(self, series: pd.Series, keep: int) -> None:
        # Enough history to forecast and to infer the spacing of future dates.
        self.tail_ = series.iloc[-max(keep, 50):].copy()

    def set_history(self, series: pd.Series) -> None:
        """Make `forecast` continue after `series` by default (e.g. the data incl. test part)."""
        self._check_fitted()
        self._remember_tail(check_series(series, self.min_history), self.min_history)

    def _history(self, series: pd.Series | None) -> pd.Series:
        if series is None:
            self._check_fitted()
            return self.tail_
        return check_series(series, self.min_history)

    def forecast(self, horizon: int, series: pd.Series | None = None) -> pd.Series:
        """The next `horizon` values after `series` (default: the data seen in fit)."""
        self._check_fitted()
        horizon = check_forecast_work(self, horizon)
        history = self._history(series)
        values = self._forecast_values(history.to_numpy(np.float64), horizon)
        index = future_index(history.index, horizon)
        return pd.Series(values, index=index, name=f"{self.label()} forecast")

    def label(self) -> str:
        return self.name

    def paths_from(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """The `horizon`-step forecast from each origin o, made from values[:o] alone:
        (n_origins, horizon). Forecasters with a batched form override this loop."""
        self._check_fitted()
        rows = [self._forecast_values(values[:o], horizon) for o in np.asarray(origins)]
        return np.stack(rows) if rows else np.zeros((0, horizon))

    def interval_widths(self, horizon: int) -> np.ndarray | None:
        """Half-width of the interval at steps 1..horizon, in the series' units (None
        without one). Steps past the calibrated ones grow as the square root of the step,
        as a random walk's spread does."""
        widths = getattr(self, "interval_width_", None)
        if widths is None:
            return None
        widths = np.asarray(widths, dtype=np.float64)
        steps = np.arange(1, horizon + 1)
        known = len(widths)
        far = widths[-1] * np.sqrt(steps[known:] / known)
        return np.r_[widths, far][:horizon]

    def forecast_interval(self, horizon: int, series: pd.Series | None = None
                          ) -> pd.DataFrame:
        """`forecast` with the interval's lower and upper bounds, where there is one:
        columns forecast, lower, upper (the bounds NaN without an interval)."""
        point = self.forecast(horizon, series)
        widths = self.interval_widths(horizon)
        if widths is None:
            widths = np.full(horizon, np.nan)
        lower = point - widths
        trained = getattr(self, "train_range_", None)
        if trained is not None and trained[0] >= 0:
            # A series that never went below zero in training (counts, prices, rainfall)
            # gets no negative bound.
            lower = lower.clip(lower=0.0)
        return pd.DataFrame({"forecast": point, "lower": lower, "upper": point + widths},
                            index=point.index)


# One forecast step runs the network over a whole window, one recurrent step (about 15 us
# on one core in numpy) per value and layer: this many answer within about ten seconds.
MAX_FORECAST_STEPS = 600_000


def check_forecast_work(forecaster, horizon) -> int:
    """`horizon` as an int, or one line refusing it: not a whole number of at least 1, or
    one that would keep `forecast` busy for minutes. Each step runs a network over a whole
    window, so the work is horizon x seq_len x num_layers steps (a baseline's: horizon)."""
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(f"horizon must be a whole number of at least 1, got {horizon!r}; "
                          "pass e.g. forecast(10) (--horizon 10)")
    horizon = int(horizon)
    window = max(1, int(getattr(forecaster, "seq_len", 1) or 1))
    layers = max(1, int(getattr(forecaster, "num_layers", 1) or 1))
    steps = horizon * window * layers
    if steps > MAX_FORECAST_STEPS:
        most = max(1, MAX_FORECAST_STEPS // (window * layers))
        raise ConfigError(
            f"--horizon {horizon} needs {steps:,} recurrent steps (horizon x seq_len "
            f"{window} x {layers} layer(s)), over the {MAX_FORECAST_STEPS:,} a forecast may "
            f"take so that it answers in seconds; ask for --horizon {most} or fewer")
    return horizon


def assign_params(obj, params: dict, parameters: dict[str, inspect.Parameter]) -> None:
    """Store keyword `params` on `obj`: each of `parameters` given, or its default. An
    unknown name is refused by name, with the valid ones."""
    unknown = sorted(set(params) - set(parameters))
    if unknown:
        raise ConfigError(f"unknown {type(obj).__name__} parameter {unknown[0]!r}; valid "
                          f"names are {', '.join(parameters)}")
    for name, parameter in parameters.items():
        setattr(obj, name, params.get(name, parameter.default))


def conformal_widths(errors: np.ndarray, level: float) -> np.ndarray | None:
    """Split-conformal half-widths per step from calibration errors (n_origins, H).

    The k-th smallest absolute error with k = ceil((n + 1) * level) covers a new error
    with probability at least `level` when errors are exchangeable. None when there are
    too few origins for that rank (fewer than level / (1 - level)).

    >>> conformal_widths(np.arange(1.0, 10.0)[:, None], 0.8).tolist()
    [8.0]
    """
    errors = np.abs(np.asarray(errors, dtype=np.float64))
    n = len(errors)
    k = int(np.ceil((n + 1) * level - 1e-9))
    if level <= 0 or n == 0 or k > n:
        return None
    return np.sort(errors, axis=0)[k - 1]


def non_decreasing(values, weights) -> np.ndarray:
    """The weighted least-squares fit to `values` that never decreases (pool adjacent
    violators): each run of steps that would fall is replaced by its weighted mean.

    >>> non_decreasing([1.0, 3.0, 2.0, 4.0], [1, 1, 1, 1]).tolist()
    [1.0, 2.5, 2.5, 4.0]
    """
    blocks: list[list[float]] = []  # [weighted mean, weight, steps]
    for value, weight in zip(np.asarray(values, dtype=np.float64),
                             np.asarray(weights, dtype=np.float64), strict=True):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, w2, n2), (m1, w1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, _, n in blocks]) if blocks else \
        np.zeros(0)


def smooth_widths(values, weights) -> np.ndarray:
    """`non_decreasing`, without its stairs: each pooled run's mean sits at the run's
    middle step and the steps between are interpolated linearly (flat before the first
    middle and after the last). Still never decreasing; a quarterly interval no longer
    stays flat for three steps and then jumps.

    >>> smooth_widths([1.0, 3.0, 2.0, 4.0], [1, 1, 1, 1]).tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    pooled = non_decreasing(values, weights)
    if len(pooled) < 2:
        return pooled
    starts = np.flatnonzero(np.r_[True, np.diff(pooled) != 0])
    if len(starts) < 2:
        return pooled  # one pooled run: one width
    ends = np.r_[starts[1:], len(pooled)]
    centres = (starts + ends - 1) / 2.0
    levels = pooled[starts]
    steps = np.arange(len(pooled), dtype=np.float64)
    out = np.interp(steps, centres, levels)
    # Before the first middle and after the last, the neighbouring slope goes on (a run's
    # mean stays at its middle), never below half the first run's width.
    first = (levels[1] - levels[0]) / (centres[1] - centres[0])
    last = (levels[-1] - levels[-2]) / (centres[-1] - centres[-2])
    head, tail = steps < centres[0], steps > centres[-1]
    out[head] = np.maximum(levels[0] + first * (steps[head] - centres[0]), 0.5 * levels[0])
    out[tail] = levels[-1] + last * (steps[tail] - centres[-1])
    return out


def interval_width_from_meta(meta: dict) -> np.ndarray | None:
    """The stored interval half-widths of a checkpoint (None without), or ValueError."""
    widths = meta.get("interval_width")
    if widths is None:
        return None
    widths = np.asarray(widths, dtype=np.float64)
    if widths.ndim != 1 or not len(widths) or not (np.isfinite(widths) & (widths >= 0)).all():
        raise ValueError("interval_width must be a list of non-negative numbers")
    return widths


class WindowForecaster(BaseForecaster):
    """A network forecaster: named after its model, it needs `seq_len` values of history."""

    model: str
    seq_len: int

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.seq_len

    def label(self) -> str:
        return self.model



def far_outside(values, train_range) -> bool:
    """Whether any value lies beyond the training range widened by its span on each side:
    further than the data the model learnt from ever moved.

    >>> far_outside([5.0, 31.0], (10.0, 20.0)), far_outside([1.0, 29.0], (10.0, 20.0))
    (True, False)
    """
    if train_range is None:
        return False
    lo, hi = train_range
    span = hi - lo
    values = np.asarray(values, dtype=np.float64)
    return bool((values < lo - span).any() or (values > hi + span).any())


def check_series(series, min_length: int = 1, name: str | None = None) -> pd.Series:
    """A float Series with finite values, or a DataError that says what is wrong."""
    if isinstance(series, pd.DataFrame):
        if series.shape[1] != 1:
            raise DataError(
                f"expected one column, got a DataFrame with columns {list(series.columns)}; "
                "pass frame['column']"
            )
        series = series.iloc[:, 0]
    if not isinstance(series, pd.Series):
        series = pd.Series(np.asarray(series))
    name = name or str(series.name or "series")
    try:
        values = series.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} has non-numeric values; convert it with pd.to_numeric") \
            from None
    bad = ~np.isfinite(values)
    if bad.any():
        where = series.index[bad][:5].tolist()
        raise DataError(
            f"{name} has {bad.sum()} NaN or infinite values (at {where}); fill or drop them "
            "first, e.g. series.interpolate()"
        )
    largest = float(np.max(np.abs(values))) if len(values) else 0.0
    if 0 < largest < 1 / MAX_MAGNITUDE:
        raise DataError(
            f"{name} has no value beyond ±{1 / MAX_MAGNITUDE:.0e} (the largest is "
            f"{largest:.3g}), where squares vanish and no scale can be fitted; rescale it, "
            "e.g. multiply it by a power of ten")
    huge = np.abs(values) > MAX_MAGNITUDE
    if huge.any():
        first = int(np.flatnonzero(huge)[0])
        raise DataError(
            f"{name} has {huge.sum()} values beyond ±{MAX_MAGNITUDE:.0e} (first {values[first]:.3g}"
            f" at {series.index[first]}), where sums of squares overflow; rescale it, e.g. "
            "divide it by a power of ten"
        )
    if len(values) < min_length:
        raise DataError(f"{name} has {len(values)} values; at least {min_length} are needed")
    return in_time_order(pd.Series(values, index=series.index, name=series.name), name)


def in_time_order(data, name: str):
    """`data` (a Series or DataFrame) sorted by its dates, oldest first, as the CLI sorts a
    CSV's rows; a DataError when a date repeats. Only dates, periods and numbers are
    sorted: any other index is taken to be in time order already.

    >>> shuffled = pd.Series([2.0, 1.0], index=pd.to_datetime(["2020-01-02", "2020-01-01"]))
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     in_time_order(shuffled, "x").tolist()
    [1.0, 2.0]
    """
    index = data.index
    ordered = isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex)) or \
        pd.api.types.is_numeric_dtype(index.dtype)
    if not ordered or (isinstance(index, pd.RangeIndex) and index.step > 0):
        return data
    if index.has_duplicates:
        repeated = index[index.duplicated(keep=False)]
        first = repeated[0]
        shown = first.date() if isinstance(first, pd.Timestamp) and first == first.normalize() \
            else first
        count = int((index == first).sum())
        raise DataError(
            f"{name} repeats dates: {shown} appears {count} times ({len(repeated)} values "
            "share a date); keep one value per date, e.g. "
            "series.groupby(level=0).mean()"
        )
    if not index.is_monotonic_increasing:
        warnings.warn(f"{name} was not in time order: sorted it by its dates, oldest first",
                      UserWarning, stacklevel=_outside_rnnlab())
        data = data.sort_index(kind="stable")
    return data


def _outside_rnnlab() -> int:
    """The stack level of the first caller outside this package, so a warning points at
    the user's line."""
    package = str(Path(__file__).parent)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level



# Squares of values up to 1e100, summed over millions of rows, stay finite in float64.
MAX_MAGNITUDE = 1e100



def future_index(index: pd.Index, horizon: int) -> pd.Index:
    """Dates (or time steps) of the `horizon` points after `index`.

    Trading days (weekdays with holidays missing) continue as business days; other dates
    continue at their inferred frequency or median spacing; numbers at their median step.
    """
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 2:
        freq = index.freq or (infer_freq(index[-50:]) if len(index) >= 3 else None)
        if freq is None and (index[-50:].day_of_week < 5).all():
            freq = "B"
        if freq is None:
            freq = pd.Series(index[-50:]).diff().median()
        return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:].rename(index.name)
    if len(index) >= 2 and pd.api.types.is_numeric_dtype(index):
        step = float(np.median(np.diff(np.asarray(index[-50:], dtype=np.float64))))
        values = index[-1] + step * np.arange(1, horizon + 1)
        if pd.api.types.is_integer_dtype(index) and float(step).is_integer():
            return pd.Index(values.astype(np.int64), name=index.name)
        return pd.Index(np.round(values, 10), name=index.name)
    return pd.RangeIndex(len(index), len(index) + horizon, name=index.name)



def infer_freq(index: pd.DatetimeIndex):
    with warnings.catch_warnings():
        # pandas 3 announces an offset instead of a string; date_range takes either.
        warnings.simplefilter("ignore", DeprecationWarning)
        return pd.infer_freq(index)



def tail_from_meta(meta: dict, values: np.ndarray) -> pd.Series:
    """The remembered end of the series, with its dates, as `Forecaster.save` stored it;
    ValueError unless its index holds one increasing date (or number) per value."""
    kind, raw = meta["index_kind"], meta["tail_index"]
    if not isinstance(raw, list) or len(raw) != len(values):
        raise ValueError(f"tail_index must list {len(values)} dates or numbers, one per "
                         "stored value")
    if kind == "datetime":
        if not all(isinstance(item, str) for item in raw):
            raise ValueError("tail_index must hold dates as text")
        try:
            dates = pd.to_datetime(raw)
        except (ValueError, TypeError, OverflowError) as exc:  # OutOfBounds is a ValueError
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ValueError(f"tail_index holds text that is not a date ({first})") from None
        index = pd.DatetimeIndex(dates, name=meta["index_name"])
    elif kind == "numeric":
        numbers = all(isinstance(item, int | float) and not isinstance(item, bool)
                      for item in raw)
        if not numbers or not np.isfinite(np.asarray(raw, dtype=np.float64)).all():
            raise ValueError("tail_index must hold finite numbers for a numeric index")
        raw = np.asarray(raw, dtype=np.float64)
        index = pd.Index(raw.astype(np.int64) if meta["tail_index_is_int"] is True else raw,
                         name=meta["index_name"])
    else:
        raise ValueError(f"index_kind {kind!r} is neither datetime nor numeric")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise ValueError("tail_index must increase from one value to the next")
    return pd.Series(values, index=index, name=meta["series_name"])


# Level shifts: two errors in a row of one sign beyond 4 validation RMS happen by chance
# about once in 10^9 Gaussian steps; a drop of 20 RMS is caught after two steps.
LEVEL_SIGMAS = 4.0
LEVEL_RUN = 2
# ... and from the second step on, the model's error must be twice naive's: a steep rise
# of a cycle (sunspots) surprises next = last too, a level shift does so only once.
LEVEL_NAIVE = 2.0
# Steps a shift is tried before it is kept (and refined) or dropped.
LEVEL_SETTLE = 10


def error_scale_from_meta(meta: dict) -> float | None:
    """The stored validation RMS of a checkpoint (None before it was kept), or ValueError."""
    scale = meta.get("error_scale")
    if scale is None:
        return None
    scale = float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"error_scale {scale} is not a positive number")
    return scale


def tail_offsets_from_meta(meta: dict, n_tail: int) -> np.ndarray | None:
    """The stored level shifts of a checkpoint's tail (None before they were kept)."""
    offsets = meta.get("tail_offsets")
    if offsets is None:
        return None
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.shape != (n_tail,) or not np.isfinite(offsets).all():
        raise ValueError(f"tail_offsets must be {n_tail} finite numbers")
    return offsets


def track_level(values: np.ndarray, seq_len: int, scale: float | None,
                predict_all, events: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-step predictions that follow an abrupt level shift, and the shift they took out.

    ``predict_all(values, seq_len)`` gives the model's predictions for values[seq_len:]
    (one per window); `seq_len` is the first position predicted (shifts are looked for
    from there on); ``scale`` is the RMS of its validation errors (None: no tracking). A shift shows
    as LEVEL_RUN errors in a row of one sign, each beyond LEVEL_SIGMAS * scale, the later ones
    also beyond LEVEL_NAIVE times the error of next = last, after a step within it. From then
    on the values after the shift's first step are moved back by its first error, the model
    predicts on that series and the shift is added back: a model fitted on the old level
    (standard scaling) or with the jump inside its window (window) sees the inputs it
    knows. LEVEL_SETTLE steps later the shift is kept, refined by the mean error since,
    only if it beat no shift there.
    Every decision uses errors on values before the one predicted.

    Returns (predictions (n - seq_len,), offsets (n,): the shift taken out of each value).
    ``events``, when given, receives each change as (known_at, first_position, amount): a
    forecast from origin o (values[:o] known) takes out the changes with known_at <= o.

    Examples
    --------
    >>> values = np.r_[np.zeros(40), np.full(30, -5.0)] + np.tile([0.1, -0.1], 35)
    >>> old_level = lambda v, first: np.full(len(v) - first, 0.0)  # knows one level only
    >>> pred, offsets = track_level(values, 3, 0.1, old_level)
    >>> float(pred[-1]), float(offsets[-1])
    (-5.0, -5.0)
    """
    n = len(values)
    offsets = np.zeros(n)
    pred = predict_all(values, seq_len)  # pred[j] is for values[seq_len + j]
    if not scale or n <= seq_len:
        return pred, offsets

    def shifted(first: int) -> np.ndarray:
        # Predictions from position `first` on (those before it stay), made at the old
        # level, put back at that of each window's last value.
        if first >= n:
            return pred
        moved = predict_all(values - offsets, first) + offsets[first - 1:-1]
        return np.r_[pred[:first - seq_len], moved]

    start = seq_len  # the first position whose error may open a shift
    while True:
        error = values[seq_len:] - pred
        big = np.abs(error) > LEVEL_SIGMAS * scale
        behind = big & (np.abs(error) > LEVEL_NAIVE * np.abs(np.diff(values[seq_len - 1:])))
        width = len(big) - LEVEL_RUN + 1  # where a run can start
        run = big[:width].copy()
        for i in range(1, LEVEL_RUN):
            run &= behind[i:i + width] & (np.sign(error[i:i + width]) == np.sign(error[:width]))
        # A shift is a change from a step the model got right: with no such step before it
        # (the values start after the shift) its start, and so its size, is unknown.
        run[0] = False
        run[1:] &= ~big[:width - 1]
        found = np.flatnonzero(run[start - seq_len:])
        if not len(found):
            return pred, offsets
        at = start + int(found[0])  # the shift's first position
        before, kept = pred, offsets.copy()
        offsets[at:] += error[at - seq_len]
        resume = at + LEVEL_RUN
        if events is not None:
            events.append((resume, at, float(error[at - seq_len])))
        pred = shifted(resume)
        settled = resume + LEVEL_SETTLE
        if settled >= n:
            return pred, offsets
        steps = slice(resume - seq_len, settled - seq_len)
        shifted_error = values[resume:settled] - pred[steps]
        if np.sum(shifted_error**2) < np.sum((values[resume:settled] - before[steps]) ** 2):
            change = float(np.mean(shifted_error))
            offsets[at:] += change
        else:
            change = -float(error[at - seq_len])
            offsets = kept
        if events is not None:
            events.append((settled, at, change))
        pred = shifted(settled)
        start = settled

