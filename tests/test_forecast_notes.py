"""`rnnlab forecast` says when it cannot be trusted: an unfinished run, data or forecasts
far from anything the model saw; the demo says which stage finished, terminal or not."""

import json
import logging

from click.testing import CliRunner

from rnnlab.cli import cli
from rnnlab.demo import StageLog
from rnnlab.tasks import Task


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_forecast_warns_on_far_data_and_on_an_unfinished_run(tmp_path):
    out = tmp_path / "a"
    assert run("train", "--data", "stock:A", "--epochs", "1", "--out", str(out)).exit_code == 0
    calm = run("forecast", "--run", str(out), "--horizon", "3")
    assert calm.exit_code == 0 and "note:" not in calm.stderr
    far = run("forecast", "--run", str(out), "--horizon", "3", "--data", "stock:AMZN")
    assert far.exit_code == 0
    assert "lies far outside the run's training range" in far.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    (out / "metrics.json").write_text(json.dumps({**metrics, "status": "incomplete"}))
    unfinished = run("forecast", "--run", str(out), "--horizon", "3")
    assert "is not a finished run (metrics.json: incomplete)" in unfinished.stderr


def test_the_demo_logs_one_line_per_finished_stage(caplog):
    config = {"data": {"source": "sine"}, "model": {"model": "rnn"}, "training": {}}
    groups = {"compare": [Task(config, (0, 1), {})], "memory": [Task(config, (1,), {})]}
    stage_log = StageLog(groups, started=0.0)
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        for rid in groups["compare"][0].run_ids():
            stage_log.record({"run_id": rid})
    lines = [r.getMessage() for r in caplog.records if "stage" in r.getMessage()]
    # seed 1 is shared: both stages end with it, each said once.
    assert [line.split(" finished")[0] for line in lines] == ["demo: stage compare",
                                                            "demo: stage memory"]


def test_dates_outside_the_nanosecond_range_still_fingerprint(tmp_path):
    import pandas as pd

    from rnnlab.runs import series_fingerprint

    index = pd.DatetimeIndex(["0001-01-01", "2000-01-02"]).as_unit("s")
    first = series_fingerprint(pd.Series([1.0, 2.0], index=index))
    assert first == series_fingerprint(pd.Series([1.0, 2.0], index=index))
    assert first != series_fingerprint(pd.Series([1.0, 3.0], index=index))


def test_a_figure_matplotlib_cannot_draw_is_a_note_not_a_failure(tmp_path):
    import pandas as pd

    dates = [*pd.date_range("2000-01-01", periods=79).strftime("%Y-%m-%d"), "9999-12-31"]
    csv = tmp_path / "far.csv"
    pd.DataFrame({"date": dates, "close": [float(i % 7) for i in range(80)]}).to_csv(
        csv, index=False)
    result = run("train", "--data", str(csv), "--seq-len", "4", "--epochs", "1",
                 "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "could not draw test_predictions.png" in result.stderr
    assert (tmp_path / "run" / "metrics.json").is_file()
