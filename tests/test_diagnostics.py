"""inspect(): verdicts on synthetic series with a known answer, JSON shape, CLI, errors."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rnnlab.cli import cli
from rnnlab.diagnostics import VERDICTS, find_period, inspect
from rnnlab.errors import DataError
from rnnlab.report import write_inspection

N = 600


def ar1(phi: float, n: int = N, seed: int = 0) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal(n)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def test_white_noise_verdict_and_expected_rmse():
    x = np.random.default_rng(1).normal(5.0, 2.0, N)
    found = inspect(x)
    assert found.verdict == "white_noise"
    assert found.tests["ljung_box"].p_value > 0.05
    # The evidence quotes the series' own std as the RMSE to expect.
    assert f"std = {x.std():.3g}" in found.evidence


def test_random_walk_verdict():
    found = inspect(np.cumsum(np.random.default_rng(2).standard_normal(N)))
    assert found.verdict == "random_walk"
    assert found.tests["adf"].p_value > 0.05
    assert found.tests["adf_diff"].p_value < 0.01
    assert found.period is None
    assert "next = last" in found.evidence


def test_ar1_is_stationary_not_seasonal():
    found = inspect(ar1(0.9))
    assert found.verdict == "stationary"
    assert found.period is None
    assert "lag 1" in found.evidence


def test_sine_is_seasonal_with_its_period():
    t = np.arange(N)
    x = np.sin(2 * np.pi * t / 40) + 0.3 * np.random.default_rng(3).standard_normal(N)
    found = inspect(x)
    assert found.verdict == "seasonal"
    assert found.period == 40
    assert "period ≈ 40" in found.evidence


def test_linear_trend_plus_noise_is_a_trend():
    x = 0.02 * np.arange(N) + np.random.default_rng(4).standard_normal(N)
    found = inspect(x)
    assert found.verdict == "trend"
    assert found.trend_r2 > 0.5


def test_lag_structure_shows_in_evidence():
    # x_t = e_t + 0.9 e_(t-12): only lag 12 is correlated.
    e = np.random.default_rng(5).standard_normal(N + 12)
    found = inspect(e[12:] + 0.9 * e[:-12])
    assert found.verdict == "stationary"
    assert "lag 12" in found.evidence


def test_find_period_ignores_red_noise_and_finds_a_season():
    assert find_period(ar1(0.9, seed=1)) is None
    t = np.arange(800)
    assert find_period(np.sin(2 * np.pi * t / 25) + 0.01 * t) == 25


def test_to_dict_is_json_with_every_test():
    found = inspect(pd.Series(ar1(0.5), name="ar"))
    payload = json.loads(json.dumps(found.to_dict()))
    assert payload["verdict"] in VERDICTS
    assert payload["series"] == "ar"
    assert set(payload["tests"]) >= {"ljung_box", "adf", "adf_diff", "kpss"}
    for test in payload["tests"].values():
        assert isinstance(test["statistic"], float)
        assert 0.0 <= test["p_value"] <= 1.0
    assert payload["acf"][0] == pytest.approx(1.0)
    assert "suggested_seq_len" not in payload  # one window: train's (issue 25, item 8)


@pytest.mark.parametrize("values, message", [
    (np.arange(10.0), "at least 30"),
    (np.r_[np.zeros(40), np.nan], "NaN or infinite"),
    (np.ones(50), "constant"),
])
def test_bad_input_is_named(values, message):
    with pytest.raises(DataError, match=message):
        inspect(values)


def test_write_inspection_files(tmp_path):
    found = inspect(np.cumsum(np.random.default_rng(6).standard_normal(200)))
    names = write_inspection(found, tmp_path / "out")
    for name in names:
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert (tmp_path / "out" / "acf_pacf.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "out" / "inspection.json").read_text())["verdict"] == \
        "random_walk"


def test_cli_inspect_json_on_builtin():
    result = CliRunner().invoke(cli, ["inspect", "--data", "noise", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["verdict"] == "white_noise"
    assert payload["period"] is None
    assert {"statistic", "p_value"} <= set(payload["tests"]["ljung_box"])


def test_cli_inspect_csv_with_target_and_out(tmp_path):
    values = np.cumsum(np.random.default_rng(7).standard_normal(300)) + 100
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=300).strftime("%Y-%m-%d"),
                          "price": values})
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "inspect"
    result = CliRunner().invoke(cli, ["inspect", "--data", str(path), "--target", "price",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "verdict: random_walk" in result.output
    assert (out / "periodogram.png").exists() and (out / "inspection.json").exists()


def test_cli_inspect_bad_column_is_one_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("date,close\n2020-01-01,1\n2020-01-02,2\n")
    result = CliRunner().invoke(cli, ["inspect", "--data", str(path), "--target", "clsoe"])
    assert result.exit_code == 2
    assert "column 'clsoe' not found" in result.output


def test_cli_inspect_never_imports_torch(tmp_path):
    # Inspecting is statistics only: it must not pay torch's start-up.
    probe = ("import sys\nfrom rnnlab.cli import main\n"
             "sys.argv = ['rnnlab', 'inspect', '--data', 'random_walk', '--out', sys.argv[1]]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')\n")
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert "verdict: random_walk" in done.stdout, done.stderr
    assert done.stdout.strip().endswith("NO TORCH")
    assert (tmp_path / "out" / "acf_pacf.png").exists()
