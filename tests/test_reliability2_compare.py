"""Issue 26, row 24: compare's records carry a checksum, as checkpoints do, so an edited
record (a forged rmse of 1e-9) is trained again instead of reported as a win."""

from __future__ import annotations

import json
import logging

from rnnlab.checkpoint import write_json
from rnnlab.experiment import compare

TINY = {"epochs": 1, "hidden_size": 4, "num_layers": 1, "seq_len": 20, "jobs": 1}


def test_row24_a_compare_record_edited_by_hand_is_trained_again(tmp_path, caplog):
    out = tmp_path / "c"
    first = compare("sine", models="rnn", seeds=1, out=str(out), **TINY)
    (path,) = (out / "runs").glob("*.json")
    record = json.loads(path.read_text())
    assert isinstance(record.pop("sha256"), str)
    record["rmse"] = 1e-9  # forged with rnnlab's own JSON writer: a valid file, a false score
    write_json(path, record)
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        again = compare("sine", models="rnn", seeds=1, out=str(out), **TINY)
    assert "fail their checksum" in caplog.text
    assert again["rmse"].tolist() == first["rmse"].tolist()
    assert json.loads(path.read_text())["rmse"] == first["rmse"].iloc[0]


def test_row24_an_untouched_record_is_kept(tmp_path, caplog):
    out = tmp_path / "c"
    compare("sine", models="rnn", seeds=1, out=str(out), **TINY)
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        compare("sine", models="rnn", seeds=1, out=str(out), **TINY)
    assert "1 of 1 runs already finished" in caplog.text


def test_row19_a_compare_record_nested_200000_deep_is_trained_again(tmp_path):
    out = tmp_path / "c"
    first = compare("sine", models="rnn", seeds=1, out=str(out), **TINY)
    (path,) = (out / "runs").glob("*.json")
    path.write_text("[" * 200_000 + "]" * 200_000)  # a RecursionError to json.loads
    again = compare("sine", models="rnn", seeds=1, out=str(out), **TINY)
    assert again["rmse"].tolist() == first["rmse"].tolist()
    assert json.loads(path.read_text())["status"] == "ok"
