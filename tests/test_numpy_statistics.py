"""diagnostics' numpy twins agree with the statsmodels and scipy functions they replace on
the train path (KPSS, acf, periodogram, detrend, MacKinnon's p-value), and find_period
finds the same period as when it called those libraries."""

import math
import warnings

import numpy as np
import pytest

from rnnlab import diagnostics
from rnnlab.data import GENERATORS, bundled_tickers, load_series


def _ar1(rng, n, phi):
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.standard_normal()
    return x


def _series():
    """Built-in series (seeds 0..4), bundled stocks and synthetic cases, each also as the
    part train fits on (85%) and as its changes, which find_period analyses."""
    rng = np.random.default_rng(12)
    base = {f"{name} seed {seed}": load_series(name, seed=seed).to_numpy()
            for name in GENERATORS for seed in range(5)}
    base |= {f"stock:{t}": load_series(f"stock:{t}").to_numpy() for t in bundled_tickers()}
    for n in (16, 17, 33, 100, 257, 1000, 4097):
        t = np.arange(n)
        base[f"white noise {n}"] = rng.standard_normal(n)
        base[f"walk {n}"] = np.cumsum(rng.standard_normal(n))
        base[f"sine 7.3 + noise {n}"] = np.sin(2 * np.pi * t / 7.3) + 0.3 * rng.standard_normal(n)
        base[f"trend + noise {n}"] = 0.05 * t + rng.standard_normal(n)
    base["ar1 0.9"] = _ar1(rng, 3000, 0.9)
    base["ar1 -0.5"] = _ar1(rng, 500, -0.5)
    base["ramp"] = np.arange(200, dtype=float)
    base["offset 1e6"] = 1e6 + 1e3 * rng.standard_normal(800)
    base["tiny 1e-8"] = 1e-8 * np.sin(np.arange(400) / 3.0)
    base["square wave 24"] = np.sign(np.sin(2 * np.pi * np.arange(960) / 24)) + 0.1
    cases = {}
    for name, x in base.items():
        cases[name] = x
        cases[f"{name}, fit part"] = x[: int(len(x) * 0.85)]
        cases[f"{name}, changes"] = np.diff(x)
    return {name: np.asarray(x, dtype=np.float64) for name, x in cases.items()
            if len(x) >= 16 and np.ptp(x) > 0}


SERIES = _series()
NAMES = list(SERIES)


def _statsmodels_kpss(x, regression):
    from statsmodels.tsa.stattools import kpss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # off the table's ends: InterpolationWarning
        return kpss(x, regression=regression, nlags="auto", result_object=True)


@pytest.mark.parametrize("name", NAMES)
def test_acf_matches_statsmodels(name):
    from statsmodels.tsa.stattools import acf

    x = SERIES[name]
    nlags = min(len(x) - 1, 60)
    assert np.allclose(diagnostics._acf(x, nlags), acf(x, nlags=nlags, fft=True),
                       rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_power_spectrum_matches_scipy_periodogram(name):
    from scipy.signal import periodogram

    x = SERIES[name]
    for nfft in (None, 16 * len(x)):  # the two grids _spectral_peak reads
        freqs, power = diagnostics._power_spectrum(x, nfft)
        ref_freqs, ref_power = periodogram(x, nfft=nfft)
        assert np.array_equal(freqs, ref_freqs)
        assert np.allclose(power, ref_power, rtol=1e-12, atol=1e-12 * ref_power.max())


@pytest.mark.parametrize("name", NAMES)
def test_detrend_matches_scipy(name):
    from scipy.signal import detrend

    x = SERIES[name]
    ref = detrend(x)
    assert np.allclose(diagnostics._detrend(x), ref, rtol=0,
                       atol=1e-12 * max(np.abs(x).max(), 1e-300))


@pytest.mark.parametrize("regression", ["c", "ct"])
@pytest.mark.parametrize("name", NAMES)
def test_kpss_matches_statsmodels(name, regression):
    x = SERIES[name]
    ours = diagnostics._kpss.__wrapped__(x, regression)
    ref = _statsmodels_kpss(x, regression)
    assert ours.lags == ref.lags
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-10, abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-12)


def test_kpss_p_value_is_held_at_the_table_ends():
    """Beyond the table statsmodels returns its ends, 0.10 and 0.01; so do we."""
    assert diagnostics._kpss_p(0.01, "c") == 0.10 and diagnostics._kpss_p(5.0, "c") == 0.01
    assert diagnostics._kpss_p(0.01, "ct") == 0.10 and diagnostics._kpss_p(5.0, "ct") == 0.01
    assert diagnostics._kpss_p(0.463, "c") == pytest.approx(0.05)
    walk = SERIES["walk 1000"]
    assert diagnostics._kpss.__wrapped__(walk, "c").p_value == 0.01 == \
        _statsmodels_kpss(walk, "c").pvalue


@pytest.mark.parametrize("regression", ["n", "c", "ct", "ctt"])
def test_mackinnon_p_matches_statsmodels(regression):
    from statsmodels.tsa.adfvalues import mackinnonp

    tau_star, tau_min, tau_max = diagnostics.MACKINNON_TAU[regression]
    statistics = [*np.linspace(-30, 6, 3601), tau_star, tau_min, min(tau_max, 9.0),
                  np.nextafter(tau_star, 0), np.nextafter(tau_min, -30)]
    for statistic in statistics:
        ref = mackinnonp(float(statistic), regression=regression, N=1)
        assert diagnostics._mackinnon_p(float(statistic), regression) == \
            pytest.approx(ref, rel=1e-12, abs=1e-300), statistic


def test_normal_cdf_matches_scipy():
    from scipy.stats import norm

    for z in np.linspace(-37, 8, 4501):
        assert diagnostics._normal_cdf(float(z)) == pytest.approx(norm.cdf(z), rel=1e-12)
    assert diagnostics._normal_cdf(0.0) == 0.5 and math.isclose(
        diagnostics._normal_cdf(1.959963984540054), 0.975, rel_tol=1e-15)


def test_fft_length_is_statsmodels_padding():
    from statsmodels.compat.scipy import _next_regular

    assert [diagnostics._fft_length(t) for t in range(1, 3000)] == \
        [_next_regular(t) for t in range(1, 3000)]


@pytest.fixture
def with_the_libraries(monkeypatch):
    """diagnostics as it was: find_period's steps from statsmodels and scipy (the ADF
    statistic was already numpy's, and is shared through the memo)."""
    from scipy.signal import detrend, periodogram
    from statsmodels.tsa.stattools import acf

    def kpss(x, regression="c"):
        ref = _statsmodels_kpss(x, regression)
        return diagnostics.HypothesisTest(float(ref.statistic), float(ref.pvalue), ref.lags,
                                          "")

    memoized = diagnostics._adf
    monkeypatch.setattr(diagnostics, "_adf", lambda x, regression="c":
                        diagnostics._with_statsmodels_p(memoized(x, regression), regression))
    monkeypatch.setattr(diagnostics, "_kpss", kpss)
    monkeypatch.setattr(diagnostics, "_acf", lambda x, nlags: acf(x, nlags=nlags, fft=True))
    monkeypatch.setattr(diagnostics, "_power_spectrum",
                        lambda x, nfft=None: periodogram(x, nfft=nfft))
    monkeypatch.setattr(diagnostics, "_detrend", detrend)


def _peak(x):
    return diagnostics._spectral_peak(diagnostics._analysed(x, *diagnostics._stationarity(x)))


# Every series, and the part train fits on for seed 0 and the stocks (ADF's lag search
# makes each case cost a fraction of a second).
PERIOD_CASES = [name for name in NAMES if "changes" not in name and (
    "fit part" not in name or "seed 0" in name or "stock" in name)]


def test_find_period_is_unchanged(with_the_libraries, monkeypatch):
    reference = {name: _peak(SERIES[name]) for name in PERIOD_CASES}
    monkeypatch.undo()
    for name in PERIOD_CASES:
        ours, ref = _peak(SERIES[name]), reference[name]
        assert (ours is None) == (ref is None), name
        if ref is not None:
            assert ours[0] == ref[0], name
            assert ours[1:] == pytest.approx(ref[1:], rel=1e-9, abs=1e-300), name
        period = ref[0] if ref is not None and ref[1] <= diagnostics.PERIOD_ALPHA else None
        assert diagnostics.find_period(SERIES[name]) == period, name
    # The cases cover both answers, and a seasonal one finds its season.
    periods = {name: diagnostics.find_period(SERIES[name]) for name in PERIOD_CASES}
    assert periods["sine seed 0"] is not None and periods["square wave 24"] == 24
    assert periods["white noise 1000"] is None and periods["walk 1000"] is None
