"""Issue 26, bad input: rows 17 (stop and progress within a long epoch), 18 (an unbounded
forecast), 19 (internal errors where one line is promised), 22 (confusing messages) and
23 (the Python API's arguments)."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from helpers import one_line_error
from rnnlab import Forecaster, load_series
from rnnlab.checkpoint import write_json
from rnnlab.cli import cli
from rnnlab.errors import ConfigError, DataError
from rnnlab.features import market_factor

SINE = load_series("sine")[:300]


def cli_run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def fitted() -> Forecaster:
    return Forecaster(seq_len=10, hidden_size=4, num_layers=1, epochs=1,
                      progress=False).fit(SINE)


# --- row 17: a long epoch notes its progress and stops at the next batch ---------------


def test_row17_a_long_epoch_stops_between_batches_and_notes_progress(monkeypatch, caplog):
    import rnnlab.train

    monkeypatch.setattr(rnnlab.train, "LONG_EPOCH_SECONDS", 0.0)  # every epoch is "long"
    monkeypatch.setattr(rnnlab.train, "PROGRESS_SECONDS", 0.0)
    polls = []

    def stop_on_third_poll() -> bool:
        polls.append(1)
        return len(polls) >= 3

    forecaster = Forecaster(seq_len=10, hidden_size=4, num_layers=1, epochs=5, batch_size=8,
                            linear_skip=False, progress=False)
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        forecaster.fit(SINE, should_stop=stop_on_third_poll)
    assert len(polls) == 3  # asked between batches, not once per epoch
    assert forecaster.history_.stopped == "interrupted"
    assert forecaster.history_.epochs_run == 0  # the epoch it stopped in does not count
    notes = [r.getMessage() for r in caplog.records if "epoch 1: batch" in r.getMessage()]
    assert notes and "of 3" in notes[0]


def test_row17_a_short_epoch_still_finishes_before_it_stops():
    polls = []

    def stop_at_once() -> bool:
        polls.append(1)
        return True

    forecaster = Forecaster(seq_len=10, hidden_size=4, num_layers=1, epochs=5, batch_size=8,
                            linear_skip=False, progress=False)
    forecaster.fit(SINE, should_stop=stop_at_once)
    assert forecaster.history_.epochs_run == 1 and len(polls) == 1


# --- row 18: a forecast horizon is bounded, with the fix in the message ----------------


def test_row18_forecast_of_a_billion_steps_is_refused_at_once(fitted):
    with pytest.raises(ConfigError, match=r"--horizon 1000000000 needs 10,000,000,000 "
                       r"recurrent steps .* ask for --horizon 60000 or fewer"):
        fitted.forecast(10**9)
    assert len(fitted.forecast(5)) == 5


# --- row 23: the Python API's arguments ----------------------------------------------


@pytest.mark.parametrize("horizon", ["5", 5.5, math.nan, 0, True])
def test_row23_forecast_refuses_a_horizon_that_is_no_whole_number(fitted, horizon):
    with pytest.raises(ConfigError, match="horizon must be a whole number of at least 1"):
        fitted.forecast(horizon)


@pytest.mark.parametrize("params,phrase", [
    ({"seq_len": "30"}, "parameter 'seq_len' must be int or None, got '30' (of type str)"),
    ({"seq_len": 30.7}, "parameter 'seq_len' must be int or None, got 30.7"),
    ({"hidden_size": True}, "parameter 'hidden_size' must be int, got True"),
    ({"lr": "0.01"}, "parameter 'lr' must be float, got '0.01'"),
    ({"linear_skip": 1}, "parameter 'linear_skip' must be bool, got 1"),
])
def test_row23_settings_of_the_wrong_type_are_refused_by_name(params, phrase):
    with pytest.raises(ConfigError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        Forecaster(epochs=1, progress=False, **params).fit(SINE)


@pytest.mark.parametrize("val_size", [-5, 0.5, 300, True])
def test_row23_val_size_must_be_a_count_of_values_within_the_series(val_size):
    with pytest.raises(ConfigError, match="val_size must be a whole number of values from 0 "
                       "to below the 300 given"):
        Forecaster(seq_len=10, epochs=1, progress=False).fit(SINE, val_size=val_size)


@pytest.mark.parametrize("index", [SINE.index[::-1],
                                   pd.date_range("2020-01-01", periods=300)[::-1]],
                         ids=["reversed", "reversed dates"])
def test_row23_an_index_out_of_order_is_sorted_with_a_warning(index):
    series = pd.Series(SINE.to_numpy(), index=index, name="s")
    with pytest.warns(UserWarning, match="s was not in time order: sorted it by its dates"):
        fitted = Forecaster(seq_len=10, epochs=1, progress=False).fit(series)
    assert fitted.tail_.index.is_monotonic_increasing


def test_row23_an_index_of_repeats_is_refused():
    series = pd.Series(SINE.to_numpy(), index=pd.Index([5.0] * 300), name="s")
    with pytest.raises(DataError, match="s repeats dates: 5.0 appears 300 times"):
        Forecaster(seq_len=10, epochs=1, progress=False).fit(series)


def test_row23_load_series_takes_a_path_object(tmp_path):
    path = tmp_path / "prices.csv"
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=50),
                  "close": np.arange(50.0)}).to_csv(path, index=False)
    assert len(load_series(path)) == 50
    with pytest.raises(DataError, match="a data source is a name or a path, got 5"):
        load_series(5)


# --- row 19: one line with exit 2, never an internal error ----------------------------


def csv_of(path: Path, values) -> str:
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=len(values)),
                  "value": values}).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("scale,phrase", [(5e299, "values beyond ±1e+100"),
                                          (5e-301, "no value beyond ±1e-100"),
                                          (5e-319, "no value beyond ±1e-100")])
@pytest.mark.parametrize("command", ["train", "compare"])
def test_row19_values_near_the_float_limits_are_refused_in_one_line(tmp_path, scale, phrase,
                                                                     command):
    data = csv_of(tmp_path / "x.csv", (np.sin(np.arange(300) / 5) + 2) * scale)
    extra = ["--models", "rnn", "--seeds", "1"] if command == "compare" else []
    result = cli_run("-q", command, "--data", data, *extra, "--epochs", "1", "--out",
                     str(tmp_path / "out"))
    one_line_error(result, phrase, "rescale")


def test_row19_inspect_reads_values_near_the_float_limits(tmp_path):
    for scale in (5e299, 5e-301, 5e-319):
        data = csv_of(tmp_path / "x.csv", (np.sin(np.arange(300) / 5) + 2) * scale)
        result = cli_run("-q", "inspect", "--data", data)
        assert result.exit_code == 0, result.output
        assert "period" in result.stdout


def test_row19_a_date_format_with_a_code_twice_is_refused(tmp_path):
    one_line_error(cli_run("inspect", "--data", "stock:A", "--date-format", "%Y%Y"),
                   "--date-format '%Y%Y' is not a date format")


@pytest.mark.parametrize("option", ["--val-fraction", "--test-fraction"])
def test_row19_a_share_too_small_for_any_row_is_refused(tmp_path, option):
    one_line_error(cli_run("train", "--data", "sine", option, "1e-320", "--out",
                           str(tmp_path / "r")), "at least 1e-06")
    assert not (tmp_path / "r").exists()


def test_row19_a_network_beyond_the_memory_limit_is_refused_in_one_line(tmp_path):
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30));"
              "sys.argv = ['rnnlab', '-q', 'train'] + sys.argv[1:];"
              "from rnnlab.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", script, "--data", "sine", "--hidden-size",
                           "4096", "--num-layers", "64", "--epochs", "1", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not fit in the memory" in lines[0], done.stderr
    assert not (tmp_path / "r").exists()


def damaged_caches(path: Path):
    """The ways a market cache was found damaged: each leaves path as the cache."""
    good = path.read_bytes()
    yield "truncated", lambda: path.write_bytes(good[: len(good) // 2])
    yield "empty", lambda: path.write_bytes(b"")
    yield "random", lambda: path.write_bytes(np.random.default_rng(0).bytes(len(good)))

    def other_arrays():
        np.savez(path, returns=np.zeros(3), dates=np.zeros(2), tickers=np.array(["A"]))
    yield "other arrays", other_arrays

    def huge_header():
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("returns.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order':"
                        b" False, 'shape': (1000000000000, 3), }" + b" " * 60 + b"\n")
    yield "a header claiming 3e12 values", huge_header


def test_row19_a_damaged_market_cache_is_read_again(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "stocks"
    folder.mkdir()
    dates = pd.bdate_range("2021-01-01", periods=4)
    for name, close in {"A": [10, 20, 40, 80], "B": [10, 11, 12.1, 13.31]}.items():
        pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": close}
                     ).to_csv(folder / f"{name}_data.csv", index=False)
    expected = market_factor(folder, dates, exclude=None).to_numpy()
    cache = next((tmp_path / "cache").glob("market-*.npz"))
    import rnnlab.features

    for _, damage in damaged_caches(cache):
        damage()
        rnnlab.features._MEMORY.clear()  # as a new process: read from the disk
        assert np.allclose(market_factor(folder, dates, exclude=None).to_numpy(), expected)
        assert rnnlab.features._cached_returns(cache) is not None  # written again, whole


# --- row 22: messages that say what is wrong --------------------------------------------


def test_row22_a_comma_in_a_csv_path_given_to_compare_is_explained(tmp_path):
    path = tmp_path / "a,b.csv"
    csv_of(path, np.sin(np.arange(200) / 5))
    one_line_error(cli_run("compare", "--data", str(path), "--models", "rnn", "--out",
                           str(tmp_path / "c")),
                   "commas separate --data entries", f"'{path}' was read as several")


@pytest.mark.parametrize("year", [3015, 1515])
def test_row22_dates_in_far_years_are_read_as_dates(tmp_path, year):
    values = np.sin(np.arange(120) / 5)
    dates = pd.date_range(f"{year}-01-01", periods=120, unit="s")
    path = tmp_path / "far.csv"
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "value": values}).to_csv(path,
                                                                               index=False)
    out = tmp_path / "run"
    result = cli_run("-q", "train", "--data", str(path), "--seq-len", "10", "--epochs", "1",
                     "--hidden-size", "4", "--num-layers", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    result = cli_run("forecast", "--run", str(out), "--horizon", "2")
    assert result.exit_code == 0, result.output
    assert f"{year}-04-3" in result.stdout or f"{year}-05-0" in result.stdout


def test_row22_a_pickle_refusal_is_one_line_without_torch_warnings(tmp_path):
    import torch

    from rnnlab.runs import run_train
    from test_reliability2_runs import tiny

    run_train(tiny(), tmp_path / "run", plots=False, progress=False)
    (tmp_path / "run" / "model.npz").unlink()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    metrics.pop("weights_sha256")  # a run from before the record: torch reads the file
    write_json(tmp_path / "run" / "metrics.json", metrics)

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "rnnlab-checkpoint", "x": Payload()}, tmp_path / "run" / "model.pt")
    done = subprocess.run([sys.executable, "-m", "rnnlab.cli", "forecast", "--run",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "holds a pickled Python object" in lines[0] and "print" in lines[0]
    assert "pwned" not in done.stdout


def test_row22_a_repeated_param_is_refused_not_dropped(tmp_path):
    one_line_error(cli_run("sweep", "--data", "sine", "--param", "seq_len=10", "--param",
                           "seq_len=20", "--out", str(tmp_path / "s")),
                   "--param seq_len is given twice", "--param seq_len=10,20")
    assert not (tmp_path / "s").exists()


# --- row 16: the window choice reads a long series without a padded transform ----------


def test_row16_the_period_is_refined_without_a_16x_padded_transform(monkeypatch):
    import rnnlab.diagnostics as diagnostics

    sizes = []
    real = diagnostics._power_spectrum

    def recorded(x, nfft=None):
        sizes.append(nfft or len(x))
        return real(x, nfft)

    monkeypatch.setattr(diagnostics, "_power_spectrum", recorded)
    rng = np.random.default_rng(0)
    t = np.arange(20_011)  # a prime length: the padded FFT's worst case
    values = np.sin(2 * np.pi * t / 37.3) + rng.normal(0, 0.5, len(t))
    assert diagnostics.find_period(values) == 37
    assert sizes and max(sizes) <= len(values)  # the 16x grid (320,176 points) is gone


@pytest.mark.parametrize("n,k", [(601, 12), (1000, 0), (1000, 500), (997, 498)])
def test_row16_the_direct_transform_equals_the_padded_one_near_the_peak(n, k):
    from rnnlab.diagnostics import _power_near, _power_spectrum

    x = np.random.default_rng(n).normal(size=n) + np.sin(np.arange(n) / 3)
    freqs, power = _power_spectrum(x, 16 * n)
    near = np.abs(freqs - np.fft.rfftfreq(n)[k]) <= 1.0 / n
    got_freqs, got_power = _power_near(x, k, 16)
    assert np.array_equal(got_freqs, freqs[near])
    assert np.allclose(got_power, power[near], rtol=1e-9, atol=1e-12 * power.max())
