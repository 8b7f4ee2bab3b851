"""Forecast from a saved run without importing torch: numpy forward passes.

`import torch` alone takes seconds, longer than a forecast of a small network. So after
`Forecaster.save` writes ``model.pt``, `save_fast` writes ``model.npz`` beside it (for an
rnn, lstm, gru or linear net, or a pool without one): the same weights as plain arrays,
the metadata as JSON text, the series' tail and the pool's arrays, the SHA-256 of the
``model.pt`` file and the weights' checksum. `load_fast` rebuilds the `Forecaster` from it
with a numpy copy of the net (`NumpyNet`).
`load_fast` uses that sidecar only when it is read with ``allow_pickle=False`` (no
Python objects, ever) and every member's npy header fits its size in the zip directory
(no allocation beyond the file), it names the exact ``model.pt`` next to it, its weights
hash to the checksum that ``model.pt`` records, its metadata and tail hash to the
metadata checksum that ``model.pt`` records (both read from the checkpoint's pickle
opcodes, never unpickled), and its weight shapes fit its parameters. Otherwise it says why
in a note and loads ``model.pt`` through torch as before, which refuses a bad file in one
line. ``model.pt`` stays the canonical checkpoint.

    rnnlab forecast --run runs/sine --horizon 10
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

import numpy as np

from .base import MAX_MAGNITUDE, tail_from_meta, tail_offsets_from_meta
from .candidates import Candidate
from .checkpoint import (
    MAX_WEIGHT,
    atomic_write,
    check_checkpoint_file,
    json_default,
    open_regular,
    read_npz,
    recorded_checksums,
)
from .errors import CheckpointError
from .forecaster import Forecaster, pool_meta, restore_pool
from .metadata import check_meta
from .windows import Scaler

log = logging.getLogger("rnnlab")

# Networks whose forward pass is written out below; other models load through torch.
FAST_MODELS = ("rnn", "lstm", "gru", "linear")
# Gate blocks per recurrent layer, stacked in torch's order (LSTM i, f, g, o; GRU r, z, n):
# the weight shapes a sidecar must have.
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
WEIGHT_PREFIX = "weights/"
EXTRA_PREFIX = "extra/"


def sidecar_path(checkpoint: str | Path) -> Path:
    """Where the numpy copy of `checkpoint` lives: same name, suffix .npz."""
    return Path(checkpoint).with_suffix(".npz")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def arrays_checksum(arrays: dict[str, np.ndarray]) -> str:
    """`rnnlab.checkpoint.weights_checksum` computed on float32 (or float64) numpy arrays.

    The dtype is hashed under torch's name so both functions give the same digest.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        if array.dtype not in (np.float32, np.float64):
            raise ValueError(f"weight {name} is {array.dtype}, not float32")
        digest.update(name.encode())
        digest.update(f"torch.{array.dtype}".encode())
        digest.update(str(tuple(array.shape)).encode())
        digest.update(array.tobytes() if array.size else b"")
    return digest.hexdigest()


def write_sidecar(checkpoint: str | Path, weights: dict[str, np.ndarray], meta: dict,
                  tail: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> None:
    """Write `model.npz` next to a just-saved `checkpoint`, bound to its exact bytes.
    `extra` holds the checkpoint's other tensors (the pool's arrays), by their names."""
    arrays = {WEIGHT_PREFIX + name: np.asarray(w, dtype=np.float32)
              for name, w in weights.items()}
    arrays.update({EXTRA_PREFIX + name: np.asarray(a, dtype=np.float64)
                   for name, a in (extra or {}).items()})
    arrays.update(
        meta=np.array(json.dumps(meta, default=json_default)),
        tail=np.asarray(tail, dtype=np.float64),
        checkpoint_sha256=np.array(file_sha256(checkpoint)),
        checksum=np.array(arrays_checksum(weights)),
    )
    atomic_write(sidecar_path(checkpoint), lambda fh: np.savez(fh, **arrays))


def save_fast(forecaster: Forecaster, checkpoint: str | Path) -> None:
    """Write the numpy copy of a checkpoint `forecaster.save` just wrote, where numpy can
    run its net (rnn, lstm, gru, linear; no features); else remove a stale one."""
    net = forecaster.model_
    if forecaster._uses_features() or (net is not None and forecaster.model not in FAST_MODELS):
        sidecar_path(checkpoint).unlink(missing_ok=True)
        return
    meta, arrays = pool_meta(forecaster)
    weights = {} if net is None else {k: v.detach().cpu().numpy()
                                      for k, v in net.state_dict().items()}
    write_sidecar(checkpoint, weights, meta, forecaster.tail_.to_numpy(np.float64), arrays)


def load_fast(checkpoint: str | Path) -> Forecaster | None:
    """The forecaster of `checkpoint` with a numpy copy of its net, or None when its
    sidecar is absent, stale, damaged or for a model without a numpy forward pass (then
    load with torch).

    A sidecar or checkpoint that is not a regular file (a FIFO, a device) is refused.
    """
    checkpoint = Path(checkpoint)
    sidecar = sidecar_path(checkpoint)
    if not sidecar.exists() or not checkpoint.exists():
        return None
    try:
        fh = open_regular(sidecar)  # a FIFO or device raises CheckpointError: refused
    except OSError as exc:
        log.info("cannot open %s (%s): loading %s with torch", sidecar.name, exc,
                 checkpoint.name)
        return None
    with fh:
        # A checkpoint that is no sane zip is refused before it is hashed: a sparse 200 GB
        # file would take minutes to read.
        check_checkpoint_file(checkpoint)
        try:
            files = read_npz(fh, sidecar)
            if str(files["checkpoint_sha256"]) != file_sha256(checkpoint):
                log.info("%s is older than %s: loading the checkpoint with torch",
                         sidecar.name, checkpoint.name)
                return None
            weights = {name[len(WEIGHT_PREFIX):]: array for name, array in files.items()
                       if name.startswith(WEIGHT_PREFIX)}
            extra = {name[len(EXTRA_PREFIX):]: array for name, array in files.items()
                     if name.startswith(EXTRA_PREFIX)}
            meta_text, tail = str(files["meta"]), files["tail"]
            check_binding(checkpoint, weights, meta_text, {"tail": tail, **extra})
            meta = json.loads(meta_text)
            check_meta(meta, tail, checkpoint)
            check_arrays(weights, tail, checkpoint)
            params = meta["params"]
            if weights and params["model"] not in FAST_MODELS:
                return None
            forecaster = Forecaster(**params, progress=False)
            net = None
            if weights:
                outputs = forecaster.horizon if meta.get("strategy_used") == "direct" else 1
                check_shapes(params, weights, outputs)
                net = NumpyNet(meta, weights, outputs)
            restore_pool(forecaster, meta, extra, net)
            forecaster.tail_ = tail_from_meta(meta, tail)
            forecaster.tail_offsets_ = tail_offsets_from_meta(meta, len(tail))
            forecaster.fitted_ = True
            return forecaster
        except (OSError, KeyError, TypeError, ValueError, AttributeError, RecursionError,
                zipfile.BadZipFile) as exc:
            log.info("cannot use %s (%s): loading %s with torch", sidecar.name, exc,
                     checkpoint.name)
            return None


def check_binding(checkpoint: Path, weights: dict[str, np.ndarray], meta_text: str,
                  tensors: dict[str, np.ndarray]) -> None:
    """Raise ValueError unless the sidecar holds exactly what `checkpoint` records.

    Its weights must hash to the checkpoint's checksum and its metadata and tail to the
    checkpoint's meta_checksum (the formula of `rnnlab.checkpoint._meta_checksum`), so
    another run's sidecar, or an edited tail, is never used even with its SHA-256 rewritten.
    """
    recorded = recorded_checksums(checkpoint)
    if "checksum" not in recorded or "meta_checksum" not in recorded:
        raise ValueError(f"{checkpoint.name} records no checksums to check the sidecar against")
    if arrays_checksum(weights) != recorded["checksum"]:
        raise ValueError(f"its weights are not those of {checkpoint.name}")
    tail_sum = arrays_checksum({k: np.asarray(v) for k, v in tensors.items()})
    if hashlib.sha256(meta_text.encode() + tail_sum.encode()).hexdigest() != \
            recorded["meta_checksum"]:
        raise ValueError(f"its metadata or series tail are not those of {checkpoint.name}")


def check_arrays(weights: dict[str, np.ndarray], tail: np.ndarray, path: str | Path) -> None:
    """`rnnlab.checkpoint.check_tensors` for the sidecar's arrays: every weight finite and
    within ±MAX_WEIGHT, the stored tail finite and within ±MAX_MAGNITUDE."""
    named = [(f"weight {k}", w, MAX_WEIGHT) for k, w in weights.items()]
    for name, array, bound in [*named, ("stored tail", tail, MAX_MAGNITUDE)]:
        values = np.asarray(array, dtype=np.float64)
        problem = None
        if not np.isfinite(values).all():
            problem = "NaN or infinite values"
        elif values.size and np.abs(values).max() > bound:
            problem = f"a value of magnitude {np.abs(values).max():.3g}, beyond ±{bound:.0e}"
        if problem:
            raise CheckpointError(
                f"refused to load '{path}': {name} holds {problem}, which no rnnlab "
                "checkpoint holds; it was edited or damaged: retrain it, or restore it from "
                "a copy")


def check_shapes(params: dict, weights: dict[str, np.ndarray], outputs: int = 1) -> None:
    """Raise ValueError unless `weights` are exactly the tensors the parameters describe
    (`outputs` values per window: H for a direct net)."""
    model, hidden = params["model"], params["hidden_size"]
    expected = {}
    if model != "linear":
        rows = GATES[model] * hidden
        for layer in range(params["num_layers"]):
            expected.update({f"rnn.weight_ih_l{layer}": (rows, 1 if layer == 0 else hidden),
                             f"rnn.weight_hh_l{layer}": (rows, hidden),
                             f"rnn.bias_ih_l{layer}": (rows,), f"rnn.bias_hh_l{layer}": (rows,)})
        expected.update({"head.weight": (outputs, hidden), "head.bias": (outputs,)})
    if model == "linear" or params["linear_skip"]:
        expected.update({"skip.weight": (outputs, params["seq_len"]), "skip.bias": (outputs,)})
    got = {name: tuple(w.shape) for name, w in weights.items()}
    if got != expected:
        wrong = sorted(set(got.items()) ^ set(expected.items()))[0][0]
        raise ValueError(f"weight {wrong} has shape {got.get(wrong)}, the parameters need "
                         f"{expected.get(wrong)}")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|


class NumpyNet(Candidate):
    """A saved rnn / lstm / gru / linear net that forecasts with numpy only, as the
    `rnnlab.recurrent.NetCandidate` it was saved from does (to float32 rounding)."""

    family = "net"

    def __init__(self, meta: dict, weights: dict[str, np.ndarray], outputs: int = 1):
        params = meta["params"]
        self.params_ = dict(params)  # every setting it was saved with, for the run's check
        self.model = str(params["model"])
        self.seq_len = int(params["seq_len"])
        self.num_layers = int(params["num_layers"])
        recent = params.get("recurrent_len")
        self.recent = int(recent) if recent and recent < self.seq_len else None
        self.outputs = outputs
        self.scaler = Scaler.from_state(meta["scaler"])
        self.weights_ = {name: w.astype(np.float64) for name, w in weights.items()}

    @property
    def name(self) -> str:
        return self.model

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Model-unit outputs for windows x (batch, seq_len): (batch, outputs)."""
        w = self.weights_
        out = np.zeros((len(x), self.outputs))
        if "skip.weight" in w:
            out += x @ w["skip.weight"].T + w["skip.bias"]
        if self.model != "linear":
            seq = x if self.recent is None else x[:, -self.recent:]
            h = self._recurrent(seq[:, :, None])  # (batch, hidden_size): last step, top layer
            out += h @ w["head.weight"].T + w["head.bias"]
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

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        values = np.asarray(values, np.float64)
        origins = self._check_origins(values, origins, self.seq_len)
        buffer = values[origins[:, None] - self.seq_len + np.arange(self.seq_len)]
        made = 0
        while made < horizon:
            # As the torch net: float32 model units, relative to the last value.
            units = self.scaler.to_units(buffer[:, -self.seq_len:]).astype(np.float32)
            last = units[:, -1:] if self.scaler.relative else np.zeros((len(units), 1),
                                                                      np.float32)
            out = self.forward((units - last).astype(np.float64)).astype(np.float32) + last
            buffer = np.concatenate([buffer, self.scaler.from_units(out.astype(np.float64))],
                                    axis=1)
            made += self.outputs
        return buffer[:, self.seq_len:self.seq_len + horizon]
