"""Data input that used to mislead or hang: day/month dates, year columns, huge or missing
time steps, absurd window lengths, and inspect on huge or extreme series.

Every refusal is one line of sane length; every case that used to hang runs under an alarm
(or a subprocess timeout), so a hang fails the test in seconds.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rnnlab.cli import cli
from rnnlab.data import read_csv
from rnnlab.errors import RnnlabError
from rnnlab.windows import MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS, _split, min_length, split_sizes


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging) when the block runs longer than `seconds`."""
    def alarm(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def message(call) -> str:
    with pytest.raises(RnnlabError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text and len(text) < 400, text
    return text


def write(path, dates, values=None, header="date,close"):
    values = values if values is not None else np.arange(len(dates), dtype=float) + 100
    path.write_text(header + "\n" + "".join(f"{d},{v}\n" for d, v in zip(dates, values,
                                                                          strict=True)))
    return path


DAYS = pd.date_range("2017-01-01", periods=300)
# The first of every month: day and month both <= 12, so the order cannot be told.
FIRSTS = pd.date_range("2000-01-01", periods=60, freq="MS")


# --- day/month dates ------------------------------------------------------------------


def test_day_first_dates_are_read_day_first_when_a_day_above_12_shows_it(tmp_path):
    path = write(tmp_path / "dmy.csv", DAYS.strftime("%d/%m/%Y"))
    series = read_csv(path)
    assert list(series.index) == list(DAYS)
    # Values in file order: nothing was moved by a wrong guess.
    assert series.tolist() == list(np.arange(300) + 100.0)


def test_month_first_dates_are_read_month_first_when_a_day_above_12_shows_it(tmp_path):
    path = write(tmp_path / "mdy.csv", DAYS.strftime("%m/%d/%Y"))
    assert list(read_csv(path).index) == list(DAYS)


def test_dotted_two_digit_years_and_times_follow_the_same_rule(tmp_path):
    path = write(tmp_path / "dots.csv", DAYS.strftime("%d.%m.%y"))
    assert list(read_csv(path).index) == list(DAYS)
    hours = DAYS + pd.Timedelta("10h30min")
    path = write(tmp_path / "times.csv", hours.strftime("%d/%m/%Y %H:%M"))
    assert list(read_csv(path).index) == list(hours)


def test_ambiguous_day_month_dates_are_refused_with_the_fix(tmp_path):
    path = write(tmp_path / "firsts.csv", FIRSTS.strftime("%d/%m/%Y"))
    text = message(lambda: read_csv(path))
    assert "'01/01/2000'" in text and "no day above 12" in text
    assert "--date-format %d/%m/%Y (day first)" in text
    assert "--date-format %m/%d/%Y (month first)" in text


def test_date_format_reads_ambiguous_dates_as_told(tmp_path):
    path = write(tmp_path / "firsts.csv", FIRSTS.strftime("%d/%m/%Y"))
    assert list(read_csv(path, date_format="%d/%m/%Y").index) == list(FIRSTS)
    swapped = pd.to_datetime(FIRSTS.strftime("%m/%d/%Y"), format="%d/%m/%Y")
    assert list(read_csv(path, date_format="%m/%d/%Y").index) == sorted(swapped)


def test_date_format_mismatch_and_bad_format_are_named(tmp_path):
    dates = list(FIRSTS.strftime("%d/%m/%Y"))
    dates[6] = "2000-07-01"
    path = write(tmp_path / "odd.csv", dates)
    text = message(lambda: read_csv(path, date_format="%d/%m/%Y"))
    assert "do not match the date format %d/%m/%Y at line 8 " in text
    assert "'2000-07-01'" in text
    text = message(lambda: read_csv(path, date_format="%Q"))
    assert "--date-format '%Q' is not a date format" in text


def test_date_format_without_a_date_column_is_refused(tmp_path):
    path = write(tmp_path / "nodate.csv", range(40), header="x,close")
    text = message(lambda: read_csv(path, target="close", date_format="%Y"))
    assert "--date-format '%Y' given but" in text and "--date-column" in text


def test_dates_written_both_ways_are_refused_naming_both_lines(tmp_path):
    dates = list(DAYS[:40].strftime("%d/%m/%Y"))
    dates[30] = "01/31/2017"
    path = write(tmp_path / "both.csv", dates)
    text = message(lambda: read_csv(path))
    assert "day first ('13/01/2017' at line 14)" in text
    assert "month first ('01/31/2017' at line 32)" in text


def test_a_few_day_month_dates_among_iso_ones_are_named(tmp_path):
    dates = list(DAYS[:40].strftime("%Y-%m-%d"))
    dates[5] = "03/04/2017"
    path = write(tmp_path / "few.csv", dates)
    text = message(lambda: read_csv(path))
    assert "day/month or month/day dates at line 7 (first: '03/04/2017')" in text


def test_iso_dates_are_read_as_before(tmp_path):
    path = write(tmp_path / "iso.csv", DAYS.strftime("%Y-%m-%d"))
    assert list(read_csv(path).index) == list(DAYS)


def test_cli_train_refuses_ambiguous_dates_and_takes_date_format(tmp_path):
    path = write(tmp_path / "firsts.csv", pd.date_range("2000-01-01", periods=200, freq="MS")
                 .strftime("%d/%m/%Y"), np.sin(np.arange(200) / 5))
    runner = CliRunner()
    refused = runner.invoke(cli, ["train", "--data", str(path), "--out",
                                  str(tmp_path / "no")])
    assert refused.exit_code == 2
    assert "pass --date-format %d/%m/%Y (day first)" in refused.output
    assert not (tmp_path / "no").exists()
    out = tmp_path / "run"
    done = runner.invoke(cli, ["train", "--data", str(path), "--date-format", "%d/%m/%Y",
                               "--epochs", "1", "--seq-len", "10", "--no-progress",
                               "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert '"date_format": "%d/%m/%Y"' in (out / "config.json").read_text()
    forecast = runner.invoke(cli, ["forecast", "--run", str(out), "--horizon", "2"])
    assert forecast.exit_code == 0, forecast.output
    assert "2016-09-01" in forecast.output and "2016-10-01" in forecast.output


# --- year columns ---------------------------------------------------------------------


def sunspots(path, n=120):
    rows = "".join(f"{1700 + i}.0,{abs(50 * np.sin(i / 1.8)) + i % 7}\n" for i in range(n))
    path.write_text('"YEAR","SUNACTIVITY"\n' + rows)
    return path


@pytest.mark.parametrize("name", ["YEAR", "Year", "year"])
def test_a_year_column_is_the_time_axis_in_whole_years(tmp_path, name):
    path = sunspots(tmp_path / "sun.csv")
    path.write_text(path.read_text().replace('"YEAR"', name))
    series = read_csv(path)
    assert series.name == "sun.csv SUNACTIVITY"
    assert series.index.name == name and series.index.dtype == np.int64
    assert series.index[0] == 1700 and series.index[-1] == 1819


def test_forecast_continues_years(tmp_path):
    path = sunspots(tmp_path / "sun.csv")
    out = tmp_path / "run"
    runner = CliRunner()
    done = runner.invoke(cli, ["train", "--data", str(path), "--epochs", "1", "--seq-len", "5",
                               "--no-progress", "--out", str(out)])
    assert done.exit_code == 0, done.output
    forecast = runner.invoke(cli, ["forecast", "--run", str(out), "--horizon", "3"])
    assert forecast.exit_code == 0, forecast.output
    years = [line.split()[0] for line in forecast.output.splitlines()[1:]]
    assert years == ["1820", "1821", "1822"]


def test_repeated_years_hint_at_a_separate_month_column(tmp_path):
    rows = "".join(f"{1990 + i // 12},{1 + i % 12},{i}\n" for i in range(36))
    path = tmp_path / "monthly.csv"
    path.write_text("Year,Month,Passengers\n" + rows)
    text = message(lambda: read_csv(path, target="Passengers"))
    assert "repeats dates: 1990 at lines 2, 3, 4, 5, 6 and 7 more" in text
    assert "join them into one" in text


# --- huge and missing time steps, long cells ------------------------------------------


def test_near_2_63_integer_time_steps_give_one_short_line(tmp_path):
    path = write(tmp_path / "big.csv", [str(2**63 - 1 - i) for i in range(300)])
    text = message(lambda: read_csv(path))
    assert "'9223372036854775807', too large to tell apart" in text
    assert len(text) < 300


def test_repeated_time_steps_list_at_most_five_lines(tmp_path):
    path = write(tmp_path / "same.csv", ["7"] * 300)
    text = message(lambda: read_csv(path))
    assert "repeats dates: 7 at lines 2, 3, 4, 5, 6 and 295 more" in text


@pytest.mark.parametrize("cell", ["nan", "inf", "x"])
def test_one_bad_cell_in_a_numeric_time_column_names_its_line(tmp_path, cell):
    steps = [str(i) for i in range(300)]
    steps[150] = cell
    path = write(tmp_path / "steps.csv", steps)
    text = message(lambda: read_csv(path))
    assert f"holds time steps (numbers) except at line 152 (first: '{cell}')" in text


def test_long_cells_and_headers_are_cut_in_messages(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("date,close\n2020-01-01,1\n2020-01-02," + "y" * 100_000 + "\n")
    text = message(lambda: read_csv(path))
    assert "(first: '" + "y" * 40 + "...')" in text
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"col{i}" for i in range(500)) + "\n" + ",".join("1" * 500) + "\n")
    text = message(lambda: read_csv(wide, target="nope"))
    assert "col19 and 480 more" in text


# --- absurd window lengths ------------------------------------------------------------


def counted_min_length(seq_len, val_fraction, test_fraction):
    """The old definition, one row at a time: the reference for small cases."""
    n = seq_len + MIN_TRAIN_WINDOWS
    while True:
        s = _split(n, val_fraction, test_fraction)
        if (s.n_train >= seq_len + MIN_TRAIN_WINDOWS
                and (val_fraction == 0 or s.n_val >= MIN_VAL_WINDOWS)
                and (test_fraction == 0 or s.n_test >= 1)):
            return n
        n += 1


def test_min_length_matches_counting_row_by_row():
    rng = np.random.default_rng(0)
    fractions = [0.0, 0.001, 0.05, 0.1, 0.2, 0.25, 1 / 3, 0.45]
    for _ in range(600):
        val, test = rng.choice(fractions, 2)
        if val + test >= 0.9:
            continue
        seq_len = int(rng.choice([1, 2, 10, 30, int(rng.integers(1, 3000))]))
        assert min_length(seq_len, val, test) == counted_min_length(seq_len, val, test), \
            (seq_len, val, test)


def test_a_billion_row_window_is_refused_at_once():
    with deadline(5):
        assert min_length(10**9, 0.1, 0.2) == 1_428_571_451
        text = message(lambda: split_sizes(1000, 10**9, 0.1, 0.2, name="sine"))
        assert "sine has 1000 rows, too short for seq_len 1000000000" in text
        assert "at least 1428571451 rows" in text
        text = message(lambda: split_sizes(1000, 10**400, 1e-9, 0.2, name="sine"))
        assert "seq_len 1.00e+400" in text


def test_cli_train_with_a_billion_row_window_exits_2_within_seconds(tmp_path):
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from rnnlab.cli import main; main()", "train", "--data",
         "sine", "--seq-len", "1000000000", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: sine has 1000 rows, too short for seq_len 1000000000")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    assert time.perf_counter() - started < 60



# --- inspect on long and extreme series -----------------------------------------------


def test_ljung_box_by_fft_equals_statsmodels():
    from statsmodels.stats.diagnostic import acorr_ljungbox

    from rnnlab.diagnostics import _ljung_box

    e = np.random.default_rng(0).standard_normal(3000)
    x = np.convolve(e, [1.0, 0.5, 0.25])[:3000]
    ours = _ljung_box(x, 40)
    theirs = acorr_ljungbox(x, lags=[40], return_df=True).iloc[-1]
    assert ours.statistic == pytest.approx(theirs["lb_stat"], rel=1e-9)
    assert ours.p_value == pytest.approx(theirs["lb_pvalue"], rel=1e-6, abs=1e-300)


def test_inspect_tests_the_latest_points_and_says_so(monkeypatch):
    from rnnlab import diagnostics

    x = np.cumsum(np.random.default_rng(1).standard_normal(15_000))
    monkeypatch.setattr(diagnostics, "INSPECT_MAX_POINTS", 12_000)
    long = diagnostics.inspect(x)
    recent = diagnostics.inspect(x[-12_000:])
    assert long.n == 15_000 and long.tested == 12_000 and long.to_dict()["tested"] == 12_000
    assert {k: t.statistic for k, t in long.tests.items()} == \
        {k: t.statistic for k, t in recent.tests.items()}
    assert long.summary["mean"] == pytest.approx(x.mean())  # the summary reads every point
    assert ("tests, correlations and periodogram on the last 12,000 of 15,000 points (ADF on "
            "the last 10,000)") in long.report()
    assert "ADF on the last 10,000 of 12,000 points" in recent.report()


def test_inspect_refuses_a_series_constant_over_its_tested_part(monkeypatch):
    from rnnlab import diagnostics

    monkeypatch.setattr(diagnostics, "INSPECT_MAX_POINTS", 100)
    x = np.r_[np.arange(200.0), np.full(100, 5.0)]
    text = message(lambda: diagnostics.inspect(x, name="flat"))
    assert "flat is constant (5) over its last 100 values" in text


def test_inspect_on_five_million_points_answers_within_seconds():
    probe = ("import time, numpy as np\n"
             "from rnnlab.diagnostics import inspect\n"
             "x = np.cumsum(np.random.default_rng(0).standard_normal(5_000_000))\n"
             "start = time.perf_counter()\n"
             "found = inspect(x)\n"
             "print(found.verdict, found.n, found.tested, time.perf_counter() - start)\n")
    # One BLAS thread: on a loaded 2-core machine two of them made ADF's regressions 9x
    # slower; the bound under test is the growth with n, not the thread count.
    env = {**__import__("os").environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    verdict, n, tested, _seconds = done.stdout.split()
    assert (verdict, n, tested) == ("random_walk", "5000000", "100000")


@pytest.mark.parametrize("scale", [1e200, 1e300, 1e-300, 1e-320])
def test_inspect_extreme_magnitudes_gives_a_result_without_warnings(scale):
    import warnings

    from rnnlab.diagnostics import inspect

    rng = np.random.default_rng(0)
    walk = (np.cumsum(rng.standard_normal(400)) + 100) * scale
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = inspect(walk)
        noise = inspect(rng.standard_normal(400) * scale)
    assert found.verdict == inspect(walk / scale).verdict == "random_walk"
    assert noise.verdict == "white_noise"
    assert found.summary["max"] == walk.max()
    # numpy's own std squares the values: inf at 1e200, so the reference is computed at 1.
    expected = np.std(walk / scale) * scale
    assert found.summary["std"] == pytest.approx(expected, rel=1e-2 if scale < 1e-310 else 1e-9)


def test_cli_inspect_on_1e200_values_exits_0_and_prints_no_warning(tmp_path):
    values = (np.cumsum(np.random.default_rng(0).standard_normal(300)) + 100) * 1e200
    path = write(tmp_path / "huge.csv", pd.date_range("2020-01-01", periods=300)
                 .strftime("%Y-%m-%d"), values)
    done = CliRunner().invoke(cli, ["inspect", "--data", str(path)])
    assert done.exit_code == 0, done.output
    assert "Warning" not in done.output and "verdict: random_walk" in done.output
