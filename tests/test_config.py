"""One validation of a run's settings, and a CLI generated from the config's fields."""

import dataclasses
import inspect

import pytest
from click.testing import CliRunner

from rnnlab.cli import cli
from rnnlab.config import SECTIONS, RunConfig, from_flat, load_run_config
from rnnlab.errors import ConfigError
from rnnlab.forecaster import Forecaster


def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("values, message", [
    ({"weight_decay": float("nan")}, "weight_decay must be a finite number, got nan"),
    ({"data_seed": -1}, "data_seed must be 0 or more, got -1"),
    ({"threads": 100000}, "threads must be at most 1024, got 100000"),
    ({"hidden_size": 1000000}, "hidden_size must be at most 4096, got 1000000"),
    ({"num_layers": 1000000}, "num_layers must be at most 64, got 1000000"),
    ({"seq_len": 0}, "seq_len must be at least 1, got 0"),
    ({"test_fraction": 0.0}, "test_fraction must be positive, got 0"),
    ({"lr": float("inf")}, "lr must be a finite number, got inf"),
    ({"model": "gur"}, "unknown model 'gur'; valid models are rnn, lstm, gru, cnn_rnn, "
                       "residual, transformer, linear, pretrained; did you mean gru?"),
    ({"lr_schedule": "cos"}, "did you mean cosine?"),
    ({"device": "tpu"}, "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
])
def test_out_of_range_values_are_refused_by_name(values, message):
    with pytest.raises(ConfigError) as info:
        from_flat(values).check()
    assert message in str(info.value)


def test_the_defaults_pass_and_names_are_case_insensitive():
    RunConfig().check()
    config = from_flat({"model": "LSTM", "scaler": "Window", "lr_schedule": "NONE"})
    assert (config.model.model, config.model.scaler, config.training.lr_schedule) == (
        "lstm", "window", "none")


def test_forecaster_fit_uses_the_same_check():
    with pytest.raises(ConfigError, match="threads must be at most 1024"):
        Forecaster(threads=100000).fit(list(range(200)))
    with pytest.raises(ConfigError, match="unknown Forecaster parameter 'hiden_size'"):
        Forecaster(hiden_size=8)


def test_forecaster_parameters_are_the_config_fields():
    names = list(inspect.signature(Forecaster).parameters)
    fields = [f.name for s in (SECTIONS["model"], SECTIONS["training"])
              for f in dataclasses.fields(s)]
    assert names == [*fields, "val_fraction", "progress"]
    assert Forecaster().get_params()["lr"] == SECTIONS["training"].lr


def test_every_option_has_help_and_appears_in_the_cli():
    text = run("train", "--help").output
    for section in SECTIONS.values():
        for f in dataclasses.fields(section):
            assert f.metadata["help"], f.name
            if f.name != "source":
                assert "--" + f.name.replace("_", "-") in text, f.name


@pytest.mark.parametrize("args, message", [
    (("train", "--data", "sine", "--weight-decay", "nan", "--out", "X"),
     "weight_decay must be a finite number"),
    (("train", "--data", "sine", "--threads", "100000", "--out", "X"), "threads must be at most"),
    (("compare", "--data", "sine", "--models", "", "--out", "X"), "no model given"),
    (("train", "--data", "sine", "--model", "gur", "--out", "X"), "did you mean gru?"),
])
def test_bad_options_exit_2_in_one_line_and_leave_no_folder(tmp_path, args, message):
    args = [str(tmp_path / "run") if a == "X" else a for a in args]
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_usage_errors_take_one_line():
    result = run("train", "--data", "sine", "--bogus", "1", "--out", "x")
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: No such option") and "--bogus" in line
    assert line.endswith("train --help)")


def test_quiet_after_the_command_is_the_group_option(tmp_path):
    result = run("train", "--data", "sine", "--epochs", "1", "--model", "LINEAR", "-q",
                 "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert "linear" in result.output
    assert load_run_config(tmp_path / "r").model.model == "linear"


def test_a_damaged_config_json_is_one_line(tmp_path):
    for text in ("[]", '{"data": null, "model": {"seq_len": "x"}}'):
        (tmp_path / "config.json").write_text(text)
        with pytest.raises(ConfigError, match="train the run again"):
            load_run_config(tmp_path)
