"""The local recurrent net, one candidate of the forecast pool.

A network of `rnnlab.models` (rnn, lstm, gru, ...) trained on the windows of one series
by `rnnlab.train.train`. Its frozen linear skip is the closed-form linear form the folds
ranked first (`rnnlab.candidates.Linear`, fitted on the same values), so the untrained
net is that form, and training keeps only what lowers the loss on the fold span (early
stopping). With ``features`` it is the one candidate that reads them. torch loads on
first use.

    rnnlab train --data sine --model gru --out runs/gru   # the table shows the net's row
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .candidates import Candidate, in_batches
from .config import ModelConfig, TrainConfig
from .errors import DataError
from .features import CALENDAR_COLUMNS, calendar_columns, feature_names
from .windows import Scaler, Windows, as_tensor

# Windows per forward pass when forecasting from many origins at once.
CHAIN_BATCH = 8192
UNKNOWN_FEATURES = ("features other than --calendar are unknown after the forecast origin: "
                    "use --strategy direct with --horizon covering the steps wanted")


class NetCandidate(Candidate):
    """A trained network with its scaler (and its features' scaler), forecasting from any
    origin in batched passes: one pass gives the net's outputs (H with direct, 1 with
    recursive), which are appended to the windows until the steps asked for are made."""

    family = "net"

    def __init__(self, config: ModelConfig, scaler: Scaler, net, history,
                 feature_scaler=None):
        self.config, self.scaler, self.net, self.history = config, scaler, net, history
        self.feature_scaler = feature_scaler
        self.seq_len = int(config.seq_len)
        self.min_fit = self.seq_len

    @property
    def name(self) -> str:
        return self.config.model

    @property
    def uses_features(self) -> bool:
        return self.feature_scaler is not None

    def units(self, matrix: np.ndarray) -> np.ndarray:
        """(..., 1 + F) raw inputs -> model units: the target by its scaler, each feature
        by its own, all fitted on the net's training part."""
        out = np.empty(matrix.shape)
        out[..., 0] = self.scaler.to_units(matrix[..., 0])
        if matrix.shape[-1] > 1:
            out[..., 1:] = self.feature_scaler.transform(matrix[..., 1:].reshape(
                -1, matrix.shape[-1] - 1)).reshape(matrix[..., 1:].shape)
        return out

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        """`values`: the target (n,), or with features the raw inputs (n, 1 + F), the
        calendar's known future rows after the data where origins reach its end."""
        matrix = np.asarray(values, np.float64)
        matrix = matrix[:, None] if matrix.ndim == 1 else matrix
        origins = self._check_origins(matrix, origins, self.seq_len)

        def part(some: np.ndarray) -> np.ndarray:
            positions = some[:, None] - self.seq_len + np.arange(self.seq_len)
            return self._chain(matrix[positions], horizon, matrix, some)

        return in_batches(part, origins, horizon)

    def _chain(self, windows: np.ndarray, steps: int, matrix: np.ndarray,
               origins: np.ndarray) -> np.ndarray:
        import torch

        device = next(self.net.parameters()).device
        self.net.eval()
        out = []
        for lo in range(0, len(windows), CHAIN_BATCH):
            buffer = windows[lo:lo + CHAIN_BATCH]  # (batch, seq_len, 1 + F)
            made = []
            while sum(v.shape[1] for v in made) < steps:
                done = sum(v.shape[1] for v in made)
                if done:
                    buffer = np.concatenate([buffer, self._fed(made[-1], matrix,
                                                               origins[lo:lo + CHAIN_BATCH],
                                                               done)], axis=1)
                units = self.units(buffer[:, -self.seq_len:])
                last = units[:, -1:, 0].copy() if self.scaler.relative \
                    else np.zeros((len(units), 1))
                units[..., 0] -= last
                with torch.no_grad():
                    pred = self.net(as_tensor(units, device)).reshape(len(units), -1)
                made.append(self.scaler.from_units(pred.double().cpu().numpy() + last))
            out.append(np.concatenate(made, axis=1)[:, :steps])
        return np.concatenate(out) if out else np.zeros((0, steps))

    def _fed(self, predicted: np.ndarray, matrix: np.ndarray, origins: np.ndarray,
             done: int) -> np.ndarray:
        """The rows appended after `predicted` values: the predictions as the target, the
        calendar of their dates beside it. Named features are unknown there."""
        width = matrix.shape[1]
        if width == 1:
            return predicted[..., None]
        if len(feature_names(self.config.features)):
            # Feeding the actual later values of a feature would leak the future.
            raise DataError(UNKNOWN_FEATURES)
        rows = origins[:, None] + done - predicted.shape[1] + np.arange(predicted.shape[1])
        if rows.max() >= len(matrix):
            raise DataError("the calendar of the forecast dates is needed: pass the dates")
        fed = matrix[rows].copy()
        fed[..., 0] = predicted
        return fed

    def predict_next(self, values: np.ndarray) -> np.ndarray:
        """One-step predictions after every window of the target `values` (no features)."""
        return self.paths(values, np.arange(self.seq_len, len(values) + 1), 1)[:, 0]


def inputs_matrix(frame: pd.DataFrame, calendar: bool, extra_dates: int = 0,
                  future_dates=None) -> np.ndarray:
    """Raw model inputs (n, 1 + F): the target, the named features, the calendar.
    `extra_dates` rows for the dates after `frame` (`future_dates`) hold the calendar
    (known in advance) and NaN elsewhere."""
    parts = [frame.to_numpy(np.float64)]
    if calendar:
        parts.append(calendar_columns(frame.index).to_numpy())
    matrix = np.column_stack(parts)
    if extra_dates:
        future = np.full((extra_dates, matrix.shape[1]), np.nan)
        if calendar:
            future[:, -len(CALENDAR_COLUMNS):] = calendar_columns(future_dates).to_numpy()
        matrix = np.vstack([matrix, future])
    return matrix


def train_nets(config: ModelConfig, training: TrainConfig, seeds: list[int],
               matrix: np.ndarray, start: int, scaler: Scaler, skip, feature_scaler,
               **train_kwargs) -> list[NetCandidate]:
    """One net per seed, trained together on the windows whose targets lie before
    `start` and early-stopped on those after it (the folds' span).

    Parameters
    ----------
    config : the net's settings, with seq_len and the strategy resolved.
    matrix : the raw inputs (n, 1 + F) (`inputs_matrix`).
    scaler : the target's scaler, fitted on matrix[:start, 0].
    skip : (weights, bias) of the linear skip in `scaler`'s units, or None.
    feature_scaler : the features' scaler, fitted on matrix[:start, 1:], or None.
    train_kwargs : `progress`, `should_stop`, `on_epoch_end`, `resume`, `device`.
    """
    import torch

    from .models import build_model
    from .train import cpu_threads, resolve_device, train

    device = resolve_device(train_kwargs.pop("device", training.device))
    units = scaler.to_units(matrix[:, 0])
    if feature_scaler is not None:
        units = np.column_stack([units, feature_scaler.transform(matrix[:, 1:])])
    z = as_tensor(units, device)  # (n,) or (n, 1 + F)
    nets = []
    for seed in seeds:
        torch.manual_seed(seed)  # its weights are those of a separate fit
        nets.append(build_model(config, matrix.shape[1]).to(device))
    outputs, seq_len = config.outputs, int(config.seq_len)
    train_w = Windows(z, seq_len, seq_len, start, scaler.relative, outputs)
    val_w = Windows(z, seq_len, start, len(matrix), scaler.relative, outputs)
    with cpu_threads(training.threads):
        if skip is not None and nets[0].skip is not None and train_kwargs.get("resume") is None:
            for net in nets:
                net.set_skip(torch.as_tensor(skip[0], dtype=torch.float32), skip[1])
        histories = train(nets, train_w, val_w, training, seeds, **train_kwargs)
    return [NetCandidate(config, scaler, net, history, feature_scaler)
            for net, history in zip(nets, histories, strict=True)]


def check_weight_shapes(config: ModelConfig, state_dict: dict, n_features: int = 1) -> None:
    """Raise ValueError unless the network `config` describes has the stored weights' shapes.

    Built on torch's meta device, which allocates nothing: a forged hidden_size is refused
    here instead of filling the memory with a network it cannot load into.
    """
    import torch

    from .models import build_model

    with torch.device("meta"):
        net = build_model(config, n_features)
    expected = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    got = {name: tuple(t.shape) for name, t in state_dict.items()}
    if got != expected:
        wrong = sorted(set(got.items()) ^ set(expected.items()))[0][0]
        raise ValueError(f"stored weight {wrong} has shape {got.get(wrong)}, the parameters "
                         f"need {expected.get(wrong)}")
