"""The demo's "Do outside features help?" section: its table and its plain reading."""

import pandas as pd

from rnnlab.demo import features_reading, features_table


def rows(alone, others, naive=1.0):
    table = [("s", "close alone", alone, 0.001, alone / naive)]
    table += [("s", name, rmse, 0.001, rmse / naive) for name, rmse in others.items()]
    return pd.DataFrame(table, columns=["series", "inputs", "rmse", "rmse_sd", "vs_naive"])


def test_the_reading_says_when_no_feature_helps_and_ties_naive():
    text = features_reading(rows(1.0, {"+ OHLCV": 1.001, "+ calendar": 1.05}))
    assert "no outside feature beat close alone" in text
    assert "+ calendar (+5.0%) did worse" in text
    assert "a tie with next = last, so the features have not earned their cost" in text


def test_the_reading_names_a_feature_that_helps():
    text = features_reading(rows(1.0, {"+ market": 0.9}))
    assert "+ market (-10.0%) beat close alone" in text
    assert "better than next = last" in text


def test_features_table_runs_every_variant_but_the_missing_market():
    table = features_table(seeds=1, quick=True, market=None, datasets=("stock:A",))
    assert list(table["inputs"]) == ["close alone", "+ OHLCV", "+ calendar"]
    assert list(table["n_inputs"]) == [1, 5, 5]
    assert (table["rmse"] > 0).all()
