"""explain: memory probe, failure anatomy, lag check, and `rnnlab explain` end to end."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from helpers import ar2_series
from rnnlab.cli import cli
from rnnlab.errors import DataError
from rnnlab.explain import (
    MemoryProfile,
    effective_memory,
    failure_anatomy,
    lag_check,
    memory_profile,
)
from rnnlab.forecaster import Forecaster
from rnnlab.plots import plot_episodes, plot_memory_curves
from rnnlab.windows import Split


@pytest.mark.parametrize("coverage, expected", [(0.9, 3), (0.5, 1), (0.95, 4), (1.0, 4)])
def test_effective_memory_counts_from_the_most_recent_lag(coverage, expected):
    assert effective_memory(np.array([0.5, 0.3, 0.1, 0.1]), coverage) == expected


def test_memory_of_the_linear_model_is_its_weights():
    series = ar2_series()
    model = Forecaster(model="linear", seq_len=6, scaler="standard", progress=False)
    model.fit(series[:300])
    profile = memory_profile(model, series, Split(250, 50, 100))
    weights = np.abs(model.model_.skip.weight.detach().numpy()[0][::-1])  # lag 1 first
    assert profile.n_windows == 100
    np.testing.assert_allclose(profile.sensitivity, weights / weights.sum(), rtol=1e-5)
    # An AR(2) needs two lags: the fitted weights concentrate there.
    assert profile.effective_memory <= 3


def test_memory_probe_goes_through_per_window_normalisation():
    # With the window scaler the net predicts the change from the last value, so
    # d prediction / d x_last = 1 + w_last - sum(w) and d / d x_(t-k) = w for older lags.
    series = ar2_series(seed=1)
    model = Forecaster(model="linear", seq_len=4, scaler="window", progress=False)
    model.fit(series[:300])
    w = model.model_.skip.weight.detach().numpy()[0].astype(np.float64)  # oldest first
    expected = np.abs(np.r_[w[:-1], 1 + w[-1] - w.sum()])[::-1]
    profile = memory_profile(model, series)
    np.testing.assert_allclose(profile.sensitivity, expected / expected.sum(), rtol=1e-4)


def test_memory_profile_of_a_recurrent_net_is_a_distribution(tmp_path):
    series = ar2_series(300)
    model = Forecaster(model="rnn", seq_len=12, hidden_size=8, num_layers=1, epochs=2,
                       linear_skip=False, progress=False).fit(series[:240])
    profile = memory_profile(model, series, Split(200, 40, 60))
    assert profile.sensitivity.shape == (12,)
    assert profile.sensitivity.min() >= 0
    assert profile.sensitivity.sum() == pytest.approx(1.0)
    assert 1 <= profile.effective_memory <= 12
    flat = MemoryProfile("flat", np.full(12, 1 / 12), 11, 60)
    plot_memory_curves({"rnn": profile, "flat": flat}, tmp_path / "memory.png")
    assert (tmp_path / "memory.png").read_bytes()[:4] == b"\x89PNG"


def step_frame(recover_after: int | None, n: int = 100, at: int = 50) -> pd.DataFrame:
    """A drop of 4 at `at`; the model's error is 4 until `recover_after` steps later."""
    rng = np.random.default_rng(0)
    actual = np.r_[np.full(at, 10.0), np.full(n - at, 6.0)] + 0.05 * rng.standard_normal(n)
    naive = np.r_[actual[0], actual[:-1]]
    error = np.where(np.arange(n) % 2 == 0, 0.1, -0.1)
    stuck = n - at if recover_after is None else recover_after
    error[at:at + stuck] = 4.0
    return pd.DataFrame({"actual": actual, "model": actual + error, "naive": naive},
                        index=pd.RangeIndex(800, 800 + n, name="t"))


def test_anatomy_of_a_step_with_known_recovery(tmp_path):
    frame = step_frame(recover_after=10)
    anatomy = failure_anatomy(frame)
    first = anatomy.episodes[0]
    assert first.position == 50 and first.at == "850"
    assert first.jump == pytest.approx(-4.0, abs=0.3)
    assert first.recovery_steps == 10
    assert first.undershoot == pytest.approx(0.5, abs=0.05)  # error 4 for half of 20 steps
    assert first.rmse_after > 10 * anatomy.rmse_before
    assert anatomy.normal_abs_error == pytest.approx(0.1)
    # Noise-sized changes are not reported as extra episodes.
    assert len(anatomy.episodes) == 1
    assert "recovers after 10 steps" in anatomy.lines[-1]
    assert "undershoot" in anatomy.lines[-1]
    plot_episodes(frame, anatomy, tmp_path / "episodes.png")
    assert (tmp_path / "episodes.png").stat().st_size > 0


def test_anatomy_says_when_the_model_never_recovers():
    anatomy = failure_anatomy(step_frame(recover_after=None))
    episode = anatomy.episodes[0]
    assert episode.recovery_steps is None
    assert episode.rmse_to_end == pytest.approx(4.0, rel=0.01)
    assert "does not recover within the test part (50 steps" in anatomy.lines[-1]
    payload = json.loads(json.dumps(anatomy.to_dict()))
    assert payload["episodes"][0]["recovery_steps"] is None


def test_lag_check_flags_predictions_that_are_the_last_value():
    y = np.cumsum(np.random.default_rng(3).standard_normal(300))
    frame = pd.DataFrame({"actual": y[1:], "model": y[:-1], "naive": y[:-1]})
    check = lag_check(frame, verdict="random_walk")
    assert check.repeats_last
    assert check.move_share == pytest.approx(0.0)
    assert "the model mostly repeats the last value" in check.lines[0]
    assert not check.leakage_warning


def test_lag_check_passes_a_model_that_tracks_the_target():
    rng = np.random.default_rng(4)
    y = np.sin(np.arange(300) / 5)
    frame = pd.DataFrame({"actual": y[1:], "model": y[1:] + 0.01 * rng.standard_normal(299),
                          "naive": y[:-1]})
    check = lag_check(frame, verdict="seasonal")
    assert not check.repeats_last
    assert check.gain_over_naive > 0.5
    assert not check.leakage_warning  # not a random walk: skill is believable


def test_lag_check_warns_of_leakage_on_a_random_walk():
    rng = np.random.default_rng(5)
    y = np.cumsum(rng.standard_normal(300))
    frame = pd.DataFrame({"actual": y[1:], "model": y[1:] + 0.3 * rng.standard_normal(299),
                          "naive": y[:-1]})
    check = lag_check(frame, verdict="random_walk")
    assert check.leakage_warning
    assert "more likely leakage than skill" in check.lines[-1]


def test_predictions_without_naive_are_refused_by_name():
    with pytest.raises(DataError, match="lack column\\(s\\) naive"):
        lag_check(pd.DataFrame({"actual": [1.0, 2.0], "model": [1.0, 2.0]}))


def test_cli_explain_end_to_end(tmp_path):
    run = tmp_path / "run"
    runner = CliRunner()
    trained = runner.invoke(cli, ["-q", "train", "--data", "sine", "--epochs", "2",
                                  "--hidden-size", "8", "--out", str(run)])
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "explained"
    result = runner.invoke(cli, ["explain", "--run", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "effective memory" in result.output
    assert "series: seasonal" in result.output
    payload = json.loads((out / "explain.json").read_text())
    assert payload["memory"]["seq_len"] == 126  # two seasons of the sine's period 63
    assert sum(payload["memory"]["sensitivity"]) == pytest.approx(1.0, abs=1e-4)
    assert payload["inspection"]["verdict"] == "seasonal"
    assert payload["lag_check"]["model_rmse"] > 0
    assert (out / "memory.png").exists() and (out / "episodes.png").exists()


def test_cli_explain_missing_run_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["explain", "--run", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "not found" in result.output and "rnnlab train" in result.output
