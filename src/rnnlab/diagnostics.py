"""Is this series predictable at all? Statistical evidence, from statsmodels.

    rnnlab inspect --data stock:A
"""

from __future__ import annotations

import warnings

import numpy as np


def adf_pvalue(values: np.ndarray) -> float:
    """p-value of the augmented Dickey-Fuller test: small means no unit root.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> adf_pvalue(rng.standard_normal(500)) < 0.01
    True
    """
    from statsmodels.tools.sm_exceptions import SingularMatrixWarning
    from statsmodels.tsa.stattools import adfuller

    with warnings.catch_warnings():
        # statsmodels announces a change of its return type; we read only the p-value.
        warnings.simplefilter("ignore", FutureWarning)
        # Exact recurrences (the `complex` signal) make some lag regressions singular;
        # the test's answer is still defined and correct.
        warnings.simplefilter("ignore", SingularMatrixWarning)
        result = adfuller(np.asarray(values, dtype=np.float64), autolag="AIC")
    return float(result[1])


def find_period(values: np.ndarray, max_period: int | None = None,
                alpha: float = 0.01) -> int | None:
    """The dominant period in samples, or None when no period stands out from noise.

    A series with a unit root is differenced first, so a random walk has no period. The
    periodogram's highest peak must pass Fisher's g test at `alpha` and the
    autocorrelation at that lag must be positive.

    Examples
    --------
    >>> t = np.arange(600)
    >>> find_period(np.sin(2 * np.pi * t / 50))
    50
    """
    from scipy.signal import detrend, periodogram
    from statsmodels.tsa.stattools import acf

    x = np.asarray(values, dtype=np.float64)
    if len(x) < 16 or np.ptp(x) == 0:
        return None
    if adf_pvalue(x) > 0.05:
        x = np.diff(x)
    x = detrend(x)
    n = len(x)
    max_period = max_period or n // 3
    freqs, power = periodogram(x)
    keep = freqs >= 1.0 / max_period
    freqs, power = freqs[keep], power[keep]
    if power.sum() <= 0:
        return None
    m = len(power)
    g = power.max() / power.sum()
    # Fisher's exact test for the largest periodogram ordinate, first term of the series.
    p_value = min(1.0, m * (1.0 - g) ** (m - 1))
    if p_value > alpha:
        return None
    period = int(round(1.0 / freqs[np.argmax(power)]))
    correlations = acf(x, nlags=min(n - 1, period + 3), fft=True)
    # The periodogram's frequency grid is coarse; settle on the best nearby lag.
    lo, hi = max(2, period - 3), min(len(correlations) - 1, period + 3)
    if hi < lo:
        return None
    best = lo + int(np.argmax(correlations[lo:hi + 1]))
    if correlations[best] <= 2.0 / np.sqrt(n):
        return None
    return best
