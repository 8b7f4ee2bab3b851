"""Figures and the HTML section of the multi-step scores: the error-against-step plot
(with its coverage panel), interval bands on the test and forecast plots, and the section
'Many steps ahead' drawn only for runs that have multi-step scores."""

import numpy as np
import pandas as pd
import pytest

from rnnlab import plots
from rnnlab.report import HtmlReport, add_compare_horizons, add_horizon_section
from test_report_horizon_readings import multi_step


@pytest.fixture
def figures(monkeypatch):
    """The figures drawn, by file name, kept before they are written."""
    drawn = {}
    save = plots._save

    def keep(fig, path):
        drawn[str(path).rsplit("/", 1)[-1]] = fig
        save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return drawn


def legend(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_horizon_errors_draws_a_line_per_curve_and_a_coverage_panel(tmp_path, figures):
    curves = {"lstm": [0.1, 0.2, 0.3], "naive": [0.2, 0.3, 0.4], "seasonal_naive": [0.3] * 3}
    plots.horizon_errors(curves, tmp_path / "h.png", "sine")
    assert (tmp_path / "h.png").stat().st_size > 1000
    (ax,) = figures["h.png"].axes
    assert legend(ax) == ["lstm", "naive", "seasonal naive"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["lstm"].get_xdata()) == [1, 2, 3]
    assert lines["lstm"].get_linestyle() == "-" and lines["naive"].get_linestyle() == "--"
    assert ax.get_ylabel() == "test RMSE"

    plots.horizon_errors(curves, tmp_path / "c.png", metric="mase",
                         coverage={"lstm": [0.7, 0.8, 0.9]}, level=0.8, tolerance=0.05)
    top, panel = figures["c.png"].axes
    assert top.get_ylabel() == "test MASE" and panel.get_ylabel() == "coverage (%)"
    assert legend(panel) == ["lstm", "nominal 80%", "within 5 points"]
    assert list(panel.get_lines()[0].get_ydata()) == pytest.approx([70, 80, 90])


def test_two_curves_of_one_cell_type_differ_in_dash(tmp_path, figures):
    plots.horizon_errors({"lstm (direct)": [1, 2], "lstm (recursive)": [1, 3]},
                         tmp_path / "h.png")
    styles = [line.get_linestyle() for line in figures["h.png"].axes[0].get_lines()]
    assert styles == ["-", "--"]


def series(n):
    index = pd.date_range("2024-01-01", periods=n, freq="D", name="date")
    return index, np.sin(np.arange(n) / 4.0)


def test_plot_test_draws_the_interval_band_only_when_given(tmp_path, figures):
    index, actual = series(60)
    predictions = pd.DataFrame({"actual": actual, "model": actual + 0.1,
                                "naive": np.roll(actual, 1)}, index=index)
    plots.plot_test(predictions, tmp_path / "old.png", "sine")  # the old call still works
    assert "80% interval" not in legend(figures["old.png"].axes[0])
    plots.plot_test(predictions, tmp_path / "band.png", "sine", lower=actual - 0.3,
                    upper=actual + 0.3, level=0.8)
    assert legend(figures["band.png"].axes[0])[0] == "80% interval"
    assert (tmp_path / "band.png").stat().st_size > 1000


def test_plot_forecast_draws_the_known_part_the_forecast_and_its_band(tmp_path, figures):
    index, values = series(80)
    known, future = pd.Series(values[:60], index[:60]), pd.Series(values[60:], index[60:])
    plots.plot_forecast(known, future, tmp_path / "f.png", lower=future - 0.2,
                        upper=future + 0.2, level=0.95)
    assert legend(figures["f.png"].axes[0]) == ["known", "95% interval", "forecast"]
    plots.plot_forecast(known, future, tmp_path / "plain.png")
    assert legend(figures["plain.png"].axes[0]) == ["known", "forecast"]
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_the_section_appears_only_for_runs_with_multi_step_scores(tmp_path):
    old = HtmlReport("run")
    assert add_horizon_section(old, tmp_path, {"model": "lstm", "test": {}}) is None
    assert "Many steps ahead" not in old.render()
    assert not (tmp_path / "horizon_errors.png").exists()

    new = HtmlReport("run")
    add_horizon_section(new, tmp_path, {"model": "lstm", "series": "sine",
                                        "multi_step": multi_step()})
    page = new.render()
    assert '<section id="many-steps-ahead"><h2>1. Many steps ahead</h2>' in page
    assert "<th>step 10</th><th>all</th>" in page and "<td>RMSE lstm</td>" in page
    assert '<tr class="baseline"><td>RMSE naive</td>' in page
    assert "lstm scores RMSE 0.335" in page and "data:image/png;base64," in page
    assert (tmp_path / "horizon_errors.png").stat().st_size > 1000


def test_compare_section_plots_each_dataset_with_multi_step_runs(tmp_path):
    records = [{"dataset": d, "model": m, "seed": s, "status": "ok",
                "multi_step": multi_step()} for d in ("sine", "stock:A") for m in ("lstm", "gru")
               for s in (0, 1)]
    records.append({"dataset": "noise", "model": "lstm", "seed": 0, "status": "ok"})
    report = HtmlReport("compare")
    add_compare_horizons(report, tmp_path, records)
    page = report.render()
    assert "<h3>sine</h3>" in page and "<h3>stock:A</h3>" in page and "noise" not in page
    assert (tmp_path / "horizon_sine.png").stat().st_size > 1000
    assert (tmp_path / "horizon_stock-A.png").is_file()


def compare_record(model, seed, with_multi_step):
    actual = np.sin(np.arange(40.0))
    row = {"dataset": "sine", "model": model, "seed": seed, "status": "ok", "error": "",
           "rmse": 0.1, "mae": 0.1, "mase": 0.5, "naive_rmse": 0.2, "mean_rmse": 0.7,
           "seasonal_naive_rmse": 0.15, "naive_mae": 0.2, "mean_mae": 0.6,
           "seasonal_naive_mae": 0.1, "naive_mase": 1, "mean_mase": 4, "seasonal_naive_mase": 1,
           "train_seconds": 1.0, "epochs": 3, "best_epoch": 2,
           "predictions": {"index": list(range(40)), "actual": actual.tolist(),
                           "model": (actual + 0.1).tolist(), "naive": np.roll(actual, 1).tolist(),
                           "mean": np.zeros(40).tolist(),
                           "seasonal_naive": (actual + 0.15).tolist()}}
    return {**row, "multi_step": multi_step()} if with_multi_step else row


@pytest.mark.parametrize("with_multi_step", [False, True])
def test_the_compare_report_has_the_section_only_with_multi_step_runs(tmp_path,
                                                                     with_multi_step):
    from rnnlab.experiment import results_frame, summarize
    from rnnlab.report import write_lab_outputs

    records = [compare_record(m, 0, with_multi_step) for m in ("lstm", "gru")]
    results = results_frame(records)
    settings = {"kind": "compare", "seeds": 1, "config": {"model": {
        "linear_skip": True, "seq_len": 30, "hidden_size": 8, "num_layers": 1,
        "scaler": "auto"}}}
    write_lab_outputs(tmp_path, settings, records, results,
                      summarize(results, ["dataset", "model"]), ["dataset", "model"])
    page = (tmp_path / "report.html").read_text()
    assert ("Many steps ahead" in page) is with_multi_step
    assert (tmp_path / "horizon_sine.png").is_file() is with_multi_step
