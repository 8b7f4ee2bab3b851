import math

import numpy as np
import pytest

from rnnlab.metrics import mae, mape, mase, rmse, score, smape


def test_hand_computed_values():
    y, p = [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 1.0, 4.0]
    # errors: -1, 0, 2, 0
    assert rmse(y, p) == pytest.approx(math.sqrt(5 / 4))
    assert mae(y, p) == pytest.approx(3 / 4)
    assert mape(y, p) == pytest.approx(100 * (1 / 1 + 0 + 2 / 3 + 0) / 4)
    assert smape(y, p) == pytest.approx(100 * (2 / 3 + 0 + 4 / 4 + 0) / 4)
    # in-sample naive MAE of [0, 2, 4] is 2
    assert mase(y, p, y_train=[0.0, 2.0, 4.0]) == pytest.approx(0.75 / 2)


def test_argument_order_is_y_true_then_y_pred():
    # MAPE divides by y_true, so swapping the arguments changes it.
    assert mape([100.0], [50.0]) == pytest.approx(50.0)
    assert mape([50.0], [100.0]) == pytest.approx(100.0)


def test_mape_leaves_out_zero_targets_and_is_nan_when_all_are_zero():
    assert mape([0.0, 10.0], [5.0, 11.0]) == pytest.approx(10.0)
    assert math.isnan(mape([0.0, 0.0], [1.0, 2.0]))


def test_smape_counts_zero_over_zero_as_exact():
    assert smape([0.0, 2.0], [0.0, 2.0]) == 0.0


def test_mase_is_nan_for_a_constant_training_part():
    assert math.isnan(mase([1.0], [2.0], y_train=[3.0, 3.0, 3.0]))


def test_invariances():
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 10, 50)
    p = y + rng.normal(0, 1, 50)
    train = rng.uniform(1, 10, 80)
    assert rmse(y, p) >= mae(y, p)
    # Shifting both leaves absolute errors alone; scaling both leaves relative ones alone.
    assert rmse(y + 7, p + 7) == pytest.approx(rmse(y, p))
    assert mape(3 * y, 3 * p) == pytest.approx(mape(y, p))
    assert smape(3 * y, 3 * p) == pytest.approx(smape(y, p))
    assert mase(3 * y, 3 * p, 3 * train) == pytest.approx(mase(y, p, train))
    assert rmse(y, y) == 0.0


def test_score_has_every_metric_and_rejects_misaligned_inputs():
    assert set(score([1.0, 2.0], [1.0, 3.0], [0.0, 1.0, 3.0])) == {
        "rmse", "mae", "mape", "smape", "mase"}
    with pytest.raises(ValueError, match="shape"):
        rmse([1.0, 2.0], [1.0])
