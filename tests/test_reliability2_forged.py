"""Issue 26, forged and mismatched run files: rows 6, 7, 10, 12, 13, 14, 15 and 19's files.

Every forged file is written with rnnlab's own writers (`save_checkpoint`, `write_sidecar`,
`write_json`), so its checksums are valid: only the checks on what it holds can refuse it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from helpers import one_line_error
from rnnlab.checkpoint import (
    load_checkpoint,
    recorded_checksums,
    save_checkpoint,
    write_json,
)
from rnnlab.cli import cli
from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnlab.fastpath import load_fast, write_sidecar
from rnnlab.runs import run_train


def tiny(model: str = "lstm", source: str = "sine", **model_options) -> RunConfig:
    return RunConfig(DataConfig(source), ModelConfig(model=model, seq_len=20, hidden_size=4,
                                                     num_layers=1, scaler="standard",
                                                     **model_options),
                     TrainConfig(epochs=1, batch_size=128))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("forged")
    made = {"lstm": tiny(), "gru": tiny("gru"), "linear": tiny("linear"),
            "noise": tiny(source="noise"), "cnn_rnn": tiny("cnn_rnn")}
    for name, config in made.items():
        run_train(config, root / name, plots=False, progress=False)
    return {name: root / name for name in made}


@pytest.fixture
def run(tmp_path, runs) -> Path:
    return Path(shutil.copytree(runs["lstm"], tmp_path / "run"))


def cli_run(*args: str):
    return CliRunner().invoke(cli, list(args))


def forge(model_pt: Path, meta=None, state=None, tensors=None, sidecar: bool = True) -> None:
    """Rewrite model.pt (and model.npz, bound to it) through rnnlab's own writers, after
    `meta(meta)`, `state(state_dict)` and `tensors(tensors)` edited their parts in place."""
    ckpt = load_checkpoint(model_pt)
    for edit, part in ((meta, ckpt["meta"]), (state, ckpt["state_dict"]),
                       (tensors, ckpt["tensors"])):
        if edit is not None:
            edit(part)
    save_checkpoint(model_pt, ckpt["model"], ckpt["state_dict"], ckpt["meta"], ckpt["tensors"])
    # The run's record of its weights, forged to match: only the content checks remain.
    metrics_path = model_pt.parent / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["weights_sha256"] = recorded_checksums(model_pt)["checksum"]
    write_json(metrics_path, metrics)
    if sidecar:
        weights = {k: v.numpy() for k, v in ckpt["state_dict"].items()}
        extra = {k: v.numpy() for k, v in ckpt["tensors"].items()
                 if k not in ("tail", "tail_features")}  # the pool's arrays
        write_sidecar(model_pt, weights, ckpt["meta"], ckpt["tensors"]["tail"].numpy(), extra)
    else:
        model_pt.with_suffix(".npz").unlink(missing_ok=True)


def first_weight(state: dict) -> torch.Tensor:
    return state[sorted(state)[0]]


# --- row 6: NaN, infinite or absurd numbers in weights, tail or scaler -------------------


def _nan_weight(state):
    first_weight(state)[0] = float("nan")


def _inf_weight(state):
    first_weight(state)[0] = float("inf")


def _huge_tail(tensors):
    tensors["tail"][-5:] = 1e300


def _nan_tail(tensors):  # row 19's "NaN tail": a ValueError deep in the forecast before
    tensors["tail"][-1] = float("nan")


def _scale(value):
    def edit(meta):
        meta["scaler"]["scale"] = value
    return edit


ROW6 = [
    ({"state": _nan_weight}, "holds NaN or infinite values"),
    ({"state": _inf_weight}, "holds NaN or infinite values"),
    ({"tensors": _huge_tail}, "stored tail holds a value of magnitude 1e+300"),
    ({"tensors": _nan_tail}, "stored tail holds NaN or infinite values"),
    ({"meta": _scale(0.0)}, "scale above 0"),
    ({"meta": _scale(float("nan"))}, "scale above 0"),
]


@pytest.mark.parametrize("sidecar", [True, False], ids=["numpy", "torch"])
@pytest.mark.parametrize("edit,phrase", ROW6, ids=["nan", "inf", "tail", "nantail",
                                                   "scale0", "scalenan"])
def test_row06_forged_non_finite_numbers_are_refused_on_both_paths(run, edit, phrase, sidecar):
    forge(run / "model.pt", sidecar=sidecar, **edit)
    result = cli_run("forecast", "--run", str(run), "--horizon", "3")
    line = one_line_error(result, phrase, "model.pt")
    assert "nan" not in result.stdout.lower()
    assert "rescale the series" not in line  # the wrong diagnosis of the old torch path


# --- row 10: forged metadata is refused by the numpy path as by the torch path ----------


def _param(name, value):
    def edit(meta):
        meta["params"][name] = value
    return edit


def _meta_key(name, value):
    def edit(meta):
        meta[name] = value
    return edit


def _tail_index_text(meta):
    meta["tail_index"] = ["not a date"] * len(meta["tail_index"])


ROW10 = [
    (_param("horizon", 10**9), "horizon must be at most 10000, got 1000000000"),
    (_param("interval", 2.0), "interval must be below 1, got 2"),
    (_param("colour", "red"), "unknown ModelConfig parameter 'colour'"),
    (_param("strategy", "sideways"), "unknown strategy 'sideways'"),
    (_tail_index_text, "tail_index must hold finite numbers"),
    (_meta_key("train_range", [5.0, -5.0]), "train_range [5.0, -5.0] must be [lowest, highest]"),
    (_meta_key("features", {"columns": [], "n_inputs": float("inf"), "scaler": {}}),
     "n_inputs inf must count"),
]


@pytest.mark.parametrize("sidecar", [True, False], ids=["numpy", "torch"])
@pytest.mark.parametrize("edit,phrase", ROW10, ids=["horizon", "interval", "unknown", "strategy",
                                                     "index", "range", "n_inputs"])
def test_row10_forged_metadata_is_refused_on_both_paths(run, edit, phrase, sidecar):
    forge(run / "model.pt", meta=edit, sidecar=sidecar)
    if sidecar:  # the numpy path itself refuses, before torch would be imported
        with pytest.raises(Exception, match="metadata no saved model has"):
            load_fast(run / "model.pt")
    one_line_error(cli_run("forecast", "--run", str(run), "--horizon", "3"), phrase,
                   "it was edited or damaged")


def test_row10_a_dated_tail_with_text_that_is_no_date_is_refused(tmp_path):
    out = tmp_path / "dated"
    run_train(tiny(source="stock:A"), out, plots=False, progress=False)

    def edit(meta):
        meta["tail_index"][3] = "not a date"

    forge(out / "model.pt", meta=edit)
    one_line_error(cli_run("forecast", "--run", str(out), "--horizon", "3"),
                   "tail_index holds text that is not a date")


# --- row 7: model files from another run -------------------------------------------------


@pytest.mark.parametrize("other", ["gru", "linear", "cnn_rnn", "noise"])
@pytest.mark.parametrize("command", ["forecast", "backtest", "explain"])
def test_row07_model_files_of_another_run_are_refused(run, runs, other, command):
    for name in ("model.pt", "model.npz"):
        (run / name).unlink(missing_ok=True)
        if (runs[other] / name).exists():
            shutil.copyfile(runs[other] / name, run / name)
    args = {"forecast": ["--horizon", "3"], "backtest": ["--horizon", "2"], "explain": []}
    line = one_line_error(cli_run(command, "--run", str(run), *args[command]),
                          "model.pt", "is not the model this run trained")
    assert "config.json" in line or "metrics.json" in line


def test_row07_a_run_whose_model_and_config_agree_still_forecasts(run):
    result = cli_run("forecast", "--run", str(run), "--horizon", "3")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 4


def test_row07_an_older_run_without_the_record_is_checked_against_its_config(run, runs):
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("weights_sha256")
    write_json(run / "metrics.json", metrics)
    shutil.copyfile(runs["gru"] / "model.pt", run / "model.pt")
    shutil.copyfile(runs["gru"] / "model.npz", run / "model.npz")
    one_line_error(cli_run("forecast", "--run", str(run), "--horizon", "3"),
                   "model 'gru'", "config.json names 'lstm'")


# --- rows 12 and 14: tensors that show more bytes than the file holds ------------------


def test_row12_many_views_of_one_storage_are_refused_before_hashing(run):
    # The file held 20,000 views of one 17 MB storage (minutes to hash); 30 views
    # of 4 MB show 120 MB from a 4 MB file, beyond what any archive unpacks to.
    big = torch.zeros(1_000_000)

    def edit(state):
        state.clear()
        state.update({f"w{i}": big for i in range(30)})

    forge(run / "model.pt", state=edit, sidecar=False)
    one_line_error(cli_run("forecast", "--run", str(run), "--horizon", "3"),
                   "views that share one storage")


def test_row12_more_tensors_than_any_network_holds_are_refused(run):
    def edit(state):
        state.update({f"extra{i}": torch.zeros(1) for i in range(2100)})

    forge(run / "model.pt", state=edit, sidecar=False)
    one_line_error(cli_run("forecast", "--run", str(run), "--horizon", "3"),
                   "2,1", "tensors, over 2,048")


def test_row14_a_stride_zero_tensor_is_refused_before_it_is_read(run):
    def edit(tensors):
        tensors["tail"] = torch.zeros(1, dtype=torch.float64).expand(10_000)

    forge(run / "model.pt", tensors=edit, sidecar=False)
    one_line_error(cli_run("forecast", "--run", str(run), "--horizon", "3"),
                   "stored tail has shape (10000,) over a storage of 8 bytes")


# --- row 13: a huge sparse model.pt beside a valid sidecar -----------------------------


def test_row13_a_huge_sparse_checkpoint_is_refused_before_it_is_hashed(run):
    with open(run / "model.pt", "r+b") as fh:
        fh.truncate(200 << 30)  # sparse: no disk is used, but reading it would take minutes
    result = cli_run("forecast", "--run", str(run), "--horizon", "3")
    one_line_error(result, "not a torch zip archive")


# --- row 15: run files read whole ------------------------------------------------------


@pytest.mark.parametrize("name,command", [("config.json", "forecast"),
                                          ("config.json", "explain"),
                                          ("metrics.json", "backtest")])
def test_row15_a_huge_sparse_json_file_is_refused_by_its_size(run, name, command):
    with open(run / name, "r+b") as fh:
        fh.truncate(20 << 30)
    args = ["--data", "sine"] if command == "forecast" else []
    line = one_line_error(cli_run(command, "--run", str(run), *args), name)
    assert "21,474,836,480 bytes" in line or "is not a finished run" in line


def test_row15_a_huge_predictions_file_is_refused_by_its_size(run):
    with open(run / "predictions.csv", "r+b") as fh:
        fh.truncate(20 << 30)
    one_line_error(cli_run("explain", "--run", str(run)), "predictions.csv",
                   "21,474,836,480 bytes")


# --- row 19: run files nested 200,000 deep ----------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("name,args", [
    ("metrics.json", ["backtest", "--run"]),
    ("config.json", ["forecast", "--data", "sine", "--run"]),
    ("config.json", ["explain", "--run"]),
    (".rnnlab-run", ["train", "--data", "sine", "--overwrite", "--out"]),
    ("config.json", ["train", "--resume", "--out"]),
])
def test_row19_run_files_nested_deep_are_refused_in_one_line(run, name, args):
    (run / name).write_text(nested(200_000))
    result = cli_run(*args, str(run))
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["forecast", "backtest", "explain"])
@pytest.mark.parametrize("length", [300, 5000])
def test_row19_a_run_path_too_long_is_refused_in_one_line(tmp_path, command, length):
    path = str(tmp_path / ("x" * length))
    one_line_error(cli_run(command, "--run", path), "cannot be used")
