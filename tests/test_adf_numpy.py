"""diagnostics' numpy ADF agrees with statsmodels' adfuller, and train no longer needs
statsmodels.tsa.stattools for it."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from rnnlab import diagnostics
from rnnlab.data import GENERATORS, bundled_tickers, load_series


def _reference(x: np.ndarray, regression: str):
    from statsmodels.tsa.stattools import adfuller

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return adfuller(x[-diagnostics.ADF_MAX_POINTS:], regression=regression,
                        autolag="AIC", result_object=True)


def _series():
    rng = np.random.default_rng(1)
    cases = {name: load_series(name).to_numpy() for name in GENERATORS}
    cases |= {f"stock:{t}": load_series(f"stock:{t}").to_numpy() for t in bundled_tickers()}
    cases |= {
        "white noise 60": rng.standard_normal(60),
        "ar1 0.95": _ar1(rng, 400, 0.95),
        "trend + noise": np.arange(300) * 0.05 + rng.standard_normal(300),
        "ramp": np.arange(50, dtype=float),  # constant changes: statsmodels drops the constant
        "short 12": rng.standard_normal(12),
        "long walk": np.cumsum(rng.standard_normal(12_000)),  # beyond ADF_MAX_POINTS
    }
    return cases


def _ar1(rng, n, phi):
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.standard_normal()
    return x


SERIES = _series()


@pytest.mark.parametrize("regression", ["c", "ct"])
@pytest.mark.parametrize("name", list(SERIES))
def test_matches_statsmodels_adfuller(name, regression):
    x = SERIES[name]
    ours = diagnostics._adf.__wrapped__(x, regression)
    ref = _reference(x, regression)
    assert ours.lags == ref.lags
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12, abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-14)


def test_adf_pvalue_of_the_training_part_matches():
    """What `--scaler auto` asks: the p-value of a training part (sine and a stock)."""
    for source in ("sine", "stock:A"):
        train = load_series(source).to_numpy()[:700]
        assert diagnostics.adf_pvalue(train) == pytest.approx(
            _reference(train, "c").pvalue, rel=1e-12, abs=1e-14)


def test_constant_is_refused_as_before():
    with pytest.raises(ValueError, match="constant"):
        diagnostics._adf.__wrapped__(np.ones(50), "c")


PROBE = """
import sys
import numpy as np
from rnnlab.diagnostics import adf_pvalue
adf_pvalue(np.cumsum(np.random.default_rng(0).standard_normal(500)))
print(sorted(m for m in sys.modules if m.startswith("statsmodels.tsa.stattools")))
"""


def test_adf_does_not_import_stattools():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
