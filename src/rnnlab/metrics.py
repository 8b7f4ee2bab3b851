"""Forecast errors in the series' own units. Every metric takes (y_true, y_pred), in order.

    rnnlab train --data stock:A --out runs/a   # writes metrics.json with all of these
"""

from __future__ import annotations

import numpy as np

METRICS = ("rmse", "mae", "mape", "smape", "mase")


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has {p.shape}")
    return t, p


def rmse(y_true, y_pred) -> float:
    """Root mean squared error.

    >>> rmse([1, 2, 3], [1, 2, 5])
    1.1547005383792515
    """
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error.

    >>> mae([1, 2, 3], [1, 2, 5])
    0.6666666666666666
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error, in percent, over the points where y_true is not 0.

    Points with y_true == 0 have no defined percentage error and are left out; NaN when
    all of them are 0.

    >>> mape([100, 0, 200], [110, 5, 180])
    10.0
    """
    t, p = _pair(y_true, y_pred)
    keep = t != 0
    if not keep.any():
        return float("nan")
    with np.errstate(over="ignore"):  # a tiny target can make one ratio inf; so be it
        return float(100 * np.mean(np.abs((t[keep] - p[keep]) / t[keep])))


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in percent, 0..200: 2|y - yhat| / (|y| + |yhat|); 0/0 counts as 0.

    >>> smape([100, 0], [100, 0])
    0.0
    >>> smape([1], [3])
    100.0
    """
    t, p = _pair(y_true, y_pred)
    denom = np.abs(t) + np.abs(p)
    ratio = np.divide(2 * np.abs(t - p), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100 * np.mean(ratio))


def mase(y_true, y_pred, y_train, period: int = 1) -> float:
    """Mean absolute scaled error: MAE over the in-sample MAE of the (seasonal) naive.

    Below 1 beats what repeating the value `period` steps back achieved on the training
    part.

    >>> mase([3, 4], [3, 5], y_train=[0, 1, 2, 3])
    0.5
    """
    t, p = _pair(y_true, y_pred)
    train = np.asarray(y_train, dtype=np.float64)
    if len(train) <= period:
        return float("nan")
    scale = np.mean(np.abs(train[period:] - train[:-period]))
    if scale == 0:
        return float("nan")
    return float(np.mean(np.abs(t - p)) / scale)


def score(y_true, y_pred, y_train) -> dict[str, float]:
    """All metrics as a dict; MASE is scaled by the one-step naive MAE on `y_train`."""
    return {
        "rmse": rmse(y_true, y_pred),
        "mae": mae(y_true, y_pred),
        "mape": mape(y_true, y_pred),
        "smape": smape(y_true, y_pred),
        "mase": mase(y_true, y_pred, y_train),
    }
