"""Forecast from a saved run without importing torch: numpy forward passes.

`import torch` alone takes seconds, longer than a forecast of a small network. So when
`Forecaster.save` writes ``model.pt`` for an rnn, lstm, gru or linear model, it also writes
``model.npz`` beside it: the same weights as plain arrays, the metadata as JSON text, the
SHA-256 of the ``model.pt`` file and the weights' checksum. `load_fast` uses that sidecar
only when it is read with ``allow_pickle=False`` (no Python objects, ever), names
the exact ``model.pt`` next to it and its arrays hash to the checkpoint's checksum;
otherwise it loads ``model.pt`` through torch as before. ``model.pt`` stays the canonical
checkpoint.

    rnnlab forecast --run runs/sine --horizon 10
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .base import WindowForecaster, tail_from_meta
from .checkpoint import atomic_write, json_default
from .windows import Scaler

log = logging.getLogger("rnnlab")

# Networks whose forward pass is written out below; other models load through torch.
FAST_MODELS = ("rnn", "lstm", "gru", "linear")
WEIGHT_PREFIX = "weights/"


def sidecar_path(checkpoint: str | Path) -> Path:
    """Where the numpy copy of `checkpoint` lives: same name, suffix .npz."""
    return Path(checkpoint).with_suffix(".npz")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def arrays_checksum(arrays: dict[str, np.ndarray]) -> str:
    """`rnnlab.checkpoint.weights_checksum` computed on float32 numpy arrays.

    The dtype is hashed under torch's name so both functions give the same digest.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        if array.dtype != np.float32:
            raise ValueError(f"weight {name} is {array.dtype}, not float32")
        digest.update(name.encode())
        digest.update(b"torch.float32")
        digest.update(str(tuple(array.shape)).encode())
        digest.update(array.tobytes() if array.size else b"")
    return digest.hexdigest()


def write_sidecar(checkpoint: str | Path, weights: dict[str, np.ndarray], meta: dict,
                  tail: np.ndarray) -> None:
    """Write `model.npz` next to a just-saved `checkpoint`, bound to its exact bytes."""
    arrays = {WEIGHT_PREFIX + name: np.asarray(w, dtype=np.float32)
              for name, w in weights.items()}
    arrays.update(
        meta=np.array(json.dumps(meta, default=json_default)),
        tail=np.asarray(tail, dtype=np.float64),
        checkpoint_sha256=np.array(file_sha256(checkpoint)),
        checksum=np.array(arrays_checksum(weights)),
    )
    atomic_write(sidecar_path(checkpoint), lambda fh: np.savez(fh, **arrays))


def load_fast(checkpoint: str | Path) -> NumpyForecaster | None:
    """The numpy forecaster for `checkpoint`, or None when its sidecar is absent, stale,
    damaged or for a model without a numpy forward pass (then load with torch)."""
    checkpoint = Path(checkpoint)
    sidecar = sidecar_path(checkpoint)
    if not sidecar.is_file() or not checkpoint.is_file():
        return None
    try:
        with np.load(sidecar, allow_pickle=False) as npz:
            files = {name: npz[name] for name in npz.files}
        if str(files["checkpoint_sha256"]) != file_sha256(checkpoint):
            log.info("%s is older than %s: loading the checkpoint with torch", sidecar.name,
                     checkpoint.name)
            return None
        weights = {name[len(WEIGHT_PREFIX):]: array for name, array in files.items()
                   if name.startswith(WEIGHT_PREFIX)}
        if arrays_checksum(weights) != str(files["checksum"]):
            raise ValueError("weights do not match their checksum")
        meta = json.loads(str(files["meta"]))
        if meta["params"]["model"] not in FAST_MODELS:
            return None
        return NumpyForecaster(meta, weights, tail_from_meta(meta, files["tail"]))
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        log.info("cannot use %s (%s): loading %s with torch", sidecar.name, exc,
                 checkpoint.name)
        return None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|


class NumpyForecaster(WindowForecaster):
    """A loaded rnn / lstm / gru / linear network that forecasts with numpy only.

    It answers `forecast` exactly as the `Forecaster` it was saved from (to float32
    rounding); training and everything else stay with `Forecaster`.
    """

    def __init__(self, meta: dict, weights: dict[str, np.ndarray], tail: pd.Series):
        params = meta["params"]
        self.model = str(params["model"])
        self.seq_len = int(params["seq_len"])
        self.num_layers = int(params["num_layers"])
        self.scaler_ = Scaler.from_state(meta["scaler"])
        self.weights_ = {name: w.astype(np.float64) for name, w in weights.items()}
        self.tail_ = tail
        self.fitted_ = True

    def get_params(self) -> dict:
        return {"model": self.model, "seq_len": self.seq_len}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Model-unit predictions for windows x (batch, seq_len), like `Net.forward`."""
        w = self.weights_
        out = np.zeros(len(x))
        if "skip.weight" in w:
            out += x @ w["skip.weight"][0] + w["skip.bias"][0]
        if self.model != "linear":
            h = self._recurrent(x[:, :, None])  # (batch, hidden_size), last step, top layer
            out += h @ w["head.weight"][0] + w["head.bias"][0]
        return out

    def _recurrent(self, seq: np.ndarray) -> np.ndarray:
        # seq: (batch, seq_len, n_features)
        w = self.weights_
        for layer in range(self.num_layers):
            w_ih, w_hh = w[f"rnn.weight_ih_l{layer}"], w[f"rnn.weight_hh_l{layer}"]
            b_ih, b_hh = w[f"rnn.bias_ih_l{layer}"], w[f"rnn.bias_hh_l{layer}"]
            hidden = w_hh.shape[1]
            inputs = seq @ w_ih.T + b_ih  # (batch, seq_len, gates * hidden_size)
            h = np.zeros((len(seq), hidden))
            c = np.zeros_like(h)
            steps = []
            for t in range(seq.shape[1]):
                recur = h @ w_hh.T + b_hh
                if self.model == "rnn":
                    h = np.tanh(inputs[:, t] + recur)
                elif self.model == "lstm":
                    i, f, g, o = np.split(inputs[:, t] + recur, 4, axis=1)
                    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                    h = _sigmoid(o) * np.tanh(c)
                else:  # gru: the reset gate scales only the recurrent part of the candidate
                    x_r, x_z, x_n = np.split(inputs[:, t], 3, axis=1)
                    h_r, h_z, h_n = np.split(recur, 3, axis=1)
                    r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
                    h = (1 - z) * np.tanh(x_n + r * h_n) + z * h
                steps.append(h)
            seq = np.stack(steps, axis=1)  # (batch, seq_len, hidden_size)
        return seq[:, -1]

    def _predict_last(self, values: np.ndarray) -> float:
        # As Forecaster._predict_next: float32 model units, relative to the last value.
        window = self.scaler_.to_units(values[-self.seq_len:]).astype(np.float32)
        offset = window[-1] if self.scaler_.relative else np.float32(0.0)
        x = (window - offset).astype(np.float64)[None, :]
        units = np.float32(self.forward(x)[0]) + offset
        return float(self.scaler_.from_units(float(units)))

    def _forecast_values(self, history: np.ndarray, horizon: int) -> np.ndarray:
        buffer = list(history[-self.seq_len:])
        for _ in range(horizon):
            buffer.append(self._predict_last(np.asarray(buffer[-self.seq_len:])))
        return np.asarray(buffer[self.seq_len:])
