"""What surprised a newcomer in their first hour with rnnlab (issue 25), one test per fix.

Each test is named after the issue's item it covers, so a failure says which surprise is back.
"""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from rnnlab import Forecaster, SeasonalNaiveForecaster, inspect
from rnnlab.errors import DataError


def monthly_season(n: int = 240, seed: int = 0) -> pd.Series:
    months = pd.date_range("2000-01-01", periods=n, freq="MS")
    noise = np.random.default_rng(seed).standard_normal(n)
    values = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 12) + 0.3 * noise
    return pd.Series(values, index=months, name="monthly")


# --- item 1: the Python API takes dates in time order, and refuses repeated ones ----------


def test_item1_fit_sorts_shuffled_dates_and_forecasts_after_the_last():
    series = monthly_season()
    shuffled = series.sample(frac=1, random_state=0)
    with pytest.warns(UserWarning, match="monthly was not in time order: sorted it"):
        model = Forecaster(epochs=1, progress=False).fit(shuffled)
    future = model.forecast(3)
    assert list(future.index) == list(pd.date_range("2020-01-01", periods=3, freq="MS"))


def test_item1_inspect_reads_a_shuffled_season_as_seasonal():
    series = monthly_season()
    with pytest.warns(UserWarning, match="not in time order"):
        verdict = inspect(series.sample(frac=1, random_state=1)).verdict
    assert verdict == inspect(series).verdict == "seasonal"


@pytest.mark.parametrize("call", ["fit", "inspect", "predict", "baseline"])
def test_item1_repeated_dates_are_refused_with_the_fix(call):
    series = monthly_season(60)
    repeated = pd.concat([series[:30], series[29:]])
    message = "monthly repeats dates: 2002-06-01 appears 2 times"
    with pytest.raises(DataError, match=message) as caught:
        if call == "fit":
            Forecaster(epochs=1, progress=False).fit(repeated)
        elif call == "inspect":
            inspect(repeated)
        elif call == "baseline":
            SeasonalNaiveForecaster().fit(repeated)
        else:
            model = SeasonalNaiveForecaster().fit(series)
            model.predict(repeated)
    assert "keep one value per date, e.g. series.groupby(level=0).mean()" in str(caught.value)


def test_item1_a_series_in_order_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SeasonalNaiveForecaster().fit(monthly_season()).forecast(2)


# --- item 2: the small regressions run on one BLAS thread, each once per fit ----------------


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def test_item2_adf_regressions_run_on_one_blas_thread(monkeypatch):
    from rnnlab import diagnostics

    seen = []
    original = diagnostics._ols

    def recording(y, x):
        seen.append(_blas_threads())
        return original(y, x)

    monkeypatch.setattr(diagnostics, "_ols", recording)
    values = np.cumsum(np.random.default_rng(21).standard_normal(300))
    with threadpool_limits(limits=2, user_api="blas"):
        diagnostics.find_period(values)
        assert _blas_threads() == 2 or len(threadpool_info()) == 0  # restored after
    assert seen and set(seen) == {1}


ONE_THREAD_AFTER_AN_IMPORT = """
import numpy
from threadpoolctl import threadpool_info
from rnnlab.threads import one_blas_thread
with one_blas_thread():  # the libraries are found now: numpy's BLAS alone
    pass
import scipy.linalg  # scipy's own BLAS comes with it
with one_blas_thread():
    print(sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}),
          len([i for i in threadpool_info() if i["user_api"] == "blas"]))
"""


def test_a_blas_loaded_after_the_first_limit_is_limited_too():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", ONE_THREAD_AFTER_AN_IMPORT], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    threads, libraries = done.stdout.rsplit(" ", 1)
    assert threads == "[1]", done.stdout
    if int(libraries) < 2:
        pytest.skip("scipy shares numpy's BLAS here: nothing is loaded after the first limit")


def test_item2_each_statistic_is_computed_once_per_fit(monkeypatch):
    from rnnlab import diagnostics

    calls = {"adf": [], "peak": []}
    adf, peak = diagnostics._adf_regression, diagnostics._spectral_peak

    def counted_adf(x, regression):
        calls["adf"].append((len(x), regression))
        return adf(x, regression)

    def counted_peak(x, max_period=None):
        calls["peak"].append(len(x))
        return peak(x, max_period)

    monkeypatch.setattr(diagnostics, "_adf_regression", counted_adf)
    monkeypatch.setattr(diagnostics, "_spectral_peak", counted_peak)
    series = monthly_season(300, seed=22)  # values no earlier test has seen
    Forecaster(epochs=1, horizon=3, progress=False).fit(series, val_size=30)
    SeasonalNaiveForecaster().fit(series, val_size=30)
    assert len(calls["adf"]) == len(set(calls["adf"])), calls["adf"]
    assert len(calls["peak"]) == len(set(calls["peak"])) == 1, calls["peak"]


# --- item 8: inspect reports one window, the one train uses ---------------------------------


def _cli(*args, **kwargs):
    from click.testing import CliRunner

    from rnnlab.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def test_item8_inspect_prints_one_window_and_it_is_trains(tmp_path):
    from rnnlab.windows import train_window

    series = monthly_season(300)
    path = tmp_path / "monthly.csv"
    series.to_csv(path)
    result = _cli("inspect", "--data", str(path))
    assert result.exit_code == 0, result.output
    assert "suggested seq_len" not in result.output
    window = train_window(series)
    assert f"rnnlab train's default window: seq_len {window.seq_len}" in result.output
    payload = json.loads(_cli("inspect", "--data", str(path), "--json").stdout)
    assert payload["train_seq_len"] == window.seq_len and "suggested_seq_len" not in payload


# --- item 13: the CSV pandas writes is read with its dates ----------------------------------


def test_item13_unnamed_first_column_of_iso_dates_is_the_date_column(tmp_path):
    from rnnlab.data import load_series

    series = monthly_season(60)
    series.index.name = None  # DataFrame.to_csv() then writes an empty header
    path = tmp_path / "from_pandas.csv"
    series.to_frame("sales").to_csv(path)
    assert path.read_text().startswith(",sales\n2000-01-01,")
    read = load_series(str(path))
    assert isinstance(read.index, pd.DatetimeIndex)
    assert read.index[-1] == pd.Timestamp("2004-12-01") and read.name.endswith("sales")


# --- item 15: small wording faults ------------------------------------------------------------


def test_item15_overwrite_is_not_offered_where_it_would_be_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    result = _cli("train", "--data", "sine", "--epochs", "1", "--out", ".")
    assert result.exit_code == 2
    assert "--overwrite would not clear" in result.stderr
    assert "pass --overwrite" not in result.stderr


def test_item15_a_short_series_error_from_python_names_parameters_not_flags():
    # The pool fits without the net and says why in its table; the net alone is refused.
    fitted = Forecaster(seq_len=30, progress=False).fit(monthly_season(40))
    net = [c for c in fitted.candidates_ if c["family"] == "net"][0]
    assert net["weight"] == 0 and "seq_len 30 needs 46 values" in net["note"]
    with pytest.raises(DataError) as caught:
        Forecaster(seq_len=30, progress=False, candidates="net").fit(monthly_season(40))
    message = str(caught.value)
    assert "--" not in message and "direct" not in message
    assert "use a shorter seq_len" in message and "or a longer series" in message


def test_item15_forecaster_init_docstring_is_its_own():
    import inspect as pyinspect

    assert "without hyperparameters" not in pyinspect.getdoc(Forecaster.__init__)


def test_item15_delay_is_named_as_data_names_it():
    from rnnlab.data import load_series

    assert load_series("delay").name == "delay"


def test_item15_sweep_param_typo_gets_did_you_mean():
    from rnnlab.experiment import sweep_grid

    with pytest.raises(Exception, match="unknown parameter 'seqlen' to sweep.*did you mean "
                       "seq_len\\?$"):
        sweep_grid({"seqlen": "10,30"})


def test_item15_date_column_help_lists_every_name_searched():
    from rnnlab.config import DATE_NAMES

    text = " ".join(_cli("train", "--help").output.split())
    assert ", ".join(DATE_NAMES) in text and "unnamed first column" in text


def test_item15_inspect_help_has_no_market_option():
    assert "--market" not in _cli("inspect", "--help").output


def test_item15_a_win_reads_against_the_best_baseline_named_once():
    from rnnlab.report import versus_naive

    metrics = {"model": {"rmse": 1.0}, "naive": {"rmse": 1.5}, "mean": {"rmse": 1.6},
               "seasonal_naive": {"rmse": 1.17},
               "verdict": {"outcome": "win", "against": "seasonal_naive", "ratio": 0.855,
                           "p_value": 0.0001}}
    text = versus_naive(metrics, "lstm")
    assert text.startswith("lstm beats every baseline; against the best of them, seasonal "
                           "naive, it is 14.5% better")
    assert "the best baseline here" not in text


# --- item 10: Ctrl-C stops at once and says what it kept -------------------------------------


def test_item10_ctrl_c_during_training_skips_the_scoring(tmp_path, monkeypatch):
    from helpers import stop_after
    from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from rnnlab.runs import run_train

    def no_scoring(*args, **kwargs):
        raise AssertionError("a stopped run was scored")

    monkeypatch.setattr("rnnlab.runs.interruptible", lambda: stop_after(1))
    monkeypatch.setattr("rnnlab.runs.score_fitted", no_scoring)
    config = RunConfig(DataConfig("sine"), ModelConfig(seq_len=30, hidden_size=8, num_layers=1),
                       TrainConfig(epochs=3))
    out = tmp_path / "run"
    metrics = run_train(config, out, plots=False, progress=False)
    assert metrics["status"] == "incomplete" and metrics["epochs_run"] == 1
    assert metrics["reason"].startswith("interrupted after epoch 1, before scoring; model.pt "
                                        "holds the best weights so far")
    assert (out / "model.pt").exists()


def test_item10_ctrl_c_before_training_says_nothing_was_written(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rnnlab.runs.load_data", interrupted)
    out = tmp_path / "run"
    result = _cli("train", "--data", "sine", "--out", str(out))
    assert result.exit_code == 130
    assert result.stderr.strip() == f"interrupted before training started: nothing was " \
        f"written to {out}"
    assert not out.exists()


# --- item 12: progress that promises nothing it cannot keep, and says what it is doing ------


def test_item12_progress_shows_no_eta_to_the_maximum_and_names_each_stage(tmp_path, capsys):
    from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from rnnlab.runs import run_train

    config = RunConfig(DataConfig("sine"), ModelConfig(seq_len=30, hidden_size=8, num_layers=1),
                       TrainConfig(epochs=3, patience=2))
    run_train(config, tmp_path / "run", plots=False, progress=True)
    err = capsys.readouterr().err.replace("\r", "\n")
    bars = [line for line in err.splitlines() if line.startswith("train: epoch")]
    assert bars and all("(stops after 2 epochs without a gain, at most 3)" in b for b in bars)
    assert not any("<" in b or "/3 [" in b for b in bars)  # no ETA, no n/total bar
    assert "fitting on the first 800 values" in err and "scoring the last 200 values" in err


# --- item 3: a sweep about a setting includes the default train uses, and calls it that -----


def test_item3_the_window_sweep_includes_each_series_default():
    from rnnlab.demo import Plan, stages, window_grid

    assert window_grid((10, 30, 100), "sine") == [10, 30, 100, 126]
    assert window_grid((10, 30), "stock:A") == [10, 30]
    horizon = stages(Plan.quick())["horizon"]
    assert {task.labels["strategy"] for task in horizon} == {"auto", "recursive", "direct"}


def test_item3_sweep_reading_calls_only_the_real_default_the_default():
    from rnnlab.report import sweep_reading

    rows = [("sine", 10, "lstm", 0.095, 0.001), ("sine", 30, "lstm", 0.090, 0.001),
            ("sine", 100, "lstm", 0.091, 0.001), ("sine", None, "naive", 0.137, 0)]
    summary = pd.DataFrame(rows, columns=["dataset", "seq_len", "model", "rmse_mean",
                                          "rmse_std"])
    text = sweep_reading(summary, "sine", "seq_len", 126)
    assert "the default seq_len" not in text.split(" (the default")[0]
    assert "the first value tried, seq_len = 10" in text or "changing seq_len from 10" in text
    assert "(the default seq_len on sine, 126, was not in the sweep" in text
    rows.append(("sine", 126, "lstm", 0.089, 0.001))
    summary = pd.DataFrame(rows, columns=summary.columns)
    text = sweep_reading(summary, "sine", "seq_len", 126)
    assert "126 (default): 0.089" in text and "the default seq_len = 126 is already the best" \
        in text


def test_item3_architecture_settings_never_print_seq_len_none():
    from rnnlab.demo import _window_words

    assert "None" not in _window_words(None) and "two seasons" in _window_words(None)


# --- item 9: poorly covered intervals are flagged ------------------------------------------


def test_item9_poorly_covered_steps_are_named():
    from rnnlab.report import poor_steps

    assert poor_steps([0.85, 0.82, 0.57], 0.8) == "57% at step 3 (too narrow)"
    assert poor_steps([0.8, 0.79], 0.8) == ""


def test_item9_forecast_warns_when_the_run_interval_covered_too_little(tmp_path):
    out = tmp_path / "run"
    trained = _cli("train", "--data", "sine", "--seq-len", "30", "--epochs", "1",
                   "--hidden-size", "4", "--num-layers", "1", "--out", str(out))
    assert trained.exit_code == 0, trained.output
    quiet = _cli("forecast", "--run", str(out), "--horizon", "2")
    assert "interval covered" not in quiet.stderr  # sine's interval covers about 80%
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["multi_step"]["overall"]["model"]["coverage"] = 0.44  # as tbilrate's did
    (out / "metrics.json").write_text(json.dumps(metrics))
    warned = _cli("forecast", "--run", str(out), "--horizon", "2")
    assert warned.exit_code == 0
    assert "the run's 80% interval covered 44% of its test values: narrower than the real " \
        "uncertainty" in warned.stderr


# --- item 6: readings that agree with the plots ---------------------------------------------


def test_item6_a_seasonal_memory_curve_reads_as_peaks_not_a_u():
    from rnnlab.explain import MemoryProfile

    shares = np.full(24, 0.01)
    shares[[0, 11, 23]] = 0.3, 0.2, 0.15  # lags 1, 12 and 24: seatbelts' curve
    profile = MemoryProfile("lstm", shares / shares.sum(), 20, 100, strength=0.9)
    text = profile.describe()
    assert "U-shaped" not in text and "it peaks at lags 1, 12 and 24" in text


def test_item6_memory_plot_of_a_near_constant_prediction_shows_no_memory(tmp_path,
                                                                        monkeypatch):
    from rnnlab import plots
    from rnnlab.explain import MemoryProfile

    labels = []
    monkeypatch.setattr(plots, "_finish", lambda fig, ax, *a, **k: labels.extend(
        line.get_label() for line in ax.get_lines()))
    weak = MemoryProfile("lstm", np.full(30, 1 / 30), 26, 100, strength=1e-8)
    plots.plot_memory_curves({"noise": weak}, tmp_path / "m.png")
    assert labels == ["noise (near constant: no lag to read)"]
    assert "no lag to read" in weak.describe()


def test_item6_delay_table_reads_the_lags_not_a_diffuse_effective_memory(tmp_path):
    from rnnlab.demo import add_memory_task
    from rnnlab.explain import MemoryProfile
    from rnnlab.report import HtmlReport

    # delay's vanilla rnn: its peak at lag 1, 0.018 at lag 30, a tail spread over the rest
    shares = np.full(35, 0.4 / 34)
    shares[0], shares[29] = 0.6 - 0.018 + 0.4 / 34, 0.018
    profile = MemoryProfile("rnn", shares / shares.sum(), 31, 100, strength=0.9)
    record = {"status": "ok", "model": "rnn", "rmse": 1.3, "mean_rmse": 1.6,
              "effective_memory": 31, "memory": profile.to_dict()}
    report = HtmlReport("t")
    add_memory_task(report, tmp_path, [record])
    page = report.render()
    assert "effective memory" not in page
    assert "<th>share at lag 1</th>" in page and "<th>share at lag 30</th>" in page


# --- item 7: one story about a win on prices -------------------------------------------------


def test_item7_a_win_on_prices_is_explained_not_called_leakage(monkeypatch):
    from rnnlab import demo

    cells = pd.DataFrame([{"series": "stock:A", "strategy": "auto", "outcome": "win",
                           "ratio": 0.986, "p": 0.001, "best baseline": "naive"}])
    monkeypatch.setattr(demo, "horizon_cells", lambda records: cells)
    text = demo.prices_closing(demo.Plan(), [], "stock:A")
    assert "the default does beat next = last on stock:A, 10 steps ahead (a win: 1.4% " \
        "better" in text
    assert "That is not leakage" in text and "would more likely be leakage" not in text
    # The full demo's case: the default ties, recursive wins; the report says both.
    mixed = pd.concat([cells.assign(outcome="tie"),
                       cells.assign(strategy="recursive", ratio=0.984, p=0.002)])
    monkeypatch.setattr(demo, "horizon_cells", lambda records: mixed)
    text = demo.prices_closing(demo.Plan(), [], "stock:A")
    assert "the lstm with strategy recursive does beat next = last" in text
    assert "That is not leakage" in text
    monkeypatch.setattr(demo, "horizon_cells", lambda records: cells.assign(outcome="tie"))
    assert demo.prices_closing(demo.Plan(), [], "stock:A").endswith("there is none here.")


# --- item 16: report polish --------------------------------------------------------------------


def test_item16_tables_and_readings_use_words_not_identifiers():
    from rnnlab.report import HtmlReport

    report = HtmlReport("t")
    parts = report.section("s")
    parts.append(report.table(pd.DataFrame({"model": ["lstm", "seasonal_naive"],
                                            "verdict": ["white_noise", "random_walk"]})))
    parts.append(report.reading("a tie vs seasonal_naive (Diebold-Mariano p = 0.2)"))
    page = report.render()
    for identifier in ("seasonal_naive", "white_noise", "random_walk"):
        assert identifier not in page
    assert "<td>seasonal naive</td>" in page and "vs seasonal naive" in page


def test_item16_jargon_gets_a_one_line_gloss_where_used():
    from rnnlab.report import HtmlReport

    report = HtmlReport("t")
    report.section("s").append(report.reading("a win (Diebold-Mariano p < 0.001); MASE 0.5"))
    page = report.render()
    assert "<dt>Diebold-Mariano</dt><dd>a paired test" in page and "<dt>MASE</dt>" in page
    assert "<dt>KPSS</dt>" not in page  # only the terms the page uses


def test_item16_readings_are_sentences_and_counts_agree():
    from rnnlab.demo import _count
    from rnnlab.report import sentences

    assert sentences(["test RMSE 0.432 (naive 0.419)", "before the first jump: RMSE 0.15"]) \
        == "Test RMSE 0.432 (naive 0.419). Before the first jump: RMSE 0.15."
    assert (_count(1, "seed"), _count(3, "seed")) == ("1 seed", "3 seeds")


def test_item16_rmse_chart_is_scaled_to_the_models_not_the_training_mean(tmp_path,
                                                                          monkeypatch):
    from rnnlab import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    rows = [("stock:A", "rnn", 0.6838, 0.001), ("stock:A", "naive", 0.6868, 0.0),
            ("stock:A", "mean", 16.91, 0.0), ("stock:A", "seasonal_naive", 0.6868, 0.0)]
    plots.plot_rmse_bars(pd.DataFrame(rows, columns=["dataset", "model", "rmse_mean",
                                                     "rmse_std"]), tmp_path / "bars.png")
    ax = figures[0].axes[0]
    bottom, top = ax.get_ylim()
    assert bottom < 0.996 < 1.0 < top < 1.2  # rnn's 0.4% gain is visible; the mean is not
    assert "24.6x" in [t.get_text() for t in ax.texts]  # the mean, marked at the edge


# --- item 4: a README a newcomer can read ----------------------------------------------------


def test_item4_readme_is_a_short_guide_whose_python_tour_runs(tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "releases ago" not in readme and "previous release" not in readme
    block = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    block = block.replace("Forecaster(horizon=12)", "Forecaster(horizon=12, epochs=2)")
    assert "epochs=2" in block
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("seasonal\n") and "lower" in done.stdout
