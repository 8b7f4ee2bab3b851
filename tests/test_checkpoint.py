"""Checkpoints never run code, never tear, and refuse damaged or foreign files by name."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
    weights_checksum,
)
from rnnlab.errors import CheckpointError
from rnnlab.forecaster import Forecaster


def temp_files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- atomic writes ----------------------------------------------------------------


def test_failure_inside_write_keeps_previous_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(b"old complete file")

    def half_then_crash(fh):
        fh.write(b"new but only half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == b"old complete file"
    assert temp_files(tmp_path) == []


def test_failure_between_write_and_rename_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    path.write_bytes(b"old complete file")
    written = []

    def crash_instead_of_rename(src, dst):
        written.append(pathlib.Path(src).read_bytes())  # the new file was fully written
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash_instead_of_rename)
    with pytest.raises(OSError, match="power cut"):
        atomic_write(path, lambda fh: fh.write(b"new complete file"))
    monkeypatch.undo()
    assert written == [b"new complete file"]
    assert path.read_bytes() == b"old complete file"
    assert temp_files(tmp_path) == []
    atomic_write(path, lambda fh: fh.write(b"new complete file"))
    assert path.read_bytes() == b"new complete file"


def test_save_checkpoint_failure_before_rename_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    old = {"w": torch.ones(3)}
    save_checkpoint(path, "lstm", old, {"n": 1})
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("killed before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="killed before rename"):
        save_checkpoint(path, "lstm", {"w": torch.zeros(3)}, {"n": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert temp_files(tmp_path) == []
    loaded = load_checkpoint(path)
    assert loaded["meta"] == {"n": 1} and torch.equal(loaded["state_dict"]["w"], old["w"])


def test_killed_process_mid_save_leaves_previous_checkpoint(tmp_path):
    """SIGKILL (no cleanup at all) in the middle of writing: the target is untouched."""
    path = tmp_path / "model.pt"
    save_checkpoint(path, "lstm", {"w": torch.ones(3)}, {"n": 1})
    before = path.read_bytes()
    script = (
        "import os, signal, sys\n"
        "from rnnlab.checkpoint import atomic_write\n"
        "def write(fh):\n"
        "    fh.write(b'PK half a zip')\n"
        "    fh.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "atomic_write(sys.argv[1], write)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], timeout=120)
    assert done.returncode == -9
    assert path.read_bytes() == before
    assert load_checkpoint(path)["meta"] == {"n": 1}


# --- refusing unsafe and damaged files ----------------------------------------------


class RunsCode:
    """Unpickling this calls Path.touch(marker): stands in for any code an attacker wants."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def good_payload(**changes) -> dict:
    state = {"w": torch.arange(4.0)}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": "lstm",
               "meta": "{}", "state_dict": state, "tensors": {},
               "checksum": weights_checksum(state)}
    payload.update(changes)
    return payload


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save(good_payload(meta=RunsCode(marker)), path)

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "refused to load" in str(info.value) and "could run code" in str(info.value)
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        Forecaster.load(path)
    assert not marker.exists()
    # The file really is malicious: an unsafe load runs its code.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_malicious_model_in_run_dir_refused_by_cli(tmp_path):
    from click.testing import CliRunner

    from rnnlab.cli import cli

    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "pwned"
    torch.save(good_payload(meta=RunsCode(marker)), run / "model.pt")
    result = CliRunner().invoke(cli, ["forecast", "--run", str(run), "--horizon", "3"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: refused to load") and not marker.exists()


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    series = pd.Series(np.sin(np.arange(120) * 0.3))
    forecaster = Forecaster(model="gru", seq_len=5, hidden_size=4, num_layers=1, epochs=1,
                            scaler="standard", progress=False).fit(series)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    forecaster.save(path)
    return path.read_bytes()


@pytest.fixture
def saved(tmp_path, checkpoint_bytes) -> pathlib.Path:
    """A fresh copy of a small trained GRU's checkpoint."""
    path = tmp_path / "model.pt"
    path.write_bytes(checkpoint_bytes)
    return path


def test_truncated_file_refused(saved):
    path = saved
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated, corrupt or not a checkpoint"):
            load_checkpoint(path)


def test_flipped_tensor_bytes_fail_checksum(saved):
    """One flipped bit in any stored tensor (weights or the series' tail) is caught."""
    path = saved
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    records = [name for name in members if "/data/" in name]
    assert len(records) >= 5
    for name in records:
        blob = bytearray(members[name])
        blob[len(blob) // 2] ^= 0x01
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for member, content in members.items():
                archive.writestr(member, bytes(blob) if member == name else content)
        with pytest.raises(CheckpointError, match="failed its checksum"):
            load_checkpoint(path)


def test_flipped_raw_bytes_refused(saved):
    path = saved
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for position in rng.integers(0, len(data), 20):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            Forecaster.load(path)
        except CheckpointError:
            continue
        # A flip in zip padding or an unused header field changes nothing that is read.
        assert Forecaster.load(path).model_ is not None


def test_wrong_checksum_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(good_payload(checksum="0" * 64), path)
    with pytest.raises(CheckpointError, match="failed its checksum"):
        load_checkpoint(path)


def test_newer_format_version_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(good_payload(format_version=FORMAT_VERSION + 1), path)
    with pytest.raises(CheckpointError, match="newer than this rnnlab reads"):
        load_checkpoint(path)


def test_foreign_file_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"weights": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="is not an rnnlab checkpoint"):
        load_checkpoint(path)
    path.write_text("date,close\n2020-01-01,1\n")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(path)


def test_other_model_type_refused(saved):
    path = saved
    ckpt = load_checkpoint(path)
    ckpt["meta"]["params"]["model"] = "lstm"  # weights are a GRU's
    save_checkpoint(path, "lstm", ckpt["state_dict"], ckpt["meta"], ckpt["tensors"])
    with pytest.raises(CheckpointError, match="does not match the model it names"):
        Forecaster.load(path)


def test_mismatched_shapes_refused(saved):
    path = saved
    ckpt = load_checkpoint(path)
    ckpt["meta"]["params"]["hidden_size"] = 8  # weights are for 4 units
    save_checkpoint(path, "gru", ckpt["state_dict"], ckpt["meta"], ckpt["tensors"])
    with pytest.raises(CheckpointError, match="does not match the model it names"):
        Forecaster.load(path)


def test_missing_checkpoint_names_fix(tmp_path):
    with pytest.raises(CheckpointError, match="not found; train a model first"):
        load_checkpoint(tmp_path / "model.pt")
