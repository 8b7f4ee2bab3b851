"""The demo's "Do outside features help?" section: its table and its plain reading, both
decided by the one rule (win, tie or loss) as everywhere else."""

import pandas as pd

from rnnlab.demo import features_reading, features_table


def rows(alone_vs_naive, others):
    """others: {inputs: (outcome against close alone, ratio, outcome against naive, ratio)}"""
    table = [("s", "close alone", 1.0, 0.001, alone_vs_naive[1], alone_vs_naive[0], 0.5,
              1.0, "tie", 1.0)]
    for name, (o_alone, r_alone, o_naive, r_naive) in others.items():
        table.append(("s", name, r_alone, 0.001, r_naive, o_naive, 0.01, r_alone, o_alone,
                      0.01))
    return pd.DataFrame(table, columns=["series", "inputs", "rmse", "rmse_sd", "vs_naive",
                                        "outcome_vs_naive", "p_vs_naive", "vs_alone",
                                        "outcome_vs_alone", "p_vs_alone"])


def test_the_reading_says_when_no_feature_helps_and_ties_naive():
    text = features_reading(rows(("tie", 1.003), {"+ OHLCV": ("tie", 1.001, "tie", 1.004),
                                                  "+ calendar": ("loss", 1.05, "loss", 1.05)}))
    assert "no outside feature beat close alone" in text
    assert "+ calendar (a loss: 5.0% worse" in text and "did worse" in text
    assert "a tie: 0.3% worse" in text and "the features have not earned their cost" in text


def test_the_reading_names_a_feature_that_helps():
    text = features_reading(rows(("tie", 1.0), {"+ market": ("win", 0.9, "win", 0.9)}))
    assert "+ market (a win: 10.0% better" in text and "beat close alone" in text
    assert "against next = last: a win" in text
    assert "not earned" not in text


def test_features_table_runs_every_variant_but_the_missing_market():
    table = features_table(seeds=1, quick=True, market=None, datasets=("stock:A",))
    assert list(table["inputs"]) == ["close alone", "+ OHLCV", "+ calendar"]
    assert list(table["n_inputs"]) == [1, 5, 5]
    assert (table["rmse"] > 0).all()
    assert set(table["outcome_vs_naive"]) <= {"win", "tie", "loss"}
    assert table.loc[0, "outcome_vs_alone"] == "tie" and table.loc[0, "vs_alone"] == 1.0
