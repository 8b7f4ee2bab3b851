"""Readings computed from numbers, and the self-contained HTML of compare and demo."""

import base64
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from rnnlab.report import compare_reading, metrics_table, sweep_reading, versus_naive


def summary(rows):
    frame = pd.DataFrame(rows, columns=["dataset", "model", "rmse_mean", "rmse_std"])
    frame["runs"] = 3
    return frame


def test_noise_reading_says_nothing_beats_the_mean():
    s = summary([("noise", "lstm", 1.01, 0.01), ("noise", "gru", 1.02, 0.01),
                 ("noise", "naive", 1.41, 0), ("noise", "mean", 1.00, 0),
                 ("noise", "seasonal_naive", 1.41, 0)])
    text = compare_reading(s, "noise")
    assert text.startswith("no model beats the training mean on noise")
    assert "within two seed standard deviations" in text


@pytest.mark.parametrize("dataset, best, words", [
    ("noise", "mean", "the series has no structure the models could learn"),
    ("stock:GOOG", "naive", "the models add nothing to repeating the last value"),
])
def test_a_win_under_one_percent_is_a_tie(dataset, best, words):
    other = "naive" if best == "mean" else "mean"
    s = summary([(dataset, "rnn", 0.998, 0.001), (dataset, best, 1.0, 0),
                 (dataset, other, 1.4, 0), (dataset, "seasonal_naive", 1.4, 0)])
    text = compare_reading(s, dataset)
    assert "beats every baseline" not in text
    name = "the training mean" if best == "mean" else "next = last"
    assert text.startswith(f"no model beats {name} on {dataset} by a meaningful margin")
    assert "0.2% better than it, within 1%" in text and words in text
    s.loc[0, "rmse_mean"] = 0.98  # 2% better: a win
    assert "beats every baseline" in compare_reading(s, dataset)


def test_stock_reading_says_how_much_worse_than_tomorrow_equals_today():
    s = summary([("stock:A", "lstm", 0.70, 0.005), ("stock:A", "naive", 0.687, 0),
                 ("stock:A", "mean", 16.9, 0), ("stock:A", "seasonal_naive", 0.687, 0)])
    assert "no model beats the naive baseline: the best model, lstm, is 1.9% worse" in \
        compare_reading(s, "stock:A")


def test_winning_reading_gives_the_margin():
    s = summary([("sine", "rnn", 0.09, 0.001), ("sine", "gru", 0.12, 0.001),
                 ("sine", "naive", 0.137, 0), ("sine", "mean", 0.72, 0),
                 ("sine", "seasonal_naive", 0.127, 0)])
    text = compare_reading(s, "sine")
    assert "best model, rnn (RMSE 0.09), beats every baseline" in text
    assert "34.3% better than next = last" in text
    assert "gru is the weakest model, 33.3% worse than rnn" in text


def test_sweep_reading_separates_noise_from_gains():
    rows = [("stock:A", 10, "lstm", 0.690, 0.004), ("stock:A", 30, "lstm", 0.692, 0.004),
            ("stock:A", 100, "lstm", 0.700, 0.004), ("stock:A", None, "naive", 0.687, 0)]
    s = pd.DataFrame(rows, columns=["dataset", "seq_len", "model", "rmse_mean", "rmse_std"])
    text = sweep_reading(s, "stock:A", "seq_len", 30)
    assert "seq_len = 10 is best" in text and "does not measurably help" in text
    rows[0] = ("stock:A", 10, "lstm", 0.60, 0.004)
    s = pd.DataFrame(rows, columns=s.columns)
    assert "changing seq_len from 30 to 10 helps: 13.3% better" in sweep_reading(
        s, "stock:A", "seq_len", 30)


def test_sweep_reading_judges_many_steps_ahead_apart():
    # One step ahead the setting looks better; over all H steps it is worse, by a margin.
    columns = ["dataset", "refit", "model", "rmse_mean", "rmse_std", "rmse_h_mean",
               "rmse_h_std", "outcome_h", "against_h", "ratio_h", "p_value_h"]
    rows = [("d", True, "lstm", 2.6, 0.0, 3.4, 0.0, "tie", "seasonal_naive", 1.0, 0.9),
            ("d", False, "lstm", 2.7, 0.0, 3.0, 0.0, "win", "seasonal_naive", 0.88, 0.01),
            ("d", None, "naive", 11.6, 0.0, 10.7, 0.0, None, None, None, None)]
    text = sweep_reading(pd.DataFrame(rows, columns=columns), "d", "refit", True)
    one_step, ahead = text.split(" Many steps ahead ")
    assert "the default refit = True is already the best" in one_step
    assert ahead.startswith("(RMSE over all steps from every test origin), by refit: False: "
                            "3, True (default): 3.4; changing refit from True to False helps: "
                            "11.8% better RMSE; against the best baseline there (seasonal "
                            "naive)")
    assert "Many steps ahead" not in sweep_reading(
        pd.DataFrame(rows, columns=columns).drop(columns=["rmse_h_mean"]), "d", "refit", True)


def test_text_table_and_verdict_sentence():
    metrics = {"model": {"rmse": 0.7, "mae": 0.5, "mape": 1.0, "smape": 1.0, "mase": 1.0},
               "naive": {"rmse": 0.687, "mae": 0.48, "mape": 1.0, "smape": 1.0, "mase": 0.97},
               "mean": {"rmse": 16.9, "mae": 15.6, "mape": 20, "smape": 20, "mase": 31},
               "seasonal_naive": {"rmse": 0.687, "mae": 0.48, "mape": 1, "smape": 1,
                                  "mase": 0.97}}
    assert "lstm" in metrics_table(metrics, "lstm").splitlines()[1]
    assert versus_naive(metrics, "lstm") == (
        "lstm loses to next = last, the best baseline here: 1.9% worse (more than 1%; no "
        "predictions to test); it is 1.9% worse than next = last (naive RMSE 0.687) and "
        "95.9% better than the training mean")
    metrics["verdict"] = {"outcome": "tie", "against": "naive", "ratio": 0.999,
                          "p_value": 0.62}
    assert versus_naive(metrics, "lstm").startswith(
        "lstm ties with next = last, the best baseline here: 0.1% better (within 1%)")


def test_the_paired_test_turns_a_large_but_noisy_gap_into_a_tie():
    import numpy as np

    from rnnlab.metrics import verdict

    rng = np.random.default_rng(0)
    actual = rng.standard_normal(60)
    naive = actual + rng.standard_normal(60)
    # 13% lower RMSE, but errors independent of naive's on 60 targets: could be chance.
    model = actual + 0.9 * rng.standard_normal(60)
    found = verdict(actual, model, {"naive": naive})
    assert found.ratio < 0.9 and found.p_value > 0.05 and found.outcome == "tie"
    assert verdict(actual, actual + 0.5 * (naive - actual), {"naive": naive}).outcome == "win"
    assert verdict(actual, actual + 2 * (naive - actual), {"naive": naive}).outcome == "loss"


class Page(HTMLParser):
    """Collects what a reader sees: headings, tables, images, links."""

    def __init__(self):
        super().__init__()
        self.h2, self.images, self.tables, self.external = [], [], 0, []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table":
            self.tables += 1
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data


def parse(path):
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def assert_images_are_embedded_pngs(page):
    assert page.images
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.external == []


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    from rnnlab.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, quick=True, jobs=2, progress=False)


def test_demo_report_has_every_section_table_and_image(quick_demo):
    page = parse(quick_demo)
    titles = [t.split(". ", 1)[1] for t in page.h2]
    assert titles == [
        "Headline",
        "Is each series predictable at all?",
        "RNN, LSTM and GRU against the baselines",
        "What the models look at (memory curves)",
        "Would a longer window (seq_len) help?",
        "Does an LSTM fix the RNN's short memory?",
        "Do clipping, hidden size and the LR schedule matter?",
        "What happens after an abrupt drop?",
        "How far ahead can it see, and how sure is it?",
        "Would attention, convolutions or skip connections do better?",
        "Which forecast does rnnlab choose, and is the net in it?",
        "Do outside features help?",
        "Is the model just repeating the last value?",
        "Answers to the study's questions",
    ]
    # headline, predictability, 6 compare tables, seq_len, memory, options, lag check
    assert page.tables >= 12
    # bars + 6 overlays + 6 memory curves + delay curves + sweeps + drop episodes + ACFs
    assert len(page.images) >= 18
    assert_images_are_embedded_pngs(page)
    html = quick_demo.read_text(encoding="utf-8")
    for series in ("sine", "noise", "complex", "stock:A", "stock:GOOG", "drop"):
        assert f"<td>{series}</td>" in html
    assert "no model beats the training mean on noise" in html or "on noise" in html
    # The closing answers: each question, a reading, and a link to the evidence.
    answers = html[html.index('id="answers"'):]
    for question in ("Why does the network fail on noise?", "Why does it fail on prices?",
                     "Why does it fail after an abrupt drop?", "Would a longer window help?",
                     "Does an LSTM or GRU fix the short memory?", "Does clipping matter?",
                     "How far ahead can it see, and how sure is it?",
                     "Would attention, convolutions or skip connections do better?",
                     "Do outside features help?"):
        assert f"<h3>{question}</h3>" in answers
    assert answers.count('class="reading"') == 9 and answers.count("The evidence: ") == 9
    anchors = {a for a in re.findall(r'id="([^"]+)"', html)}
    assert set(re.findall(r'href="#([^"]+)"', answers)) <= anchors
    assert 'href="#answers"' in html  # the headline points there


def test_compare_report_is_self_contained(tmp_path):
    from rnnlab.experiment import compare

    compare("sine", models="rnn", seeds=1, out=str(tmp_path), jobs=1, epochs=1, hidden_size=4,
            num_layers=1)
    page = parse(tmp_path / "report.html")
    assert page.tables >= 1 and len(page.images) >= 2
    assert_images_are_embedded_pngs(page)


def test_an_option_effect_inside_seed_noise_counts_as_none():
    from rnnlab.demo import option_effect

    rows = pd.DataFrame({"rmse_mean": [0.0962, 0.1153], "rmse_std": [0.0014, 0.029]})
    assert option_effect(rows) == 0.0  # gap 0.019 < 2 x 0.029
    rows["rmse_std"] = [0.0014, 0.004]
    assert option_effect(rows) == pytest.approx(0.1153 / 0.0962 - 1)
    rows["rmse_std"] = [float("nan"), float("nan")]  # one seed: no spread to compare
    assert option_effect(rows) > 0.19
