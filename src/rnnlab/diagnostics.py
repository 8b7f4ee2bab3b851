"""Is this series predictable at all? Statistical evidence, from statsmodels.

    rnnlab inspect --data stock:A
    rnnlab inspect --data sine --json
    rnnlab inspect --data prices.csv --target close --out runs/prices-inspect

`inspect(series)` runs the tests (Ljung-Box, ADF, KPSS), reads the autocorrelation and
the periodogram, and turns them into one verdict from a fixed vocabulary with the numbers
that support it. On a long series it reads the latest 100,000 points (ADF the latest
10,000) and says so, so that millions of rows answer in seconds. Every test is
statsmodels' (Ljung-Box computed from its FFT autocorrelations). What train asks on every
run (ADF for `--scaler auto`, `find_period` for the seasonal-naive baseline) is computed
by numpy twins of the statsmodels and scipy functions, checked against them in the tests:
the two libraries take seconds to import, longer than a default training run. They load
only inside `inspect` and the functions it alone calls.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .base import in_time_order
from .errors import DataError
from .threads import on_one_blas_thread

VERDICTS = ("white_noise", "random_walk", "trend", "seasonal", "stationary")
# Significance level of every test behind a verdict.
ALPHA = 0.05
# A periodogram peak must pass this level against red noise to count as a period: strict,
# because a false season makes the seasonal-naive baseline and the verdict both wrong.
PERIOD_ALPHA = 0.01
# Below this a series is too short for ADF / KPSS / 40-lag autocorrelations to mean much.
MIN_LENGTH = 30
# Changes whose autocorrelations (lags 1-10) square-sum below this are at most ~5%
# predictable: on a series with a unit root that is a random walk for any practical model.
RW_PREDICTABLE_SHARE = 0.05
# Share of the variance a straight line must explain before the verdict says "trend".
MIN_TREND_R2 = 0.5
# A single change this many robust standard deviations of the changes is called out.
LEVEL_SHIFT_SIZE = 8
# Horizon q of the variance ratio var(x_t - x_{t-q}) / (q var(x_t - x_{t-1})).
VR_HORIZON = 10
# inspect tests the latest this many points: Ljung-Box, the partial autocorrelations and
# the refined periodogram grow faster than the series (statsmodels' Ljung-Box is quadratic:
# hours on 5 million points), and 100,000 points resolve every lag and period a model's
# window could use. The summary line still reads every point.
INSPECT_MAX_POINTS = 100_000
# Series with values beyond this size, or all below its inverse, are first scaled by a
# power of two: squares of 1e200 overflow and squares of 1e-300 vanish inside statsmodels
# (a flood of warnings, then NaN lags). Series in between are tested exactly as given.
SAFE_MAGNITUDE = 1e100


def adf_pvalue(values: np.ndarray, regression: str = "c") -> float:
    """p-value of the augmented Dickey-Fuller test: small means no unit root.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> adf_pvalue(rng.standard_normal(500)) < 0.01
    True
    """
    return _adf(values, regression).p_value


def _memo(test):
    """Remember a statistic per (values, other arguments): one fit asks the same question
    of the same training part from several places (the window, the scaler, seasonal naive),
    and compare and demo once per model and seed; ADF's lag search costs tens of
    regressions each time. Computed on one BLAS thread (`rnnlab.threads`)."""
    found: dict = {}
    limited = on_one_blas_thread(test)

    @functools.wraps(test)
    def cached(values: np.ndarray, *args):
        x = np.ascontiguousarray(values, dtype=np.float64)
        key = (hashlib.blake2b(x.tobytes(), digest_size=16).digest(), len(x), args)
        if key not in found:
            if len(found) > 512:
                found.clear()
            found[key] = limited(x, *args)
        return found[key]

    return cached


# ADF's lag search fits one regression per lag over every point, and its largest lag grows
# with the length: on 1.4 million points that is hours and gigabytes (measured 2.4 s on
# 10,000 points, one thread, growing faster than linearly). The latest 10,000 decide as well.
ADF_MAX_POINTS = 10_000


@_memo
def _adf(values: np.ndarray, regression: str = "c") -> HypothesisTest:
    # statsmodels' adfuller(x, regression=regression, autolag="AIC"), done here in numpy:
    # importing statsmodels and scipy costs more than a default training run, and
    # `--scaler auto` asks this on every train. tests/test_adf_numpy.py checks both agree.
    statistic, lags = _adf_regression(np.asarray(values, dtype=np.float64)[-ADF_MAX_POINTS:],
                                      regression)
    p_value = _mackinnon_p(statistic, regression)
    null = "unit root" if regression == "c" else "unit root (around a linear trend)"
    return HypothesisTest(statistic, p_value, lags, null)


def _adf_regression(x: np.ndarray, regression: str) -> tuple[float, int]:
    """ADF statistic and lag count: the changes regressed on the lagged level, the trend
    terms and 0..maxlag lagged changes, the lag count chosen by the smallest AIC over the
    same rows (Schwert's maxlag, as in statsmodels' adfuller)."""
    if x.max() == x.min():
        raise ValueError("Invalid input, x is constant")
    n_trend = 0 if regression == "n" else len(regression)
    maxlag = min(len(x) // 2 - n_trend - 1, int(np.ceil(12.0 * np.power(len(x) / 100.0, 0.25))))
    if maxlag < 0:
        raise ValueError("sample size is too short to use selected regression component")
    changes = np.diff(x)
    # An exact recurrence (the `complex` signal) fits with no residual: AIC -inf is right.
    with np.errstate(divide="ignore", invalid="ignore"):
        design, target = _adf_design(x, changes, maxlag)
        full = _with_trend(design, regression, prepend=True)
        start = full.shape[1] - design.shape[1] + 1  # first column count holding the level
        _, best = min((_ols(target, full[:, :k])[0], k) for k in range(start, start + maxlag + 1))
        lags = best - start
        design, target = _adf_design(x, changes, lags)
        statistic = _ols(target, _with_trend(design, regression, prepend=False))[1]
    return float(statistic), lags


def _adf_design(x: np.ndarray, changes: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, 1 + lags): the lagged level, then changes 1..lags back; and the changes."""
    rows = len(changes) - lags
    design = np.empty((rows, lags + 1))
    design[:, 0] = x[-rows - 1:-1]
    for lag in range(1, lags + 1):
        design[:, lag] = changes[lags - lag:len(changes) - lag]
    return design, changes[-rows:]


def _with_trend(design: np.ndarray, regression: str, prepend: bool) -> np.ndarray:
    """The design with a constant ("c"), and a linear ("ct") or quadratic ("ctt") trend;
    as statsmodels' add_trend, no constant when a column already is a nonzero constant."""
    if regression == "n":
        return design.copy()
    terms = np.fliplr(np.vander(np.arange(1, len(design) + 1, dtype=np.float64),
                                len(regression)))
    if np.any((np.ptp(design, axis=0) == 0) & (design[0] != 0)):
        terms = terms[:, 1:]
    return np.column_stack([terms, design] if prepend else [design, terms])


def _ols(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """(AIC, t-value of the first coefficient) of least squares of y on x, computed as
    statsmodels' OLS(y, x).fit() does: by pseudo-inverse, singular values below 1e-15 of
    the largest dropped, AIC counting the design's rank."""
    u, s, vt = np.linalg.svd(x, False)
    rank = np.linalg.matrix_rank(np.diag(s))
    inverse = np.where(s > 1e-15 * np.maximum.reduce(s), 1.0 / s, 0.0)
    pinv = np.dot(np.transpose(vt), np.multiply(inverse[:, np.newaxis], np.transpose(u)))
    beta = np.dot(pinv, y)
    resid = y - np.dot(x, beta)
    nobs = float(len(y))
    half = nobs / 2.0
    llf = -half * np.log(2 * np.pi) - half * np.log(np.sum(resid**2) / nobs) - half
    scale = np.dot(resid, resid) / (nobs - rank)
    t_first = beta[0] / np.sqrt(np.dot(pinv, np.transpose(pinv))[0, 0] * scale)
    return -2 * llf + 2 * float(rank), t_first


# --- numpy twins of the statsmodels and scipy functions that train needs ------------------
# `--scaler auto` (ADF) and the seasonal-naive baseline (find_period: ADF, KPSS, detrend,
# periodogram, autocorrelations) run on every train, and importing scipy and statsmodels
# costs more than a default training run. Each twin repeats its original's arithmetic: on
# every series of tests/test_numpy_statistics.py they agree bit for bit, but for MacKinnon's
# p-value (math.erfc in place of scipy's normal CDF: within 4e-14 relative).


def _ols_residuals(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Residuals of least squares of y on x: statsmodels' OLS(y, x).fit().resid (by
    pseudo-inverse, singular values below 1e-15 of the largest dropped)."""
    u, s, vt = np.linalg.svd(x, False)
    inverse = np.where(s > 1e-15 * np.maximum.reduce(s), 1.0 / s, 0.0)
    pinv = np.dot(np.transpose(vt), np.multiply(inverse[:, np.newaxis], np.transpose(u)))
    return y - np.dot(x, np.dot(pinv, y))


def _autocovariance_sum(resids: np.ndarray, lag: int) -> float:
    """sum_t e_t e_{t-lag}, the unscaled autocovariance of the residuals at one lag."""
    return np.dot(resids[lag:], resids[:len(resids) - lag])


def _kpss_lags(resids: np.ndarray) -> int:
    """KPSS's automatic lag count (Hobijn et al. 1998), as statsmodels' _kpss_autolag."""
    n = len(resids)
    covlags = int(np.power(n, 2.0 / 9.0))
    s0 = np.sum(resids**2) / n
    s1 = 0
    for lag in range(1, covlags + 1):
        covariance = _autocovariance_sum(resids, lag) / (n / 2.0)
        s0 += covariance
        s1 += lag * covariance
    ratio = s1 / s0
    gamma = 1.1447 * np.power(ratio * ratio, 1.0 / 3.0)
    return int(gamma * np.power(n, 1.0 / 3.0))


def _long_run_variance(resids: np.ndarray, lags: int) -> float:
    """Newey-West long-run variance with Bartlett weights, as statsmodels' _sigma_est_kpss."""
    total = np.sum(resids**2)
    for lag in range(1, lags + 1):
        total += 2 * _autocovariance_sum(resids, lag) * (1.0 - (lag / (lags + 1.0)))
    return total / len(resids)


# KPSS critical values at 10%, 5%, 2.5% and 1% (Kwiatkowski, Phillips, Schmidt and Shin
# 1992), as statsmodels uses them: the p-value is interpolated between them, and held at
# 0.10 or 0.01 beyond the table's ends.
KPSS_P_VALUES = [0.10, 0.05, 0.025, 0.01]
KPSS_CRITICAL = {"c": [0.347, 0.463, 0.574, 0.739], "ct": [0.119, 0.146, 0.176, 0.216]}


def _kpss_p(statistic: float, regression: str) -> float:
    """KPSS p-value interpolated in the critical-value table, as statsmodels' kpss."""
    return float(np.interp(statistic, KPSS_CRITICAL[regression], KPSS_P_VALUES))


# MacKinnon (1994), "Approximate asymptotic distribution functions for unit-root and
# cointegration tests", J. Business and Economic Statistics 12(2), 167-176, for one
# variable (N = 1): the tau statistic's p-value is Phi(polynomial in tau), one polynomial
# for the left tail (tau <= tau_star) and one for the rest, and 0 or 1 beyond tau_min and
# tau_max. The coefficients are the published figures, some of them scaled up; the scales
# below restore them with the same floating-point products as statsmodels' mackinnonp.
MACKINNON_TAU = {  # regression: (tau_star, tau_min, tau_max)
    "n": (-1.04, -19.04, math.inf),
    "c": (-1.61, -18.83, 2.74),
    "ct": (-2.89, -16.18, 0.7),
    "ctt": (-3.21, -17.17, 0.54),
}
MACKINNON_SMALL_P = {  # gamma_0, gamma_1, gamma_2 * 100
    "n": [0.6344, 1.2378, 3.2496],
    "c": [2.1659, 1.4412, 3.8269],
    "ct": [3.2512, 1.6047, 4.9588],
    "ctt": [4.0003, 1.658, 4.8288],
}
MACKINNON_LARGE_P = {  # gamma_0, gamma_1 * 10, gamma_2 * 10, gamma_3 * 100
    "n": [0.4797, 9.3557, -0.6999, 3.3066],
    "c": [1.7339, 9.3202, -1.2745, -1.0368],
    "ct": [2.5261, 6.1654, -3.7956, -6.0285],
    "ctt": [3.0778, 4.9529, -4.1477, -5.9359],
}
MACKINNON_SMALL_SCALE = np.array([1, 1, 1e-2])
MACKINNON_LARGE_SCALE = np.array([1, 1e-1, 1e-1, 1e-2])


def _normal_cdf(z: float) -> float:
    """Standard normal CDF, as scipy.stats.norm.cdf (within 4e-14 relative for z >= -12,
    beyond the -11.4 that MacKinnon's polynomials reach)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _mackinnon_p(statistic: float, regression: str) -> float:
    """ADF p-value of a tau statistic: statsmodels' mackinnonp(statistic, regression, N=1)."""
    tau_star, tau_min, tau_max = MACKINNON_TAU[regression]
    if statistic > tau_max:
        return 1.0
    if statistic < tau_min:
        return 0.0
    if statistic <= tau_star:
        coefficients = np.asarray(MACKINNON_SMALL_P[regression]) * MACKINNON_SMALL_SCALE
    else:
        coefficients = np.asarray(MACKINNON_LARGE_P[regression]) * MACKINNON_LARGE_SCALE
    return _normal_cdf(float(np.polyval(coefficients[::-1], statistic)))


def _fft_length(target: int) -> int:
    """The smallest 2^a 3^b 5^c >= target: the FFT length statsmodels' acovf pads to."""
    best = 1 << (target - 1).bit_length()  # the power of two
    fives = 1
    while fives < best:
        odd = fives  # runs over 3^b 5^c
        while odd < best:
            twos = 1 << (-(-target // odd) - 1).bit_length()  # least with odd * twos >= target
            best = min(best, odd * twos)
            odd *= 3
        fives *= 5
    return best


def _acf(x: np.ndarray, nlags: int) -> np.ndarray:
    """Autocorrelations at lags 0..nlags: statsmodels' acf(x, nlags=nlags, fft=True)."""
    n = len(x)
    centred = x - x.mean()
    spectrum = np.fft.fft(centred, n=_fft_length(2 * n + 1))
    autocovariance = (np.fft.ifft(spectrum * np.conjugate(spectrum))[:n] / n).real
    return autocovariance[:nlags + 1] / autocovariance[0]


# The peak of the periodogram is refined on a grid this many times finer.
REFINE = 16
# Values per block of the direct transform in `_power_near`: (2 REFINE + 1) x this many
# complex numbers, 34 MB, whatever the series' length.
NEAR_BLOCK = 1 << 16


def _power_near(x: np.ndarray, k: int, refine: int) -> tuple[np.ndarray, np.ndarray]:
    """The frequencies j / (refine n) within 1/n of k / n, and x's power there: what
    `_power_spectrum(x, refine * n)` gives at them, computed directly (a sum per frequency
    over the series, in blocks). The padded FFT took 8 GB and 44 s on 3.5 million points,
    where a length with a large prime factor sends it to Bluestein's algorithm."""
    n = len(x)
    nfft = refine * n
    # As np.fft.rfftfreq computes both grids, so that the same points count as near.
    j = np.arange(max(0, refine * (k - 1) - 1), min(nfft // 2, refine * (k + 1) + 1) + 1)
    j = j[np.abs(j * (1.0 / nfft) - k * (1.0 / n)) <= 1.0 / n]
    freqs = j * (1.0 / nfft)
    centred = (x - np.mean(x)) * (1 / np.sqrt(float(n)))
    block = min(NEAR_BLOCK, n)
    turn = np.exp(-2j * np.pi * np.outer(freqs, np.arange(block)))  # (frequencies, block)
    total = np.zeros(len(freqs), dtype=np.complex128)
    for start in range(0, n, block):
        part = centred[start:start + block]
        total += np.exp(-2j * np.pi * freqs * start) * (turn[:, :len(part)] @ part)
    power = total.real**2 + total.imag**2
    power[(j > 0) & (2 * j < nfft)] *= 2  # both signs of each frequency but 0 and nfft/2
    return freqs, power


def _power_spectrum(x: np.ndarray, nfft: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, one-sided power density) of x with its mean removed, zero-padded to
    nfft: scipy.signal.periodogram(x, nfft=nfft) with its defaults (boxcar, fs = 1)."""
    nfft = nfft or len(x)
    spectrum = np.fft.rfft((x - np.mean(x)) * (1 / np.sqrt(float(len(x)))), n=nfft)
    power = spectrum.real**2 + spectrum.imag**2
    power[1:-1 if nfft % 2 == 0 else None] *= 2  # both signs of each frequency but 0, nfft/2
    return np.fft.rfftfreq(nfft, 1.0), power


@on_one_blas_thread
def _detrend(x: np.ndarray) -> np.ndarray:
    """x less its least-squares line: scipy.signal.detrend(x) (type "linear")."""
    n = len(x)
    line = np.ones((n, 2))
    line[:, 0] = np.arange(1, n + 1, dtype=np.float64) / n
    coefficients = np.linalg.lstsq(line, x[:, np.newaxis], rcond=None)[0]
    return x - (line @ coefficients)[:, 0]


@_memo
def _kpss(values: np.ndarray, regression: str = "c") -> HypothesisTest:
    # statsmodels' kpss(x, regression, nlags="auto"), in numpy for the same reason as _adf:
    # find_period asks it on every train. tests/test_numpy_statistics.py checks both agree.
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if regression == "ct":
        trend = np.column_stack([np.ones(n), np.arange(1, n + 1, dtype=np.float64)])
        resids = _ols_residuals(x, trend)
    else:
        resids = x - x.mean()
    lags = min(_kpss_lags(resids), n - 1)
    statistic = np.sum(resids.cumsum() ** 2) / (n**2) / _long_run_variance(resids, lags)
    null = "stationary around a level" if regression == "c" else \
        "stationary around a linear trend"
    return HypothesisTest(float(statistic), _kpss_p(statistic, regression), lags, null)


def _ljung_box(values: np.ndarray, lags: int) -> HypothesisTest:
    """Ljung-Box Q = n (n + 2) sum_k r_k^2 / (n - k), as statsmodels' acorr_ljungbox, but
    with the autocorrelations from an FFT: statsmodels correlates directly, in n^2 time."""
    from scipy.stats import chi2
    from statsmodels.tsa.stattools import acf

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    r = acf(x, nlags=lags, fft=True)[1:]
    statistic = float(n * (n + 2) * np.sum(r**2 / (n - np.arange(1, lags + 1))))
    return HypothesisTest(statistic, float(chi2.sf(statistic, lags)), lags,
                          f"no autocorrelation up to lag {lags}")


def _has_unit_root(adf: HypothesisTest, kpss: HypothesisTest) -> bool:
    """ADF cannot reject a unit root, or rejects it only weakly while KPSS rejects a
    constant level: the two tests are read together, which halves ADF's false alarms on
    random walks without costing power on persistent stationary series."""
    return adf.p_value > ALPHA or (adf.p_value > 0.01 and kpss.p_value <= ALPHA)


def _analysed(x: np.ndarray, unit_root: bool, trend_stationary: bool) -> np.ndarray:
    """What the periodogram reads: the changes when there is a unit root, the deviations
    from a straight line when the series is stationary around one, then detrended.

    Differencing a trend + noise series would paint a false high-frequency peak."""
    return _detrend(np.diff(x) if unit_root and not trend_stationary else x)


def _stationarity(x: np.ndarray) -> tuple[bool, bool]:
    """(unit root?, stationary around a linear trend?) from ADF and KPSS."""
    unit_root = _has_unit_root(_adf(x, "c"), _kpss(x, "c"))
    return unit_root, unit_root and _adf(x, "ct").p_value <= ALPHA


# A multiple of the period found is taken as the season only when repeating the value that
# many steps back does clearly better on the training part: a weekly pattern under a daily
# one (a weekend), which a two-day window cannot see.
LONGER_SEASON_GAIN = 0.8
LONGER_SEASON_TIE = 1.05
# On the changes of a wandering series, only a season that repeats far better counts: the
# values showed none, and a block such as a lower weekend barely shows in the changes (an
# hourly series with a level shift read 144 hours there, 0.78x the day, the week 0.81x).
CHANGES_SEASON_GAIN = 0.5


@on_one_blas_thread
def repeated_season(values: np.ndarray) -> tuple[int | None, int | None]:
    """The period `find_period` finds on `values` and the longer season `longer_season`
    finds over it (at most half of them), each None where there is none. Seasonal naive
    repeats the longer season where there is one, else the period."""
    values = np.asarray(values, dtype=np.float64)
    period = find_period(values)
    return period, longer_season(values, period, len(values) // 2)


def longer_season(values: np.ndarray, period: int | None, longest: int) -> int | None:
    """The multiple k * period (k >= 2, at most `longest`) whose seasonal naive has the
    lowest mean squared error on `values` (the shortest within LONGER_SEASON_TIE of it),
    when that is below LONGER_SEASON_GAIN times the error at `period` itself; else None.
    Only the values given are read.

    Where the values show none and have a unit root (and are not stationary around a
    line), their changes are read, as `find_period` reads them: the level wanders further
    the more steps back a value lies, and that drift can hide the season on the values.
    Monthly orders whose periodogram peaks at the quarter: repeating the value 12 months
    back erred 0.93x as much as 3 months back on the values, 0.09x on the changes. There
    the season is the shortest multiple below CHANGES_SEASON_GAIN times the period's
    error: no drift favours the shorter multiples of an exact season on the changes.

    The squared errors at every lag come from one FFT autocorrelation.

    Examples
    --------
    >>> hours = np.arange(24 * 7 * 6)
    >>> day = np.sin(2 * np.pi * hours / 24)
    >>> weekend = np.where(hours % 168 >= 120, -2.0, 0.0)
    >>> longer_season(day + weekend, 24, 400), longer_season(day, 24, 400)
    (168, None)
    """
    x = _scaled(np.asarray(values, dtype=np.float64))[0]  # 1e299s square to inf unscaled
    longest = min(int(longest), len(x) - 2)
    if not period or 2 * period > longest:
        return None
    error, rounding = _repeat_errors(x, longest)
    multiples = np.arange(2 * period, longest + 1, period)
    scores = error[multiples - 1]
    # The shortest multiple within LONGER_SEASON_TIE of the best: two weeks repeat about
    # as well as one, and a longer window costs training windows and time.
    best = int(multiples[np.flatnonzero(scores <= scores.min() * LONGER_SEASON_TIE)[0]])
    if error[best - 1] < LONGER_SEASON_GAIN * error[period - 1] - rounding:
        return best
    if np.ptp(x) == 0 or 2 * period > longest - 1:
        return None
    unit_root, trend_stationary = _stationarity(x)
    if not unit_root or trend_stationary:
        return None
    error, rounding = _repeat_errors(np.diff(x), longest - 1)
    multiples = multiples[multiples < longest]
    clearly = multiples[error[multiples - 1] < CHANGES_SEASON_GAIN * error[period - 1] - rounding]
    return int(clearly[0]) if len(clearly) else None


def _repeat_errors(x: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """The mean squared error of repeating the value P steps back, for P = 1..longest
    (at index P - 1), and a rounding below which two of them are the same."""
    n = len(x)
    x = x - x.mean()
    size = 1 << int(2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    cross = np.fft.irfft(spectrum * np.conj(spectrum), size)[: longest + 1]  # sum x_t x_{t-P}
    squares = np.r_[0.0, np.cumsum(x**2)]
    lags = np.arange(1, longest + 1)
    # mean over t >= P of (x_t - x_{t-P})^2
    error = (squares[n] - squares[lags] + squares[n - lags] - 2 * cross[lags]) / (n - lags)
    error = np.maximum(error, 0.0)  # an exact season can come out a rounding below zero
    return error, 1e-9 * squares[n] / n  # an exact season repeats at every multiple


def find_period(values: np.ndarray, max_period: int | None = None,
                alpha: float = PERIOD_ALPHA) -> int | None:
    """The dominant period in samples, or None when no period stands out from noise.

    A series with a unit root is differenced first (detrended when it is stationary around
    a line), so a random walk has no period. The
    periodogram's highest peak is tested against a red-noise background (the AR(1)
    spectrum with the series' own lag-1 autocorrelation, Bonferroni over all frequencies),
    so a persistent but aperiodic series such as AR(1) with phi = 0.9 shows no period.
    The autocorrelation at the period must also be positive.

    Examples
    --------
    >>> t = np.arange(600)
    >>> find_period(np.sin(2 * np.pi * t / 50))
    50
    """
    return _find_period(values, max_period, alpha)


@_memo
def _find_period(x: np.ndarray, max_period: int | None, alpha: float) -> int | None:
    if len(x) < 16 or x.min() == x.max():  # not np.ptp: max - min overflows near 1e308
        return None
    x = _scaled(x)[0]  # by a power of two: the period is the same, squares stay finite
    peak = _spectral_peak(_analysed(x, *_stationarity(x)), max_period)
    if peak is None or peak[1] > alpha:
        return None
    return peak[0]


def _spectral_peak(x: np.ndarray, max_period: int | None = None
                   ) -> tuple[int, float, float] | None:
    """(period, p-value against red noise, autocorrelation at the period) of x's top peak."""
    n = len(x)
    if n < 16 or np.ptp(x) == 0:
        return None
    max_period = max_period or n // 3
    freqs, power = _power_spectrum(x)
    keep = freqs >= 1.0 / max_period
    freqs, power = freqs[keep], power[keep]
    if len(power) == 0 or power.sum() <= 0:
        return None
    phi = float(np.clip(_acf(x, 1)[1], -0.95, 0.95))
    # One-sided AR(1) spectral density with x's variance; it integrates to var(x) on [0, 1/2].
    background = 2 * x.var() * (1 - phi**2) / (1 - 2 * phi * np.cos(2 * np.pi * freqs) + phi**2)
    ratio = power / background
    top = int(np.argmax(ratio))
    # Each ordinate over its background is ~ Exp(1) under the null; Bonferroni over all.
    p_value = min(1.0, len(power) * math.exp(-ratio[top]))
    # The grid's step is 1/n, coarse at long periods: refine the peak on a 16 times finer
    # grid, within one step of it.
    fine_freqs, fine_power = _power_near(x, int(round(freqs[top] * n)), REFINE)
    period = int(round(1.0 / fine_freqs[np.argmax(fine_power)]))
    if period < 2 or period > max_period:
        return None
    # A season that is not a sine shows at its harmonics too, and against red noise a
    # harmonic can stand out more than the season itself (co2's half-year on its first 70%):
    # its autocorrelation is then negative, and the season is the multiple where it is not.
    acf = _acf(x, min(3 * period, max_period))
    for multiple in (period, 2 * period, 3 * period):
        if multiple <= max_period and acf[multiple] > 2.0 / math.sqrt(n):
            return multiple, p_value, float(acf[multiple])
    return None


# --- the inspection -------------------------------------------------------------------


@dataclass
class HypothesisTest:
    """One hypothesis test: its statistic, p-value, lags used and its null hypothesis."""

    statistic: float
    p_value: float
    lags: int
    null: str

    def to_dict(self) -> dict:
        return {"statistic": _finite(self.statistic), "p_value": _finite(self.p_value),
                "lags": self.lags, "null": self.null}


@dataclass
class Inspection:
    """Everything `inspect` found about one series; `to_dict()` is what --json prints."""

    name: str
    n: int
    summary: dict[str, float]
    tests: dict[str, HypothesisTest]
    acf: np.ndarray  # lags 0..max_lag
    pacf: np.ndarray  # lags 0..max_lag
    frequencies: np.ndarray  # periodogram of the analysed series (cycles per sample)
    power: np.ndarray
    period: int | None
    seasonal_strength: float | None  # autocorrelation at the period
    trend_r2: float  # share of the variance a straight line explains
    variance_ratio: float  # ~1 for a random walk, < 1 mean-reverting, > 1 trending
    verdict: str
    evidence: str
    findings: list[str] = field(default_factory=list)
    # The latest points the tests, correlations and periodogram read (n unless n is over
    # INSPECT_MAX_POINTS); the noise band of the autocorrelations is 1.96 / sqrt(tested).
    tested: int | None = None

    def to_dict(self) -> dict:
        return {
            "series": self.name,
            "n": self.n,
            "tested": self.tested if self.tested is not None else self.n,
            "verdict": self.verdict,
            "evidence": self.evidence,
            "period": self.period,
            "seasonal_strength": _finite(self.seasonal_strength),
            "trend_r2": _finite(self.trend_r2),
            "variance_ratio": {"q": VR_HORIZON, "value": _finite(self.variance_ratio)},
            "summary": {k: _finite(v) for k, v in self.summary.items()},
            "tests": {name: test.to_dict() for name, test in self.tests.items()},
            "acf": [round(float(v), 6) for v in self.acf],
            "pacf": [round(float(v), 6) for v in self.pacf],
            "findings": list(self.findings),
        }

    def report(self) -> str:
        """The findings as lines of text, ending with the verdict line."""
        s = self.summary
        lines = [f"{self.name}: {self.n} values, mean {s['mean']:.4g}, std {s['std']:.4g}, "
                 f"min {s['min']:.4g}, max {s['max']:.4g}, std of changes {s['step_rms']:.4g}"]
        for name, test in self.tests.items():
            lines.append(f"  {name:<15} stat {test.statistic:>9.3f}  {_p(test.p_value)}"
                         f"  (null: {test.null})")
        lines.append(f"  variance ratio (q = {VR_HORIZON}) {self.variance_ratio:.3f}; "
                     f"linear trend R^2 {self.trend_r2:.3f}")
        lines += [f"  {line}" for line in self.findings]
        lines.append(f"verdict: {self.verdict}: {self.evidence}")
        return "\n".join(lines)


def _finite(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _p(p: float) -> str:
    """'p < 0.001' or 'p = 0.123': the operator belongs to the number."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _values(series, name: str | None) -> tuple[np.ndarray, str]:
    if isinstance(series, pd.DataFrame):
        if series.shape[1] != 1:
            raise DataError(f"inspect takes one series, got a DataFrame with columns "
                            f"{list(series.columns)}; pass frame['column']")
        series = series.iloc[:, 0]
    label = name or str(getattr(series, "name", None) or "series")
    if isinstance(series, pd.Series):
        series = in_time_order(series, label)  # a shuffled season reads as white noise
    try:
        x = np.asarray(series, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise DataError(f"{label} has non-numeric values; convert it with pd.to_numeric") \
            from None
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError(f"{label} has {int(bad.sum())} NaN or infinite values (first at "
                        f"position {int(np.flatnonzero(bad)[0])}); fill or drop them first")
    if len(x) < MIN_LENGTH:
        raise DataError(f"{label} has {len(x)} values; inspecting it needs at least "
                        f"{MIN_LENGTH}; use a longer series")
    if x.min() == x.max():  # not np.ptp: max - min overflows for values near 1e308
        raise DataError(f"{label} is constant ({x[0]:g}): there is nothing to test")
    return x, label


def _scaled(x: np.ndarray) -> tuple[np.ndarray, int]:
    """x times 2**-e, so that its largest |value| lies in [0.5, 1), and e; or (x, 0) when
    every |value| is within SAFE_MAGNITUDE of 1.

    A power of two scales exactly in binary floating point, and every test here is blind
    to scale; centring too would move ill-conditioned results such as the ADF lags of the
    noise-free `complex` signal."""
    top = float(np.max(np.abs(x)))
    if 1 / SAFE_MAGNITUDE <= top <= SAFE_MAGNITUDE:
        return x, 0
    exponent = int(np.frexp(top)[1])
    return np.ldexp(x, -exponent), exponent


def _summary(z: np.ndarray, exponent: int) -> dict[str, float]:
    """Mean, spread and shape of every point of z = x 2**-exponent, in x's units."""
    summary = {"mean": z.mean(), "std": z.std(), "min": z.min(), "max": z.max(),
               "median": np.median(z), "skew": pd.Series(z).skew(),
               "kurtosis": pd.Series(z).kurt(), "step_rms": np.sqrt(np.mean(np.diff(z) ** 2))}
    with np.errstate(over="ignore"):  # a spread beyond 1.8e308 is inf, and says so
        return {name: float(value if name in ("skew", "kurtosis")
                            else np.ldexp(value, exponent)) for name, value in summary.items()}


def _tested_part(n: int, tested: int) -> list[str]:
    if n <= ADF_MAX_POINTS:
        return []
    if tested < n:
        return [f"tests, correlations and periodogram on the last {tested:,} of {n:,} points "
                f"(ADF on the last {ADF_MAX_POINTS:,}), so that inspect answers in seconds; "
                "the first line's summary reads every point"]
    return [f"ADF on the last {ADF_MAX_POINTS:,} of {n:,} points, so that it answers in "
            "seconds"]


@on_one_blas_thread
def inspect(series, name: str | None = None) -> Inspection:
    """Test whether a series is white noise, a random walk, trending, seasonal or
    stationary with usable structure. The window `rnnlab train` would use is
    `rnnlab.windows.train_window(series)`: one rule, so inspect and train never disagree.

    Parameters
    ----------
    series : the values, oldest first (a pandas Series, or anything array-like).
    name : label for messages; default the series' name.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> inspect(np.cumsum(rng.standard_normal(500))).verdict
    'random_walk'
    """
    from statsmodels.tsa.stattools import acf, pacf

    everything, label = _values(series, name)
    scaled, exponent = _scaled(everything)
    summary = _summary(scaled, exponent)
    x = scaled[-INSPECT_MAX_POINTS:]
    n = len(x)
    if x.min() == x.max():
        raise DataError(f"{label} is constant ({everything[-1]:g}) over its last {n:,} values, "
                        "the part inspect tests; pass a series that varies there")
    changes = np.diff(x)
    lb_lags = min(40, n // 5)
    tests = {
        "ljung_box": _ljung_box(x, lb_lags),
        "ljung_box_diff": _ljung_box(changes, lb_lags),
        "adf": _with_statsmodels_p(_adf(x, "c"), "c"),
        "adf_diff": _with_statsmodels_p(_adf(changes, "c"), "c"),
        "adf_trend": _with_statsmodels_p(_adf(x, "ct"), "ct"),
        "kpss": _kpss(x, "c"),
        "kpss_trend": _kpss(x, "ct"),
    }
    unit_root = _has_unit_root(tests["adf"], tests["kpss"])
    trend_stationary = unit_root and tests["adf_trend"].p_value <= ALPHA
    analysed = _analysed(x, unit_root, trend_stationary)
    peak = _spectral_peak(analysed)
    period = peak[0] if peak is not None and peak[1] <= PERIOD_ALPHA else None
    strength = peak[2] if period is not None else None

    max_lag = min(n // 4, max(40, 2 * period if period else 0))
    correlations = acf(x, nlags=max_lag, fft=True)
    # Yule-Walker with the biased (MLE) autocovariances keeps |pacf| <= 1 on near-exact
    # recurrences such as a clean sine, where the adjusted estimate blows up.
    partial = pacf(x, nlags=min(max_lag, n // 2 - 1), method="ywm")
    change_acf = acf(changes, nlags=10, fft=True)
    predictable_share = float(np.sum(change_acf[1:] ** 2))
    t = np.arange(n)
    trend_r2 = float(np.corrcoef(t, x)[0, 1] ** 2)
    variance_ratio = float(np.var(x[VR_HORIZON:] - x[:-VR_HORIZON])
                           / (VR_HORIZON * np.var(changes))) if n > 2 * VR_HORIZON else math.nan
    freqs, power = _periodogram(analysed)
    if exponent:
        with np.errstate(over="ignore", under="ignore"):
            in_units = np.ldexp(power, 2 * exponent)
        if np.isfinite(in_units).all() and (in_units > 0).sum() == (power > 0).sum():
            power = in_units  # else (beyond float64) the plot shows it in scaled units

    findings = _findings(tests, correlations, change_acf, n)
    with np.errstate(over="ignore"):  # a change of 2e308 is inf, and says so
        findings += _level_shift(series, np.diff(everything))
    findings += _tested_part(len(everything), n)
    season = longer_season(x, period, n // 2)
    if season:
        findings.append(f"a season of {season} samples ({season // period} x the period "
                        f"{period}) repeats clearly better than the period itself: seasonal "
                        "naive repeats it")
    verdict, evidence = _verdict(tests, summary, period, strength, trend_r2,
                                 predictable_share, correlations, unit_root, trend_stationary)
    return Inspection(label, len(everything), summary, tests, correlations, partial, freqs,
                      power, period, strength, trend_r2, variance_ratio, verdict,
                      evidence, findings, tested=n)


def _with_statsmodels_p(adf: HypothesisTest, regression: str) -> HypothesisTest:
    """The ADF test with statsmodels' mackinnonp p-value: inspect already loads statsmodels,
    and its report keeps the figures it always printed (ours differ in the last digits)."""
    from statsmodels.tsa.adfvalues import mackinnonp

    p_value = float(mackinnonp(adf.statistic, regression=regression, N=1))
    return HypothesisTest(adf.statistic, p_value, adf.lags, adf.null)


def _periodogram(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    freqs, power = _power_spectrum(x)
    return freqs[1:], power[1:]  # frequency 0 is the mean, removed by detrending


def _strongest_lag(correlations: np.ndarray) -> int:
    return 1 + int(np.argmax(np.abs(correlations[1:])))


def _findings(tests: dict, correlations: np.ndarray, change_acf: np.ndarray, n: int
              ) -> list[str]:
    lines = []
    bound = 2.58 / math.sqrt(n)
    significant = [k for k in range(1, len(correlations)) if abs(correlations[k]) > bound]
    if significant:
        k = _strongest_lag(correlations)
        shown = ", ".join(str(s) for s in significant[:12]) + (" ..." if len(significant) > 12
                                                              else "")
        lines.append(f"autocorrelation beyond the 99% noise band at lags {shown}; strongest "
                     f"at lag {k} ({correlations[k]:+.2f})")
    else:
        lines.append(f"no autocorrelation beyond the 99% noise band (|r| < {bound:.3f}) up to "
                     f"lag {len(correlations) - 1}")
    lines.append(f"changes: lag-1 autocorrelation {change_acf[1]:+.2f}; Ljung-Box on the "
                 f"changes {_p(tests['ljung_box_diff'].p_value)}")
    return lines


def _level_shift(series, changes: np.ndarray) -> list[str]:
    """A line about the largest single change when it dwarfs the typical one."""
    typical = 1.4826 * np.median(np.abs(changes - np.median(changes)))  # robust std
    at = int(np.argmax(np.abs(changes)))
    if typical == 0 or abs(changes[at]) < LEVEL_SHIFT_SIZE * typical:
        return []
    index = getattr(series, "index", None)
    where = index[at + 1] if index is not None and len(index) == len(changes) + 1 else at + 1
    if isinstance(where, pd.Timestamp):
        where = where.date()
    return [f"largest change {changes[at]:+.3g} at {where} is {abs(changes[at]) / typical:.0f}x "
            "the typical change: a level shift or an outlier"]


def _verdict(tests, summary, period, strength, trend_r2, predictable_share, correlations,
             unit_root, trend_stationary) -> tuple[str, str]:
    lb, adf, adf_diff = tests["ljung_box"], tests["adf"], tests["adf_diff"]
    std, step = summary["std"], summary["step_rms"]
    if lb.p_value > ALPHA:
        return "white_noise", (
            f"white noise (Ljung-Box {_p(lb.p_value)} over {lb.lags} lags): no model can "
            f"beat the mean; expect RMSE ≈ std = {std:.3g}")
    if period is not None:
        size = "strong seasonality" if strength >= 0.5 else "seasonality"
        text = (f"{size}, period ≈ {period} samples (autocorrelation {strength:.2f} at that "
                "lag of the " + ("changes" if unit_root and not trend_stationary
                                 else "detrended series") + ")")
        if unit_root:
            text += (f"; the level itself is not stationary (ADF {_p(adf.p_value)}): "
                     "expect a trend or level shift on top")
        return "seasonal", text
    if unit_root:
        levels = (f"ADF {_p(adf.p_value)} on levels, {_p(adf_diff.p_value)} on "
                  "differences")
        if adf.p_value <= ALPHA:
            levels += f"; KPSS {_p(tests['kpss'].p_value)} rejects a stable level"
        changes_lb = tests["ljung_box_diff"]
        if changes_lb.p_value > 0.01 or predictable_share < RW_PREDICTABLE_SHARE:
            return "random_walk", (
                f"random walk ({levels}; the changes look like noise, Ljung-Box "
                f"{_p(changes_lb.p_value)}, at most {100 * predictable_share:.1f}% of their "
                "variance is linearly predictable): next = last is the benchmark to "
                f"beat; expect RMSE ≈ std of the changes = {step:.3g}")
        if tests["adf_trend"].p_value <= ALPHA and trend_r2 >= MIN_TREND_R2:
            return "trend", (
                f"trend (a straight line explains {100 * trend_r2:.0f}% of the variance; "
                f"stationary around it, ADF {_p(tests['adf_trend'].p_value)} with a "
                "trend): remove or model the trend, then forecast the rest")
        return "trend", (
            f"stochastic trend ({levels}) whose changes are predictable (Ljung-Box "
            f"{_p(changes_lb.p_value)}; up to {100 * predictable_share:.0f}% of their "
            "variance is linearly predictable): forecast the changes, not the level")
    if tests["kpss"].p_value <= ALPHA and trend_r2 >= MIN_TREND_R2:
        return "trend", (
            f"trend (a straight line explains {100 * trend_r2:.0f}% of the variance; KPSS "
            f"{_p(tests['kpss'].p_value)} rejects a constant level): remove or model the "
            "trend, then forecast the rest")
    k = _strongest_lag(correlations)
    return "stationary", (
        f"stationary (ADF {_p(adf.p_value)}) with structure (Ljung-Box "
        f"{_p(lb.p_value)}): strongest autocorrelation at lag {k} ({correlations[k]:+.2f}); "
        f"a model can beat the mean (std {std:.3g})")
