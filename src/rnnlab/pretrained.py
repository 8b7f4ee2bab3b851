"""A small recurrent forecaster pretrained on a broad corpus and shipped inside the
package: a global model's skill for one series, with no training and no network access.

The net (trained by ``benchmarks/pretrain.py``, its corpus written down there) reads the
last CONTEXT values before an origin and gives the QUANTILES of the next OUTPUT values at
once. It uses the ingredients of the panels' global net (`rnnlab.globalnet`):

- the series' own transform, read from the values it is fitted on: logs for a strictly
  positive series, and the seasonal indices of a classical decomposition taken out where
  M4's test finds the season (log indices, or additive ones for a series that reaches
  zero); the context, CONTEXT = 384 values, covers two seasons of every period up to
  MAX_PERIOD;
- per-window normalisation: each context minus the mean of its last PATCH values, divided
  by its mean absolute step, so a series of any size and any noise level means the same
  to the net;
- patches of PATCH values, each a token of an LSTM; a linear map of the whole context to
  the median beside it;
- a direct multi-horizon output of quantile heads, monotone by construction, trained with
  the pinball loss; the median is the point forecast.

The weights ship as ``weights/pretrained.npz`` (numbers only, read with
``allow_pickle=False``), and the file's SHA-256 must match WEIGHTS_SHA256 below before a
byte of it is used: an altered or forged file is refused in one line. The forward pass is
numpy, so a forecast needs no torch; `build_net` is the same net in torch, for training.

In the pool of every `rnnlab.forecaster.Forecaster` fit the net is one more family,
``pretrained``, one member per season the fit found (and one without a season), scored on
the same rolling origins as the rest and kept only where the one rule keeps it.

    rnnlab forecast --data co2 --model pretrained --horizon 24
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import open_regular
from .errors import CheckpointError
from .metrics import is_seasonal, seasonal_indices
from .threads import on_one_blas_thread

# The values a forecast reads before its origin: two seasons of every period up to
# MAX_PERIOD (a week of hours is 168), in tokens of PATCH values each.
CONTEXT = 384
PATCH = 16
MAX_PERIOD = CONTEXT // 2
# Steps forecast in one pass; further steps feed the median back.
OUTPUT = 64
# The quantiles of the heads (those of the global net): the median is the point forecast,
# the outer pairs the 80% and 95% intervals before their conformal correction.
QUANTILES = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)
MIDDLE = QUANTILES.index(0.5)
# Contexts forecast in one pass: 4,096 contexts of CONTEXT values are 12 MB.
BATCH = 4096
# The fewest values before an origin the net forecasts from: it was trained on contexts
# of 12 values and more (a year of months).
MIN_CONTEXT = 12
# A context is scaled by its mean absolute step, at least this share of the series' own
# (as the global net does): a flat stretch of zeros must not blow the next value up.
SCALE_FLOOR = 0.1
# Normalised values beyond this many steps from the level are clipped: a level shift of a
# thousand steps says no more than one of thirty.
CLIP = 30.0

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "pretrained.npz"
# The SHA-256 of the shipped weights file, checked before it is read.
WEIGHTS_SHA256 = "686c1972c90c283a206f803783f8e6a9aed35fcc9dbe21dbb9a654e0e07bdd75"
# Weights of your own (benchmarks/pretrain.py --out): the file and its SHA-256, both.
WEIGHTS_ENV, SHA256_ENV = "RNNLAB_PRETRAINED", "RNNLAB_PRETRAINED_SHA256"


# --- the series' own transform --------------------------------------------------------


@dataclass(frozen=True)
class Transform:
    """How one series maps into the net's space, read from the values it was fitted on:
    logs (strictly positive values), a season taken out (m values in that space, zeros
    where there is none), the smallest known value (a later zero is held at a tenth of
    it) and the least scale of a context."""

    logged: bool
    season: np.ndarray
    smallest: float
    floor: float

    def space(self, values: np.ndarray, start: int = 0) -> np.ndarray:
        """`values` (the first at position `start` of the series) in the net's space."""
        values = np.asarray(values, np.float64)
        if self.logged:
            values = np.log(np.maximum(values, 0.1 * self.smallest))
        return values - self.season[(start + np.arange(len(values))) % len(self.season)]

    def units(self, q: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Quantile paths q (n_origins, horizon, Q) in the net's space, made at `origins`
        (positions of the series), back in the series' units."""
        phase = (np.asarray(origins)[:, None] + np.arange(q.shape[1])) % len(self.season)
        q = q + self.season[phase][..., None]
        if self.logged:
            with np.errstate(over="ignore"):
                return np.exp(q)
        return q


def additive_indices(values: np.ndarray, m: int) -> np.ndarray:
    """The m additive seasonal indices (mean 0) of a classical decomposition, or zeros
    where M4's test finds no season at lag m.

    >>> additive_indices(np.array([-1.0, 0.0, 1.0, 0.0] * 5), 4).round(6).tolist()
    [-1.0, 0.0, 1.0, 0.0]
    """
    y = np.asarray(values, np.float64)
    if m <= 1 or not is_seasonal(y, m):
        return np.zeros(max(m, 1))
    weights = np.full(m + 1, 1.0 / m) if m % 2 == 0 else np.full(m, 1.0 / m)
    if m % 2 == 0:
        weights[0] = weights[-1] = 0.5 / m
    half = len(weights) // 2
    trend = np.convolve(y, weights, mode="valid")
    detrended = y[half:half + len(trend)] - trend
    positions = np.arange(half, half + len(trend)) % m
    figure = np.array([detrended[positions == i].mean() for i in range(m)])
    return figure - figure.mean()


def fit_transform(known: np.ndarray, period: int) -> Transform:
    """A series' transform from its known values: logs where all are positive, the
    season of `period` taken out where M4's test finds it.

    >>> t = fit_transform(np.array([1.0, 2.0, 4.0, 8.0]), 1)
    >>> t.logged, np.round(t.space(np.array([1.0, 2.0])), 3).tolist()
    (True, [0.0, 0.693])
    """
    known = np.asarray(known, np.float64)
    period = int(period) if period and 1 < period <= MAX_PERIOD else 1
    logged = bool(len(known) and known.min() > 0)
    if logged:
        season = np.log(seasonal_indices(known, period)) if period > 1 else np.zeros(1)
        smallest = float(known.min())
    else:
        season = additive_indices(known, period) if period > 1 else np.zeros(1)
        smallest = 1.0
    if not season.any():
        season = np.zeros(1)
    base = Transform(logged, season, smallest, 1.0)
    u = base.space(known)
    return Transform(logged, season, smallest, scale_floor(u))


def scale_floor(u: np.ndarray) -> float:
    """SCALE_FLOOR times the mean absolute step of `u` (its mean absolute value where it
    never moves; 1 where that is zero too).

    >>> scale_floor(np.array([0.0, 0.0, 4.0, 0.0]))
    0.26666666666666666
    """
    for scale in (np.mean(np.abs(np.diff(u))) if len(u) > 1 else 0.0,
                  np.mean(np.abs(u)) if len(u) else 0.0, 1.0):
        if scale > 0 and np.isfinite(scale):
            return float(SCALE_FLOOR * scale)
    return SCALE_FLOOR


# --- contexts -------------------------------------------------------------------------


def gather(u: np.ndarray, origins: np.ndarray, first: np.ndarray | int = 0
           ) -> tuple[np.ndarray, np.ndarray]:
    """The CONTEXT values before each origin (values[:o] known): (values (n, CONTEXT),
    padding (n, CONTEXT) bool, True before `first`, where the values repeat the first)."""
    origins = np.asarray(origins, np.int64)
    first = np.broadcast_to(np.asarray(first, np.int64), origins.shape)
    pos = origins[:, None] + np.arange(-CONTEXT, 0)
    pad = pos < first[:, None]
    return u[np.maximum(pos, first[:, None])], pad


def normalise(raw: np.ndarray, pad: np.ndarray, floor: np.ndarray | float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contexts as the net reads them: (x (n, CONTEXT, 2) float32, level (n,), scale
    (n,)). The level is the mean of the last PATCH known values, the scale the mean
    absolute step (at least `floor`); x holds the clipped normalised values (0 where
    padded) and the padding flags.

    >>> raw = np.arange(CONTEXT, dtype=float)[None] * 2.0
    >>> x, level, scale = normalise(raw, np.zeros_like(raw, bool), 0.1)
    >>> float(level[0]), float(scale[0]), float(x[0, -1, 0])
    (751.0, 2.0, 7.5)
    """
    real = ~pad
    tail = real[:, -PATCH:]
    level = (raw[:, -PATCH:] * tail).sum(1) / np.maximum(tail.sum(1), 1)
    pairs = real[:, 1:] & real[:, :-1]
    steps = np.abs(np.diff(raw, axis=1)) * pairs
    scale = steps.sum(1) / np.maximum(pairs.sum(1), 1)
    scale = np.maximum(np.maximum(scale, floor), 1e-12)
    z = np.clip((raw - level[:, None]) / scale[:, None], -CLIP, CLIP) * real
    x = np.stack([z, pad.astype(np.float64)], axis=-1).astype(np.float32)
    return x, level, scale


# --- the net --------------------------------------------------------------------------


def build_net(hidden_size: int = 128, num_layers: int = 1):
    """The net in torch, for training (`benchmarks/pretrain.py`): context (batch,
    CONTEXT, 2) -> quantiles (batch, OUTPUT, Q) in the context's normalised units.
    `PretrainedNet` is the same forward pass in numpy."""
    import torch
    from torch import nn

    class Net(nn.Module):
        """Patches of the context, embedded, read by an LSTM; its last state gives the
        median's correction and the positive gaps to the other quantiles (they never
        cross); a linear map of the context gives the median's first guess."""

        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(2 * PATCH, hidden_size)
            self.rnn = nn.LSTM(hidden_size, hidden_size, num_layers, batch_first=True)
            self.skip = nn.Linear(CONTEXT, OUTPUT)
            self.head = nn.Linear(hidden_size, OUTPUT * len(QUANTILES))
            for layer in (self.skip, self.head):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
            self.register_buffer("quantiles", torch.tensor(QUANTILES))

        def forward(self, x):
            tokens = x.reshape(len(x), CONTEXT // PATCH, PATCH * 2)
            out, _ = self.rnn(torch.relu(self.embed(tokens)))
            raw = self.head(out[:, -1]).view(len(x), OUTPUT, len(QUANTILES))
            median = raw[..., MIDDLE] + self.skip(x[..., 0])
            gaps = nn.functional.softplus(raw)
            above = median[..., None] + torch.cumsum(gaps[..., MIDDLE + 1:], -1)
            below = median[..., None] - torch.cumsum(gaps[..., :MIDDLE].flip(-1), -1).flip(-1)
            return torch.cat([below, median[..., None], above], dim=-1)

        def loss(self, x, y):
            """The pinball loss over every quantile and known target (NaN: unknown)."""
            known = torch.isfinite(y)
            error = torch.where(known, y, 0.0)[..., None] - self(x)
            pinball = torch.maximum(self.quantiles * error, (self.quantiles - 1) * error)
            return (pinball.mean(-1) * known).sum() / known.sum().clamp_min(1)

    return Net()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


class PretrainedNet:
    """The pretrained weights and the net's forward pass in numpy (float32)."""

    def __init__(self, weights: dict[str, np.ndarray], sha256: str):
        self.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.sha256 = sha256
        self.num_layers = sum(1 for k in self.weights if k.startswith("rnn.weight_ih_l"))
        self.hidden_size = int(self.weights["embed.weight"].shape[0])

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (batch, CONTEXT, 2) -> quantiles (batch, OUTPUT, Q), normalised units."""
        w = self.weights
        n = len(x)
        tokens = x.reshape(n, CONTEXT // PATCH, PATCH * 2)
        seq = np.maximum(tokens @ w["embed.weight"].T + w["embed.bias"], 0.0)
        for layer in range(self.num_layers):
            w_hh = w[f"rnn.weight_hh_l{layer}"]
            inputs = seq @ w[f"rnn.weight_ih_l{layer}"].T + (w[f"rnn.bias_ih_l{layer}"]
                                                             + w[f"rnn.bias_hh_l{layer}"])
            h = np.zeros((n, self.hidden_size), np.float32)
            c = np.zeros_like(h)
            steps = []
            for t in range(seq.shape[1]):
                i, f, g, o = np.split(inputs[:, t] + h @ w_hh.T, 4, axis=1)
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
                steps.append(h)
            seq = np.stack(steps, axis=1)
        raw = (seq[:, -1] @ w["head.weight"].T + w["head.bias"]).reshape(n, OUTPUT, -1)
        median = raw[..., MIDDLE] + x[..., 0] @ w["skip.weight"].T + w["skip.bias"]
        gaps = _softplus(raw)
        above = median[..., None] + np.cumsum(gaps[..., MIDDLE + 1:], -1)
        below = median[..., None] - np.cumsum(gaps[..., :MIDDLE][..., ::-1], -1)[..., ::-1]
        return np.concatenate([below, median[..., None], above], axis=-1)

    @on_one_blas_thread
    def quantile_paths(self, u: np.ndarray, origins: np.ndarray, horizon: int,
                       floor: float, first: int = 0) -> np.ndarray:
        """Quantile paths (n_origins, horizon, Q) in the space of `u` from each origin
        (u[:o] known), in batched passes; past OUTPUT steps the median is fed back. On one
        BLAS thread: float32 products split over threads round differently, and a forecast
        must not depend on the process (a worker has one thread, the main process all)."""
        u = np.asarray(u, np.float64)
        origins = np.asarray(origins, np.int64)
        first = np.broadcast_to(np.asarray(first, np.int64), origins.shape)
        out = np.empty((len(origins), horizon, len(QUANTILES)))
        for lo in range(0, len(origins), BATCH):  # the contexts of a batch at a time
            raw, pad = gather(u, origins[lo:lo + BATCH], first[lo:lo + BATCH])
            made = 0
            while made < horizon:
                q = self._pass(raw, pad, floor)
                out[lo:lo + BATCH, made:made + OUTPUT] = q[:, :horizon - made]
                made += OUTPUT
                if made < horizon:  # the medians join the context, as if they were known
                    raw = np.concatenate([raw, q[..., MIDDLE]], axis=1)[:, -CONTEXT:]
                    pad = np.concatenate([pad, np.zeros((len(pad), OUTPUT), bool)],
                                         axis=1)[:, -CONTEXT:]
        return out

    def _pass(self, raw: np.ndarray, pad: np.ndarray, floor: float) -> np.ndarray:
        x, level, scale = normalise(raw, pad, floor)
        q = self.forward(x).astype(np.float64)
        return q * scale[:, None, None] + level[:, None, None]


def interval_bounds(q: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The central `level` interval's bounds from quantiles q (..., Q) at QUANTILES:
    interpolated in normal scores between the heads, and beyond the outer pair widened
    from the median in proportion to the normal score.

    >>> q = np.array([-1.96, -1.2816, -0.6745, 0.0, 0.6745, 1.2816, 1.96])
    >>> [round(float(b), 2) for b in interval_bounds(q, 0.9)]
    [-1.64, 1.64]
    """
    from statistics import NormalDist

    normal = NormalDist()
    scores = np.array([normal.inv_cdf(p) for p in QUANTILES])
    target = normal.inv_cdf(0.5 + min(max(level, 1e-6), 1 - 1e-9) / 2)
    median = q[..., MIDDLE]

    def at(score: float, outer: int) -> np.ndarray:
        if abs(score) > abs(scores[outer]):
            return median + (q[..., outer] - median) * score / scores[outer]
        k = int(np.clip(np.searchsorted(scores, score) - 1, 0, len(scores) - 2))
        w = (score - scores[k]) / (scores[k + 1] - scores[k])
        return q[..., k] * (1 - w) + q[..., k + 1] * w

    return at(-target, 0), at(target, len(QUANTILES) - 1)


# --- the weights file ------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_source() -> tuple[Path, str]:
    """The weights file to load and the SHA-256 it must have: the shipped file, or the
    file RNNLAB_PRETRAINED names with the digest RNNLAB_PRETRAINED_SHA256 gives."""
    path, digest = os.environ.get(WEIGHTS_ENV), os.environ.get(SHA256_ENV)
    if not path and not digest:
        return WEIGHTS_PATH, WEIGHTS_SHA256
    if not (path and digest):
        raise CheckpointError(f"{WEIGHTS_ENV} and {SHA256_ENV} go together (the weights file "
                              "and its SHA-256, as benchmarks/pretrain.py prints them); set "
                              "both, or neither for the shipped weights")
    return Path(path), digest.strip().lower()


def load_net() -> PretrainedNet:
    """The pretrained net (`weights_source`), read once per process: refused in one
    line (CheckpointError) where the file is missing, is not what its SHA-256 says, or
    does not hold the net's numbers."""
    return _load(*weights_source())


@functools.lru_cache(maxsize=4)
def _load(path: Path, sha256: str) -> PretrainedNet:
    try:
        open_regular(path).close()  # a FIFO or a device is refused before it is read
        found = file_sha256(path)
    except FileNotFoundError:
        raise CheckpointError(f"the pretrained weights '{path}' are missing; reinstall "
                              "rnnlab (they ship inside the package)") from None
    if found != sha256:
        raise CheckpointError(f"refused the pretrained weights '{path}': their SHA-256 is "
                              f"{found[:16]}..., not the expected {sha256[:16]}...; the file "
                              "was altered or replaced: reinstall rnnlab, or give the digest "
                              f"of weights of your own in {SHA256_ENV}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: np.asarray(archive[k]) for k in archive.files}
        config = json.loads(str(arrays.pop("config")))
        net = PretrainedNet(arrays, found)
        _check_shapes(net, config)
    except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"the pretrained weights '{path}' do not hold the net "
                              f"({str(exc)[:120]}); reinstall rnnlab") from None
    return net


def _check_shapes(net: PretrainedNet, config: dict) -> None:
    """Every weight of the shape the net's settings need (ValueError if not)."""
    settings = {"context": CONTEXT, "patch": PATCH, "output": OUTPUT,
                "quantiles": list(QUANTILES)}
    for key, value in settings.items():
        if config.get(key) != value:
            raise ValueError(f"{key} is {config.get(key)!r}, this rnnlab needs {value!r}")
    h, q = net.hidden_size, len(QUANTILES)
    expected = {"embed.weight": (h, 2 * PATCH), "embed.bias": (h,),
                "skip.weight": (OUTPUT, CONTEXT), "skip.bias": (OUTPUT,),
                "head.weight": (OUTPUT * q, h), "head.bias": (OUTPUT * q,)}
    for layer in range(net.num_layers):
        expected.update({f"rnn.weight_ih_l{layer}": (4 * h, h),
                         f"rnn.weight_hh_l{layer}": (4 * h, h),
                         f"rnn.bias_ih_l{layer}": (4 * h,), f"rnn.bias_hh_l{layer}": (4 * h,)})
    shapes = {k: tuple(v.shape) for k, v in net.weights.items()}
    if shapes != expected or not all(np.isfinite(v).all() for v in net.weights.values()):
        raise ValueError("the weights do not fit the net's parameters")


def save_weights(path: str | Path, state: dict[str, np.ndarray], hidden_size: int,
                 num_layers: int, extra: dict | None = None) -> str:
    """Write a weights file (numbers and one JSON text only) and return its SHA-256."""
    config = {"context": CONTEXT, "patch": PATCH, "output": OUTPUT,
              "quantiles": list(QUANTILES), "hidden_size": hidden_size,
              "num_layers": num_layers, **(extra or {})}
    arrays = {k: np.asarray(v, np.float32) for k, v in state.items() if k != "quantiles"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, config=np.array(json.dumps(config, sort_keys=True)), **arrays)
    return file_sha256(path)
