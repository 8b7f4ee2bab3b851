"""M4's Naive2, seasonality test and OWA against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np

from rnnlab.metrics import is_seasonal, mase, naive2, naive2_paths, owa, seasonal_indices


def test_the_seasonality_test_uses_bartletts_limit_at_lag_m():
    # [2, 4] * 6: acf(1) = -11/12, acf(2) = 10/12; the limit at lag 2 is
    # 1.645 * sqrt((1 + 2 * (11/12)^2) / 12) = 0.7776, below 0.8333: seasonal.
    assert is_seasonal([2.0, 4.0] * 6, 2)
    # Eight values: acf(2) = 6/8 = 0.75 against 1.645 * sqrt((1 + 2 * 0.875^2) / 8) = 0.925.
    assert not is_seasonal([2.0, 4.0] * 4, 2)
    # M4 tests only with m > 1 and 3 m values.
    assert not is_seasonal([2.0, 4.0] * 6, 1)
    assert not is_seasonal([1.0, 2.0, 3.0, 4.0, 5.0] * 2, 5)


def test_naive2_deseasonalises_by_a_classical_multiplicative_decomposition():
    y = [2.0, 4.0] * 6
    # 2 x 2 moving average: 0.25 * 2 + 0.5 * 4 + 0.25 * 2 = 3 everywhere, so the ratios are
    # 2/3 (even positions) and 4/3 (odd); their mean is 1 already.
    assert np.allclose(seasonal_indices(y, 2), [2 / 3, 4 / 3])
    # Last value 4 at an odd position: adjusted 4 / (4/3) = 3, then reseasonalised.
    assert np.allclose(naive2(y, 3, m=2), [2.0, 4.0, 2.0])


def test_naive2_is_plain_naive_without_a_season_or_with_values_not_positive():
    assert naive2([2.0, 4.0] * 4, 3, m=2).tolist() == [4.0, 4.0, 4.0]  # test fails: n = 8
    assert seasonal_indices([-1.0, 1.0] * 6, 2).tolist() == [1.0, 1.0]
    assert naive2([1.0, 3.0, 2.0], 2).tolist() == [2.0, 2.0]


def test_naive2_paths_read_only_the_value_before_each_origin():
    values = np.array([1.0, 6.0, 2.0, 12.0, 5.0, 9.0])
    indices = np.array([0.5, 1.5])
    paths = naive2_paths(values, [2, 4], 2, indices)
    # origin 2: 6 / 1.5 = 4 -> 4 * 0.5, 4 * 1.5; origin 4: 12 / 1.5 = 8.
    assert paths.tolist() == [[2.0, 6.0], [4.0, 12.0]]
    moved = values.copy()
    moved[4:] += 100.0
    assert naive2_paths(moved, [2, 4], 2, indices).tolist() == paths.tolist()


def test_owa_and_m4_mase_by_hand():
    assert owa(12.0, 0.9, 15.0, 1.2) == 0.5 * (0.8 + 0.75)
    # Seasonal-naive scale with m = 2 on [1, 2, 3, 5]: |3 - 1|, |5 - 2| -> 2.5; MAE 1.25.
    assert mase([6.0, 7.0], [5.0, 8.5], [1.0, 2.0, 3.0, 5.0], 2) == 0.5
    assert math.isnan(mase([1.0], [1.0], [2.0, 4.0, 2.0, 4.0], 2))  # a zero scale
