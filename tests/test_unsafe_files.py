"""Forged, damaged and special run files are refused in one line (exit 2), never hang.

Special files (a FIFO, /dev/zero) and forged sizes run the CLI in a subprocess under a
timeout, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from numpy.lib import format as npy

from rnnlab.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.cli import cli
from rnnlab.errors import CheckpointError
from rnnlab.fastpath import load_fast, write_sidecar
from rnnlab.forecaster import Forecaster
from rnnlab.runs import load_for_forecast, run_train
from test_checkpoint import good_payload
from test_runs import ENV, small_config, stop_after

# A refusal answers in about a second; the rest is Python and torch starting up on a busy
# machine. A hang (a FIFO read, /dev/zero, a 10**6-layer build) never answers at all.
TIMEOUT = 60
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")


def rnnlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnlab.cli", *args], capture_output=True,
                          text=True, timeout=TIMEOUT, env=ENV)


def one_line_error(done, *phrases: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A finished run, a run stopped after one epoch, and a stopped run of another network."""
    root = tmp_path_factory.mktemp("h1")
    made = {"finished": root / "finished", "stopped": root / "stopped",
            "other": root / "other"}
    run_train(small_config(epochs=1), made["finished"], plots=False, progress=False)
    other = small_config(epochs=2)
    other.model.hidden_size = 4
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("rnnlab.runs.interruptible", lambda: stop_after(1))
        run_train(small_config(epochs=2), made["stopped"], plots=False, progress=False)
        run_train(other, made["other"], plots=False, progress=False)
    return made


@pytest.fixture
def finished(tmp_path, runs) -> Path:
    return Path(shutil.copytree(runs["finished"], tmp_path / "finished"))


@pytest.fixture
def stopped(tmp_path, runs) -> Path:
    return Path(shutil.copytree(runs["stopped"], tmp_path / "stopped"))


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rewrite_zip(path: Path, contents: dict[str, bytes], bomb: tuple[str, bytes, int] = None):
    """Write `contents` as a zip; `bomb` (name, header, n_zero_bytes) adds a deflated member
    of `header` followed by that many zero bytes, written in pieces."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, content in contents.items():
            if bomb is None or name != bomb[0]:
                archive.writestr(name, content)
        if bomb is not None:
            name, header, zeros = bomb
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            block = bytes(1 << 20)
            with archive.open(info, "w", force_zip64=True) as out:
                out.write(header)
                for _ in range(zeros // len(block)):
                    out.write(block)


def npy_header(shape: tuple, dtype=np.float64) -> bytes:
    buffer = io.BytesIO()
    npy.write_array_header_1_0(buffer, {"descr": npy.dtype_to_descr(np.dtype(dtype)),
                                        "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def forge(model_pt: Path, sidecar_too: bool = False, **params) -> None:
    """Edit the parameters inside model.pt and fix its checksums, as an attacker could."""
    ckpt = load_checkpoint(model_pt)
    ckpt["meta"]["params"].update(params)
    save_checkpoint(model_pt, ckpt["model"], ckpt["state_dict"], ckpt["meta"], ckpt["tensors"])
    if sidecar_too:
        weights = {k: v.numpy() for k, v in ckpt["state_dict"].items()}
        write_sidecar(model_pt, weights, ckpt["meta"], ckpt["tensors"]["tail"].numpy())


@pytest.fixture
def alarm():
    """Fail an in-process call that hangs instead of waiting for it."""
    def ring(signum, frame):
        raise TimeoutError("hung")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(TIMEOUT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- 1. only regular files are opened ------------------------------------------------


SPECIAL = [
    (["forecast", "--horizon", "2"], "model.pt", "fifo"),
    (["forecast", "--horizon", "2"], "model.pt", "/dev/zero"),
    (["forecast", "--horizon", "2"], "model.npz", "fifo"),
    (["forecast", "--horizon", "2", "--data", "sine"], "config.json", "fifo"),
    (["explain"], "model.pt", "fifo"),
    (["explain"], "model.pt", "/dev/zero"),
    (["explain"], "config.json", "fifo"),
    (["train", "--resume"], "config.json", "fifo"),
    (["train", "--resume"], "state.pt", "fifo"),
    (["train", "--resume"], "state.pt", "/dev/zero"),
    (["train", "--resume"], "metrics.json", "fifo"),
]


@posix_only
@pytest.mark.parametrize("command,name,kind", SPECIAL)
def test_special_file_refused_at_once(tmp_path, runs, command, name, kind):
    run = Path(shutil.copytree(runs["stopped" if "train" in command else "finished"],
                               tmp_path / "run"))
    (run / name).unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(run / name)
    else:
        (run / name).symlink_to(kind)
    flag = "--out" if command[0] == "train" else "--run"
    done = rnnlab(command[0], flag, str(run), *command[1:])
    what = "a FIFO" if kind == "fifo" else "a character device"
    one_line_error(done, f"refused to read '{run / name}'", what, "not a regular file")


# --- 2. sizes are bounded before anything is allocated ---------------------------------


def test_npz_header_claiming_1e12_elements_is_not_allocated(finished, caplog):
    sidecar = finished / "model.npz"
    contents = members(sidecar)
    contents["tail.npy"] = npy_header((10**12,)) + bytes(80)
    rewrite_zip(sidecar, contents)
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        assert load_fast(finished / "model.pt") is None
    assert "claims shape (1000000000000,)" in caplog.text and "does not fit" in caplog.text
    assert isinstance(load_for_forecast(finished / "model.pt"), Forecaster)


def test_zip_bombs_refused_from_the_zip_directory(finished, caplog):
    """256 MB of zeros in 250 kB: refused from the declared sizes, never decompressed."""
    sidecar, model_pt = finished / "model.npz", finished / "model.pt"
    zeros = 256 << 20
    rewrite_zip(sidecar, members(sidecar),
                bomb=("tail.npy", npy_header((zeros // 8,)), zeros))
    assert sidecar.stat().st_size < 1 << 20
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        assert load_fast(model_pt) is None
    assert "zip bomb" in caplog.text
    assert isinstance(load_for_forecast(model_pt), Forecaster)  # model.pt is fine

    contents = members(model_pt)
    record = max((n for n in contents if "/data/" in n), key=lambda n: len(contents[n]))
    rewrite_zip(model_pt, contents, bomb=(record, b"", zeros))
    with pytest.raises(CheckpointError, match="would unpack to 268,4.* bytes from a .* zip "
                                              "bomb or damaged"):
        load_checkpoint(model_pt)
    one_line_error(rnnlab("forecast", "--run", str(finished)), "zip bomb")


def test_state_zip_bomb_refused_before_unpacking(stopped):
    contents = members(stopped / "state.pt")
    record = max((n for n in contents if "/data/" in n), key=lambda n: len(contents[n]))
    rewrite_zip(stopped / "state.pt", contents, bomb=(record, b"", 256 << 20))
    result = CliRunner().invoke(cli, ["train", "--out", str(stopped), "--resume"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"error: cannot resume from '{stopped / 'state.pt'}'" in result.stderr
    assert "zip members would unpack to 268,4" in result.stderr


# --- 3. forged network sizes are refused before a network is built -----------------------


@pytest.mark.parametrize("changes,phrase", [
    ({"num_layers": 10**6}, "num_layers=1000000, outside 1..64"),
    ({"hidden_size": 10**9}, "hidden_size=1000000000, outside 1..65536"),
    ({"seq_len": 10**9}, "seq_len=1000000000, outside 1..384 (the length of its stored"),
    ({"num_layers": True}, "num_layers=True"),
    # Within the bounds but not these weights: compared on the meta device, never built
    # (a real 4096-unit LSTM with 64 layers would need 34 GB).
    ({"hidden_size": 4096, "num_layers": 64}, "does not match the model it names"),
])
def test_forged_sizes_refused_before_building(finished, alarm, changes, phrase):
    forge(finished / "model.pt", **changes)
    with pytest.raises(CheckpointError, match=phrase.replace("(", r"\(")):
        Forecaster.load(finished / "model.pt")


def test_forged_sizes_refused_by_the_cli_on_both_paths(finished):
    forge(finished / "model.pt", num_layers=10**6)  # model.npz now stale: the torch path
    one_line_error(rnnlab("forecast", "--run", str(finished)), "num_layers=1000000")
    forge(finished / "model.pt", sidecar_too=True, num_layers=10**6)  # the numpy path
    one_line_error(rnnlab("forecast", "--run", str(finished)), "num_layers=1000000")


# --- 4. another run's state.pt, config.json that is no object ---------------------------


def test_state_of_another_run_refused(stopped, runs):
    shutil.copy(runs["other"] / "state.pt", stopped / "state.pt")
    done = rnnlab("--quiet", "train", "--out", str(stopped), "--resume")
    one_line_error(done, f"cannot resume from '{stopped / 'state.pt'}'",
                   "do not fit the network", "hidden_size 8", "another run")
    assert "Error(s) in loading state_dict" not in done.stderr


@pytest.mark.parametrize("text,phrase", [
    ("[]", "it holds [], not a JSON object"),
    ("null", "it holds null, not a JSON object"),
    ('{"data": null}', "its 'data' section is null, not an object"),
    ('{"data": {"source": "sine"}, "training": {}}', "its 'model' section is missing"),
])
def test_config_that_is_not_an_object_refused(stopped, finished, text, phrase):
    for run, command in ((stopped, ["train", "--out", str(stopped), "--resume"]),
                         (finished, ["explain", "--run", str(finished)]),
                         (finished, ["forecast", "--run", str(finished), "--data", "sine"])):
        (run / "config.json").write_text(text)
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, (command, result.output)
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("error: ")
        assert f"'{run / 'config.json'}' is not an rnnlab run config: {phrase}" in result.stderr


# --- 5. the numpy sidecar is used only when it holds exactly what model.pt holds -----------


def edit_meta(arrays: dict, **params) -> None:
    meta = json.loads(str(arrays["meta"]))
    meta["params"].update(params)
    arrays["meta"] = np.array(json.dumps(meta))


@pytest.mark.parametrize("edit,phrase", [
    (lambda a: edit_meta(a, seq_len=3), "metadata or series tail are not those of model.pt"),
    (lambda a: edit_meta(a, num_layers=2), "metadata or series tail are not those"),
    (lambda a: a.update(tail=a["tail"] * 10), "metadata or series tail are not those"),
    (lambda a: a.update({"weights/head.weight": np.zeros((1, 3), np.float32)}),
     "weights are not those of model.pt"),
])
def test_edited_sidecar_falls_back_to_model_pt(finished, caplog, edit, phrase):
    sidecar, model_pt = finished / "model.npz", finished / "model.pt"
    arrays = npz_arrays(sidecar)
    edit(arrays)
    np.savez(sidecar, **arrays)
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        assert load_fast(model_pt) is None
    assert phrase in caplog.text
    expected = Forecaster.load(model_pt).forecast(3)
    assert load_for_forecast(model_pt).forecast(3).equals(expected)


def test_other_runs_sidecar_with_rewritten_reference_not_used(finished, runs, caplog):
    model_pt = finished / "model.pt"
    arrays = npz_arrays(runs["other"] / "model.npz")
    arrays["checkpoint_sha256"] = npz_arrays(finished / "model.npz")["checkpoint_sha256"]
    np.savez(finished / "model.npz", **arrays)
    with caplog.at_level(logging.INFO, logger="rnnlab"):
        assert load_fast(model_pt) is None
    assert "weights are not those of model.pt" in caplog.text
    done = rnnlab("forecast", "--run", str(finished), "--horizon", "2")
    assert done.returncode == 0 and "note: cannot use model.npz" in done.stderr


def test_sidecar_and_checkpoint_forged_together_refused_in_one_line(finished):
    """Both files edited consistently: the shapes no longer fit, so no matmul error."""
    forge(finished / "model.pt", sidecar_too=True, seq_len=20)
    done = rnnlab("forecast", "--run", str(finished), "--horizon", "2")
    one_line_error(done, "does not match the model it names", "skip.weight")
    assert "note: cannot use model.npz" in done.stderr


# --- 6. a pickled object is called unsafe, whatever torch's wording ---------------------


class CallsSystem:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_os_system_reported_as_unsafe(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(good_payload(meta=CallsSystem()), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "holds a pickled Python object (posix.system)" in message
    assert "unsafe" in message and "damaged" not in message
    # A really damaged index of a clean file still says so.
    torch.save(good_payload(), path)
    contents = members(path)
    index = next(name for name in contents if name.endswith("data.pkl"))
    contents[index] = contents[index][: len(contents[index]) // 2]
    rewrite_zip(path, contents)
    with pytest.raises(CheckpointError, match="pickled index is damaged|truncated, corrupt"):
        load_checkpoint(path)
