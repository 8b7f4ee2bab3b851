"""The pretrained net shipped inside the package: its weights load offline and only as
the digest says, its forecasts are deterministic, it joins the pool as one more family
(left out, with why, where a series is too short), and `forecast --model pretrained`
works with no run."""

import pickle
import shutil
import socket
import zipfile

import numpy as np
import pandas as pd
import pytest

from rnnlab import pretrained as P
from rnnlab.candidates import PretrainedCandidate
from rnnlab.errors import CheckpointError, ConfigError, DataError
from rnnlab.forecaster import Forecaster

SHIPPED = P.WEIGHTS_PATH


def run_cli(*args: str, env: dict | None = None):
    from click.testing import CliRunner

    from rnnlab.cli import cli

    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def seasonal(n: int = 160, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 50 + 0.1 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n)
    return pd.Series(values, index=pd.date_range("2000-01-01", periods=n, freq="MS"),
                     name="demand")


@pytest.fixture(autouse=True)
def fresh_weights(monkeypatch):
    """Each test reads the weights as a new process would (no cached net, no override)."""
    monkeypatch.delenv(P.WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(P.SHA256_ENV, raising=False)
    P._load.cache_clear()
    yield
    P._load.cache_clear()


def test_shipped_weights_load_offline_and_match_their_checksum(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the pretrained net tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    net = P.load_net()
    assert P.file_sha256(P.WEIGHTS_PATH) == P.WEIGHTS_SHA256 == net.sha256
    assert P.WEIGHTS_PATH.stat().st_size < 10 * 2**20  # ships inside the wheel
    with zipfile.ZipFile(P.WEIGHTS_PATH) as archive:  # numbers and one JSON text, no pickle
        assert all(name.endswith(".npy") for name in archive.namelist())
    with np.load(P.WEIGHTS_PATH, allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)


def test_numpy_forward_is_the_torch_net():
    import torch

    net = P.load_net()
    model = P.build_net(net.hidden_size, net.num_layers)
    state = {k: torch.tensor(v) for k, v in net.weights.items()}
    model.load_state_dict({**state, "quantiles": torch.tensor(P.QUANTILES)})
    x = np.random.default_rng(0).normal(size=(4, P.CONTEXT, 2)).astype(np.float32)
    x[..., 1] = 0.0
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = net.forward(x)
    assert np.allclose(got, expected, atol=1e-4)
    assert (np.diff(got, axis=-1) >= 0).all()  # the quantiles never cross


def forged_copy(tmp_path):
    """The shipped file with one weight changed, saved as a valid weights file."""
    with np.load(P.WEIGHTS_PATH, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["head.bias"] = arrays["head.bias"] + 1.0
    path = tmp_path / "pretrained.npz"
    np.savez(path, **arrays)
    return path


def test_an_altered_or_forged_weights_file_is_refused(tmp_path, monkeypatch):
    forged = forged_copy(tmp_path)
    monkeypatch.setattr(P, "WEIGHTS_PATH", forged)  # as if the installed file were replaced
    with pytest.raises(CheckpointError, match="refused the pretrained weights") as info:
        P.load_net()
    assert "\n" not in str(info.value) and "reinstall" in str(info.value)
    flipped = tmp_path / "flipped.npz"
    data = bytearray(SHIPPED.read_bytes())
    data[len(data) // 2] ^= 1
    flipped.write_bytes(bytes(data))
    monkeypatch.setattr(P, "WEIGHTS_PATH", flipped)
    P._load.cache_clear()
    with pytest.raises(CheckpointError, match="SHA-256"):
        P.load_net()


def test_forged_weights_are_refused_in_one_line_by_the_cli(tmp_path):
    forged = forged_copy(tmp_path)
    result = run_cli("forecast", "--data", "sine", "--model", "pretrained", "--horizon", "3",
                     env={P.WEIGHTS_ENV: str(forged), P.SHA256_ENV: P.WEIGHTS_SHA256})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refused the pretrained weights")


def test_weights_of_your_own_need_their_digest(tmp_path, monkeypatch):
    path = tmp_path / "own.npz"
    shutil.copy(P.WEIGHTS_PATH, path)
    monkeypatch.setenv(P.WEIGHTS_ENV, str(path))
    with pytest.raises(CheckpointError, match="go together"):
        P.load_net()
    monkeypatch.setenv(P.SHA256_ENV, P.file_sha256(path))
    assert P.load_net().sha256 == P.WEIGHTS_SHA256


def test_zero_shot_forecasts_are_deterministic():
    series = seasonal()
    first = Forecaster(model="pretrained", candidates="net", horizon=6, progress=False)
    again = Forecaster(model="pretrained", candidates="net", horizon=6, progress=False)
    a = first.fit(series).forecast_interval(6)
    P._load.cache_clear()  # a fresh read of the weights gives the same numbers
    b = again.fit(series).forecast_interval(6)
    pd.testing.assert_frame_equal(a, b)
    assert a["lower"].notna().all() and (a["lower"] < a["forecast"]).all()
    assert first.history_.epochs_run == 0 and first.model_ is None  # nothing was trained
    assert {c.family for c, _ in first.pool_} == {"pretrained"}


def test_the_net_reads_only_the_past():
    values = seasonal().to_numpy()
    candidate = PretrainedCandidate(12).fit(values[:100])
    before = candidate.quantiles(values, np.array([110, 130]), 8)
    moved = values.copy()
    moved[130:] += 1e3
    assert np.array_equal(candidate.quantiles(moved, np.array([110, 130]), 8), before)


def test_the_pool_leaves_it_out_of_a_series_too_short_for_its_context():
    series = seasonal(21)  # 11 values before the first origin, 10 steps ahead
    fitted = Forecaster(horizon=10, candidates="naive,mean,pretrained", progress=False)
    fitted.fit(series)
    rows = [r for r in fitted.candidates_ if r["family"] == "pretrained"]
    assert rows and all(r["weight"] == 0 and r["loss"] is None for r in rows)
    assert "needs a context of at least 12 values before the first origin, has 11" in \
        rows[0]["note"]
    with pytest.raises(DataError, match="needs a context of at least 12 values"):
        Forecaster(model="pretrained", candidates="net", horizon=10,
                   progress=False).fit(series)


def test_it_joins_the_default_pool_and_survives_a_checkpoint(tmp_path):
    series = seasonal(120)
    fitted = Forecaster(horizon=6, candidates="naive,theta,pretrained", progress=False)
    fitted.fit(series)
    names = [r["name"] for r in fitted.candidates_ if r["family"] == "pretrained"]
    assert names == ["pretrained", "pretrained 12"]
    fitted.save(tmp_path / "model.pt")
    loaded = Forecaster.load(tmp_path / "model.pt")
    pd.testing.assert_series_equal(loaded.forecast(6), fitted.forecast(6))
    # a pickle (a worker's fitted pool) carries the transform, never the weights
    member = PretrainedCandidate(12).fit(series.to_numpy())
    assert len(pickle.dumps(member)) < 4000
    assert np.array_equal(pickle.loads(pickle.dumps(member)).paths(
        series.to_numpy(), np.array([120]), 3), member.paths(series.to_numpy(),
                                                             np.array([120]), 3))


def test_a_run_saved_with_other_weights_is_refused():
    state = PretrainedCandidate(1).fit(seasonal().to_numpy()).to_state()
    with pytest.raises(ValueError, match="the run used the pretrained weights"):
        PretrainedCandidate.from_state({**state, "weights": "0" * 64})


def test_the_pretrained_net_reads_no_features():
    with pytest.raises(ConfigError, match="reads the target alone"):
        Forecaster(model="pretrained", calendar=True, progress=False).fit(seasonal())


def test_forecast_with_the_pretrained_model_needs_no_run(tmp_path):
    series = seasonal(100)
    path = tmp_path / "demand.csv"
    series.rename_axis("date").to_csv(path)
    result = run_cli("forecast", "--data", str(path), "--model", "pretrained",
                     "--horizon", "4")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["date", "forecast", "lower", "upper"] and len(lines) == 5
    assert lines[1].startswith("2008-05-01")
    assert "zero-shot: pretrained" in result.stderr
    wrong = run_cli("forecast", "--data", str(path), "--model", "lstm")
    assert wrong.exit_code == 2 and "--model pretrained --data SOURCE" in wrong.stderr


def test_train_with_the_pretrained_model_trains_nothing(tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", "--data", "sine", "--model", "pretrained", "--candidates",
                     "net", "--horizon", "5", "--out", str(run))
    assert result.exit_code == 0, result.stderr
    assert "pretrained" in result.stdout and "0 epochs" in result.stdout
    again = run_cli("forecast", "--run", str(run), "--horizon", "3")
    assert again.exit_code == 0 and len(again.stdout.strip().splitlines()) == 4


def test_a_pretrained_forecast_of_a_constant_past_says_why_it_is_refused():
    # Car parts: a series whose known values are all zero; the net's paths leave that
    # range, and the refusal says so rather than giving no reason.
    series = pd.Series([0.0] * 40 + [3.0, 0.0, 0.0], name="part")
    with pytest.raises(DataError, match="leave the range the values had reached"):
        Forecaster(model="pretrained", candidates="net", horizon=3, progress=False).fit(series)
