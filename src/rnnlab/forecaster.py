"""The public estimator: `Forecaster(model="lstm", seq_len=30).fit(series)`.

It honours the contract of `rnnlab.base` (fit / predict / forecast, pandas in and out), so
`compare` and `sweep` work for it as for the baselines. `fit_seeds` fits one copy per seed
in one training run. torch and the modules built on it (models, train) load inside the
methods, so `rnnlab forecast` and `rnnlab --help` can import this module without them.

    rnnlab train --data stock:A --model lstm --out runs/a && rnnlab forecast --run runs/a
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd

from .base import (
    WindowForecaster,
    assign_params,
    check_forecast_work,
    check_series,
    conformal_widths,
    error_scale_from_meta,
    future_index,
    interval_width_from_meta,
    non_decreasing,
    tail_from_meta,
    tail_offsets_from_meta,
    track_level,
)
from .checkpoint import load_checkpoint, save_checkpoint
from .config import DataConfig, ModelConfig, TrainConfig, check
from .errors import CheckpointError, ConfigError, DataError, RnnlabError
from .fastpath import FAST_MODELS, sidecar_path, write_sidecar
from .features import (
    CALENDAR_COLUMNS,
    FeatureScaler,
    calendar_columns,
    check_frame,
    feature_names,
    fit_feature_scaler,
    uses_features,
)
from .metadata import check_meta
from .windows import (
    DEFAULT_SEQ_LEN,
    MIN_TRAIN_WINDOWS,
    MIN_VAL_WINDOWS,
    Scaler,
    Windows,
    as_tensor,
    choose_seq_len,
    fit_scaler,
)

# The Forecaster holds out this share of what it is fitted on for early stopping: with
# the default 20% test part, that is 10% of the whole series.
VAL_FRACTION = DataConfig.val_fraction / (1 - DataConfig.test_fraction)


def check_fit_size(name: str, n: int, n_val: int, seq_len: int, outputs: int = 1) -> None:
    """Refuse a fit part too short for `seq_len` windows (each with `outputs` targets)
    plus the validation part."""
    extra = outputs - 1  # a window's last target lies this far after its first
    if 0 < n_val < MIN_VAL_WINDOWS + extra and n - n_val >= seq_len + MIN_TRAIN_WINDOWS + extra:
        raise DataError(
            f"{name}'s validation part has {n_val} values, too few for {MIN_VAL_WINDOWS} "
            f"validation windows of {outputs} steps (direct horizon {outputs} needs "
            f"{MIN_VAL_WINDOWS + extra}); use --strategy recursive, a shorter --horizon or "
            "a larger --val-fraction")
    if (n - n_val < seq_len + MIN_TRAIN_WINDOWS + extra
            or 0 < n_val < MIN_VAL_WINDOWS + extra):
        need = seq_len + MIN_TRAIN_WINDOWS + extra + max(n_val, MIN_VAL_WINDOWS + extra)
        steps = f" of {outputs} steps (direct horizon)" if outputs > 1 else ""
        raise DataError(
            f"{name} has {n} values; seq_len {seq_len} needs at least {need} to leave "
            f"{MIN_TRAIN_WINDOWS} training and {MIN_VAL_WINDOWS} validation windows{steps}; "
            "use a shorter seq_len, a shorter horizon or a longer series"
        )


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


def _parameters() -> dict[str, inspect.Parameter]:
    """The estimator's keyword parameters: every model and training option of
    `rnnlab.config`, with its default, then the fit-time validation share and progress."""
    params = {}
    for section in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(section):
            params[f.name] = inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                               default=f.default, annotation=f.type)
    params["val_fraction"] = inspect.Parameter(
        "val_fraction", inspect.Parameter.KEYWORD_ONLY, default=VAL_FRACTION,
        annotation="float")
    params["progress"] = inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY,
                                           default=None, annotation="bool | None")
    return params


PARAMETERS = _parameters()


class Forecaster(WindowForecaster):
    """A recurrent (or other registered) network trained on windows of one series.

    Its keyword parameters are the options of `rnnlab train --help`, generated from the
    fields of `rnnlab.config.ModelConfig` and `TrainConfig` (defaults and their reasons
    live there), plus ``val_fraction``, the share of the series given to `fit` that is
    held out for early stopping, and ``progress``. An unknown name is refused by name.

    Examples
    --------
    >>> from rnnlab.data import load_series
    >>> series = load_series("sine")
    >>> f = Forecaster(model="gru", epochs=3, progress=False).fit(series[:800])
    >>> f.seq_len  # chosen at fit: two seasons of the period 63 found on the training part
    126
    >>> float(f.predict(series).index[0])
    12.6
    >>> len(f.forecast(5))
    5
    """

    def __init__(self, **params):
        assign_params(self, params, PARAMETERS)

    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY), *PARAMETERS.values()])

    @classmethod
    def from_config(cls, model: ModelConfig, training: TrainConfig,
                    progress: bool | None = None) -> Forecaster:
        """The estimator a run's model and training sections describe."""
        return cls(**dataclasses.asdict(model), **dataclasses.asdict(training),
                   progress=progress)

    def model_config(self) -> ModelConfig:
        """The model section; after fit, with ``strategy="auto"`` resolved."""
        config = ModelConfig(**{f.name: getattr(self, f.name)
                                for f in dataclasses.fields(ModelConfig)})
        used = getattr(self, "strategy_", None)
        return dataclasses.replace(config, strategy=used) if used else config

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(TrainConfig)})

    def fit(self, series: pd.Series, val_size: int | None = None, *, should_stop=None,
            on_epoch_end=None, resume: dict | None = None) -> Forecaster:
        """Split off the last `val_size` points for early stopping, fit the scaler on the
        rest, fit the linear skip by least squares, then train the network.

        With ``horizon`` above 1, direct open to ``strategy="auto"`` and no features, the
        linear skip is the average of the best few forms on the validation part
        (`combined_forms`; ``forms_`` names them), and the net forecasts all H steps on it.
        With ``horizon`` above 1 and no features the trained body is kept only where it
        beats the linear part alone on the validation part by the one rule
        (`body_verdict`; ``body_`` records the verdict), else the net is its linear part.

        ``should_stop``, ``on_epoch_end`` and ``resume`` are passed to `rnnlab.train.train`
        (interruption and exact resumption). With ``features`` (or ``calendar``) `series`
        is a DataFrame: the target first, then the named feature columns
        (`rnnlab.features`); predict, forecast and paths_from then take such a frame too.
        """
        if val_size is not None and (isinstance(val_size, bool) or not isinstance(
                val_size, int | np.integer) or not 0 <= val_size < len(series)):
            raise ConfigError(f"val_size must be a whole number of values from 0 to below the "
                              f"{len(series)} given, got {val_size!r}; pass e.g. val_size="
                              f"{len(series) // 10}, or leave it out for val_fraction's share")
        n_val = None if val_size is None else int(val_size)
        _fit_together([self], series, n_val, should_stop=should_stop,
                      on_epoch_end=on_epoch_end, resume=resume)
        return self

    def predict(self, series: pd.Series) -> pd.Series:
        """One-step-ahead predictions for every point after the first `seq_len`.

        Each prediction uses only the `seq_len` actual values before its date.
        """
        self._check_fitted()
        if self._uses_features():
            frame = self._frame(series, self.seq_len + 1)
            values = self._predict_matrix(self._inputs(frame))
            return pd.Series(values, index=frame.index[self.seq_len:], name=self.model)
        series = check_series(series, self.seq_len + 1)
        values = self._predict_tracked(series.to_numpy(np.float64))
        return pd.Series(values, index=series.index[self.seq_len:], name=self.model)

    # --- outside features (rnnlab.features) -------------------------------------------

    def _uses_features(self) -> bool:
        return uses_features(self.features, self.calendar)

    def _frame(self, data, min_length: int = 1) -> pd.DataFrame:
        """The target and the named feature columns of `data`, checked."""
        return check_frame(data, feature_names(self.features), min_length)

    def _inputs(self, frame: pd.DataFrame, extra_dates: int = 0) -> np.ndarray:
        """Raw model inputs (n, 1 + F): the target, the named features, the calendar.
        `extra_dates` rows for the dates after `frame` hold the calendar (known in
        advance) and NaN elsewhere."""
        parts = [frame.to_numpy(np.float64)]
        if self.calendar:
            parts.append(calendar_columns(frame.index).to_numpy())
        matrix = np.column_stack(parts)
        if extra_dates:
            future = np.full((extra_dates, matrix.shape[1]), np.nan)
            if self.calendar:
                dates = future_index(frame.index, extra_dates)
                future[:, -len(CALENDAR_COLUMNS):] = calendar_columns(dates).to_numpy()
            matrix = np.vstack([matrix, future])
        return matrix

    def _units(self, matrix: np.ndarray) -> np.ndarray:
        """(..., 1 + F) raw inputs -> model units: the target by its scaler, each feature
        by its own, all fitted on the training part."""
        out = np.empty(matrix.shape)
        out[..., 0] = self.scaler_.to_units(matrix[..., 0])
        out[..., 1:] = self.feature_scaler_.transform(matrix[..., 1:].reshape(
            -1, matrix.shape[-1] - 1)).reshape(matrix[..., 1:].shape)
        return out

    def _predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """One-step predictions after every window of the raw inputs (n, 1 + F)."""
        from .train import predict_units

        device = next(self.model_.parameters()).device
        z = as_tensor(self._units(matrix), device)  # (n, 1 + F)
        windows = Windows(z, self.seq_len, self.seq_len, len(matrix), self.scaler_.relative)
        units = predict_units(self.model_, windows)
        if units.dim() == 2:
            units = units[:, 0]
        units = units + windows.offsets()
        return self.scaler_.from_units(units.double().cpu().numpy())

    def _chain_features(self, windows: np.ndarray, steps: int,
                        future: np.ndarray | None) -> np.ndarray:
        """`_chain` with features: windows (n, seq_len, 1 + F) of raw inputs; `future`
        (n, steps, 1 + F) holds the known inputs of the steps ahead (the calendar), fed
        with each prediction when the net makes fewer outputs than `steps`."""
        import torch

        device = next(self.model_.parameters()).device
        self.model_.eval()
        out = []
        for lo in range(0, len(windows), CHAIN_BATCH):
            buffer = np.asarray(windows[lo:lo + CHAIN_BATCH], dtype=np.float64)
            made = []
            while sum(v.shape[1] for v in made) < steps:
                done = sum(v.shape[1] for v in made)
                if done and (feature_names(self.features) or future is None):
                    # Feeding the actual later values of a feature would leak the future.
                    raise DataError(UNKNOWN_FEATURES)
                if done:
                    rows = future[lo:lo + CHAIN_BATCH, done - made[-1].shape[1]:done].copy()
                    rows[..., 0] = made[-1]
                    buffer = np.concatenate([buffer, rows], axis=1)
                units = self._units(buffer[:, -self.seq_len:])  # (batch, seq_len, 1 + F)
                last = units[:, -1:, 0].copy() if self.scaler_.relative \
                    else np.zeros((len(units), 1))
                units[..., 0] -= last
                with torch.no_grad():
                    pred = self.model_(as_tensor(units, device)).reshape(len(units), -1)
                values = pred.double().cpu().numpy() + last
                made.append(self.scaler_.from_units(values))
            out.append(np.concatenate(made, axis=1)[:, :steps])
        return np.concatenate(out) if out else np.zeros((0, steps))

    def _paths_with_features(self, data, origins: np.ndarray, horizon: int) -> np.ndarray:
        frame = self._frame(data)
        extra = max(int(origins.max()) + horizon - len(frame), 0)
        matrix = self._inputs(frame, extra)
        positions = origins[:, None] - self.seq_len + np.arange(self.seq_len)
        ahead = origins[:, None] + np.arange(horizon)
        return self._chain_features(matrix[positions], horizon, matrix[ahead])

    def forecast(self, horizon: int, series=None) -> pd.Series:
        """The next `horizon` values after `series` (default: the data seen in fit). With
        features other than the calendar, only as many steps as the net has outputs."""
        if not self._uses_features():
            return super().forecast(horizon, series)
        self._check_fitted()
        horizon = check_forecast_work(self, horizon)
        if series is None:
            frame = pd.concat([self.tail_, self.tail_features_], axis=1)
        else:
            frame = self._frame(series, self.seq_len)
        values = self._paths_with_features(frame, np.array([len(frame)]), horizon)[0]
        index = future_index(frame.index, horizon)
        return pd.Series(values, index=index, name=f"{self.label()} forecast")

    def set_history(self, series) -> None:
        """Make `forecast` continue after `series` by default (with features: a frame)."""
        if not self._uses_features():
            return super().set_history(series)
        self._check_fitted()
        self._remember_tail(self._frame(series, self.seq_len), self.seq_len)

    def _remember_tail(self, series, keep: int) -> None:
        if not self._uses_features():
            return super()._remember_tail(series, keep)
        tail = series.iloc[-max(keep, 50):]
        self.tail_ = tail.iloc[:, 0].copy()
        self.tail_features_ = tail.iloc[:, 1:].copy()  # the named columns, raw
        self.tail_offsets_ = None

    def _predict_tracked(self, values: np.ndarray) -> np.ndarray:
        """One-step predictions that follow an abrupt level shift (`rnnlab.base.track_level`)."""
        return track_level(values, self.seq_len, getattr(self, "error_scale_", None),
                           self._predict_all)[0]

    def _predict_all(self, values: np.ndarray) -> np.ndarray:
        return self._predict_next(values, all_windows=True)

    def _one_step_rms(self, values: np.ndarray, start: int | None) -> float:
        """RMS of the one-step errors on values[start:] (the validation part), or on the
        training windows when there is none; floored at 1e-3 training standard deviations
        so float rounding on an exact fit is never taken for a shift."""
        pred = self._predict_next(values, all_windows=True)
        error = values[self.seq_len:] - pred
        if start is not None:
            error = error[start - self.seq_len:]
        floor = 1e-3 * float(np.std(values[: start or len(values)]))
        return max(float(np.sqrt(np.mean(error**2))), floor)

    def _tracking_helps(self, values: np.ndarray, n_train: int) -> bool:
        """Whether level tracking (`rnnlab.base.track_level`) does no harm to the forecasts
        from the validation origins, `horizon` steps ahead. It is meant for an abrupt shift;
        a season the window cannot see (a weekend in a two-day window) also gives runs of
        large one-sign errors, and taking each for a shift drags the forecasts off. Where
        no shift is seen on validation both agree and tracking stays on."""
        origins = np.arange(max(n_train, self.seq_len), len(values) - self.horizon + 1)
        if not len(origins):
            return True
        targets = values[origins[:, None] + np.arange(self.horizon)]
        tracked = self.paths_from(values, origins, self.horizon)
        scale, self.error_scale_ = self.error_scale_, None
        plain = self.paths_from(values, origins, self.horizon)
        self.error_scale_ = scale
        return float(np.mean((tracked - targets) ** 2)) <= \
            float(np.mean((plain - targets) ** 2)) * (1 + 1e-9)

    def _predict_next(self, values: np.ndarray, all_windows: bool) -> np.ndarray:
        """Predictions after every window of `values` (all_windows) or after its last one."""
        import torch

        from .train import predict_units

        device = next(self.model_.parameters()).device
        z = as_tensor(self.scaler_.to_units(values), device)  # (n,)
        n = len(values)
        if all_windows:
            windows = Windows(z, self.seq_len, self.seq_len, n, self.scaler_.relative)
        else:
            # The value after the data is unknown: a placeholder target slot, never read.
            z = torch.cat([z, z.new_zeros(1)])
            windows = Windows(z, self.seq_len, n, n + 1, self.scaler_.relative)
        units = predict_units(self.model_, windows)
        if units.dim() == 2:  # a direct multi-step net: its first output is the next value
            units = units[:, 0]
        units = units + windows.offsets()
        return self.scaler_.from_units(units.double().cpu().numpy())

    def _forecast_values(self, history: np.ndarray, horizon: int) -> np.ndarray:
        # A level shift found in the history is taken out, and added back to the forecast.
        offsets = self._level_offsets(history)
        window = (history[-self.seq_len:] - offsets[-self.seq_len:])[None, :]
        return self._chain(window, horizon)[0] + offsets[-1]

    def _chain(self, windows: np.ndarray, steps: int) -> np.ndarray:
        """`steps` values after each window (n, seq_len), in the series' units: one pass
        gives the net's outputs (H with direct, 1 with recursive), which are appended to
        the window for the next pass until `steps` are made. All windows go through each
        pass together."""
        import torch

        device = next(self.model_.parameters()).device
        self.model_.eval()
        out = []
        for lo in range(0, len(windows), CHAIN_BATCH):
            buffer = np.asarray(windows[lo:lo + CHAIN_BATCH], dtype=np.float64)
            made = buffer.shape[1]
            while buffer.shape[1] - made < steps:
                z = as_tensor(self.scaler_.to_units(buffer[:, -self.seq_len:]), device)
                last = z[:, -1:] if self.scaler_.relative else z.new_zeros(len(z), 1)
                with torch.no_grad():
                    units = self.model_((z - last).unsqueeze(-1)).reshape(len(z), -1) + last
                values = self.scaler_.from_units(units.double().cpu().numpy())
                buffer = np.concatenate([buffer, values], axis=1)
            out.append(buffer[:, made:made + steps])
        return np.concatenate(out) if out else np.zeros((0, steps))

    def paths_from(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """The `horizon`-step forecast from each origin o (values[:o] known), all origins
        in batched passes: (n_origins, horizon). A level shift is taken out of an
        origin's window only once it was found from values before the origin, exactly as
        `predict` does for one step."""
        self._check_fitted()
        origins = np.asarray(origins, dtype=np.int64)
        if not len(origins):
            return np.zeros((0, horizon))
        if origins.min() < self.seq_len or origins.max() > len(values):
            raise ValueError(f"origins must lie in [{self.seq_len}, {len(values)}]")
        if self._uses_features():  # `values` is the frame: no level tracking (see README)
            return self._paths_with_features(values, origins, horizon)
        values = np.asarray(values, dtype=np.float64)
        events: list = []
        track_level(values[:origins.max()], self.seq_len, getattr(self, "error_scale_", None),
                    self._predict_all, events)
        positions = origins[:, None] - self.seq_len + np.arange(self.seq_len)
        moved = np.zeros(positions.shape)
        after = np.zeros(len(origins))
        for known, first, amount in events:
            seen = origins >= known
            moved += amount * (seen[:, None] & (positions >= first))
            after += amount * (seen & (origins - 1 >= first))
        return self._chain(values[positions] - moved, horizon) + after[:, None]

    def _calibrate(self, values: np.ndarray, n_train: int) -> np.ndarray | None:
        """Interval half-widths per step from the forecasts of every validation origin
        (values[n_train:] only; the test part is never seen here), or None.

        Step h uses every origin whose h-th value lies in the validation part, so a short
        validation part still calibrates the first steps; the steps it cannot (fewer
        origins than the level's rank needs) are left to `interval_widths`, which widens
        the last calibrated one as the square root of the step.
        """
        horizon = self.horizon
        target = values.iloc[:, 0].to_numpy(np.float64) if isinstance(values, pd.DataFrame) \
            else values
        n = len(target)
        origins = np.arange(max(n_train, self.seq_len), n)
        if self.interval <= 0 or not len(origins):
            return None
        paths = self.paths_from(values, origins, horizon)
        widths, counts = [], []
        for step in range(horizon):
            inside = origins + step < n  # origins whose step-th target is known
            errors = target[origins[inside] + step] - paths[inside, step]
            width = conformal_widths(errors[:, None], self.interval)
            if width is None:
                break
            widths.append(float(width[0]))
            counts.append(int(inside.sum()))
        if not widths:
            return None
        # The best forecast's error never shrinks with the step (what is known at the
        # origin only ages), so a width that dips is noise of the few origins per step.
        return non_decreasing(widths, counts)

    # --- persistence ------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write a safe checkpoint: weights, parameters, scaler and the series' tail."""
        import torch

        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k != "progress"}
        index = self.tail_.index
        meta = {
            "params": params,
            "scaler": self.scaler_.state_dict(),
            "history": self.history_.to_dict(),
            "n_train": self.n_train_, "n_val": self.n_val_,
            "train_range": list(self.train_range_),
            "ridge_strength": self.ridge_strength_,
            "error_scale": getattr(self, "error_scale_", None),
            "strategy_used": self.model_config().strategy,
            "anchor": getattr(self, "anchor_", None),
            "forms": getattr(self, "forms_", None),
            "body": getattr(self, "body_", None),
            "refit": bool(getattr(self, "refit_", False)),
            "interval": self.interval,
            "interval_width": None if self.interval_width_ is None
            else self.interval_width_.tolist(),
            "tail_offsets": None if self.tail_offsets_ is None else self.tail_offsets_.tolist(),
            "series_name": str(self.tail_.name),
            "index_kind": "datetime" if isinstance(index, pd.DatetimeIndex) else "numeric",
            "index_name": index.name,
            "tail_index": [str(i) for i in index] if isinstance(index, pd.DatetimeIndex)
            else [float(i) for i in index],
            "tail_index_is_int": bool(pd.api.types.is_integer_dtype(index)),
        }
        tail = torch.tensor(self.tail_.to_numpy(np.float64))  # a copy: pandas arrays are read-only
        state = self.model_.state_dict()
        tensors = {"tail": tail}
        if self._uses_features():
            meta["params"]["features"] = ",".join(feature_names(self.features)) or None
            meta["features"] = {"scaler": self.feature_scaler_.state_dict(),
                                "columns": [str(c) for c in self.tail_features_.columns],
                                "n_inputs": self.model_.n_features}
            tensors["tail_features"] = torch.tensor(
                self.tail_features_.to_numpy(np.float64).reshape(len(self.tail_), -1))
        save_checkpoint(path, self.model, state, meta, tensors)
        # A numpy copy lets `rnnlab forecast` skip importing torch (see rnnlab.fastpath);
        # models with features are always loaded by torch.
        if self.model in FAST_MODELS and self.model_config().outputs == 1 \
                and not self._uses_features() and self.model_.recent is None:
            weights = {k: v.detach().cpu().numpy() for k, v in state.items()}
            write_sidecar(path, weights, meta, tail.numpy())
        else:
            sidecar_path(path).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a checkpoint written by `save`, refusing unsafe or mismatched files."""
        from .models import build_model
        from .train import History

        ckpt = load_checkpoint(path)
        meta = ckpt["meta"]
        tail = ckpt["tensors"].get("tail")
        if tail is None:
            raise CheckpointError(f"checkpoint '{path}' stores no series tail; retrain it")
        check_meta(meta, tail.numpy(), path)  # the checks of the numpy loader, shared
        try:
            params = dict(meta["params"])
            forecaster = cls(**params, progress=False)
            used = meta.get("strategy_used")
            if used is not None and used not in ("recursive", "direct"):
                raise ValueError(f"strategy_used {used!r} is not recursive or direct")
            forecaster.strategy_ = used
            anchor = meta.get("anchor")  # informative only: the weights already hold it
            forecaster.anchor_ = anchor if isinstance(anchor, int) and anchor > 0 else None
            forms = meta.get("forms")  # informative only, like the anchor
            forecaster.forms_ = [str(form) for form in forms] if isinstance(forms, list) \
                else None
            body = meta.get("body")  # informative only: the weights already hold it
            forecaster.body_ = {"kept": bool(body["kept"]), "ratio": float(body["ratio"]),
                                "p_value": float(body["p_value"])} \
                if isinstance(body, dict) else None
            forecaster.refit_ = meta.get("refit") is True  # informative, like the body
            n_inputs = int(meta["features"]["n_inputs"]) if forecaster._uses_features() else 1
            check_weight_shapes(forecaster.model_config(), ckpt["state_dict"], n_inputs)
            net = build_model(forecaster.model_config(), n_inputs)
            if ckpt["model"] != params["model"]:
                raise ValueError(f"model {ckpt['model']!r} vs parameters {params['model']!r}")
            net.load_state_dict(ckpt["state_dict"], strict=True)
            forecaster.scaler_ = Scaler.from_state(meta["scaler"])
            forecaster.history_ = History(**{k: v for k, v in meta["history"].items()
                                             if k != "epochs_run"})
            forecaster.n_train_, forecaster.n_val_ = meta["n_train"], meta["n_val"]
            forecaster.ridge_strength_ = meta.get("ridge_strength")
            forecaster.error_scale_ = error_scale_from_meta(meta)
            forecaster.interval_width_ = interval_width_from_meta(meta)
            forecaster.train_range_ = tuple(meta["train_range"]) if "train_range" in meta \
                else None
            forecaster.tail_ = tail_from_meta(meta, ckpt["tensors"]["tail"].numpy())
            forecaster.tail_offsets_ = tail_offsets_from_meta(meta, len(forecaster.tail_))
            if forecaster._uses_features():
                forecaster.feature_scaler_ = FeatureScaler.from_state(meta["features"]["scaler"])
                raw = ckpt["tensors"]["tail_features"].numpy()
                forecaster.tail_features_ = pd.DataFrame(
                    raw, index=forecaster.tail_.index, columns=meta["features"]["columns"])
        except (KeyError, TypeError, ValueError, OverflowError, RuntimeError,
                RnnlabError) as exc:
            # load_state_dict puts the useful line (which tensor, which shapes) second.
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            first = "; ".join(lines[:2])[:240]
            raise CheckpointError(
                f"checkpoint '{path}' does not match the model it names ({first}); it may be "
                "from another rnnlab version or edited; retrain it"
            ) from None
        net.eval()
        forecaster.model_ = net
        forecaster.fitted_ = True
        return forecaster

    @property
    def epochs_run_(self) -> int:
        return self.history_.epochs_run


def fit_seeds(template: Forecaster, series: pd.Series, val_size: int,
              seeds: list[int]) -> list[Forecaster]:
    """Fit one copy of `template` per seed, all in one training run.

    Each is as usable as a separate ``Forecaster(seed=s).fit(series, val_size)``. What the
    seeds share (the scaler and its choice, the windows, the ridge fit of the frozen
    linear skip) is computed once; the initial weights, batch order, dropout, Adam state,
    clipping, LR schedule and early stopping stay per seed (`rnnlab.train.train`).

    Parameters
    ----------
    template : its parameters are used; its own `seed` is ignored.
    series : the fit part (training + validation), as for `Forecaster.fit`.
    val_size : the last `val_size` points are held out for early stopping.
    seeds : one model per seed, returned in this order.

    Examples
    --------
    >>> from rnnlab.data import load_series
    >>> template = Forecaster(model="gru", epochs=3, progress=False)
    >>> fits = fit_seeds(template, load_series("sine")[:800], val_size=100, seeds=[0, 1])
    >>> [f.seed for f in fits], fits[1].history_.epochs_run
    ([0, 1], 3)
    """
    params = {k: v for k, v in template.get_params().items() if k != "seed"}
    forecasters = [Forecaster(**params, seed=seed) for seed in seeds]
    if forecasters:
        _fit_together(forecasters, series, int(val_size))
    return forecasters


def _fit_together(forecasters: list[Forecaster], series: pd.Series, n_val: int | None, *,
                  should_stop=None, on_epoch_end=None, resume: dict | None = None) -> None:
    """Fit forecasters that differ only in their seed, in one training run."""
    import torch

    from .diagnostics import repeated_season
    from .models import build_model
    from .train import cpu_threads, fit_ridge, resolve_device, train

    first = forecasters[0]
    for forecaster in forecasters:
        forecaster.strategy_ = None  # auto is chosen again on this fit's data
    model_cfg, cfg = first.model_config(), first.train_config()
    check(model_cfg)
    check(cfg)
    frame = first._frame(series) if first._uses_features() else None
    series = check_series(series if frame is None else frame.iloc[:, 0])
    name = str(series.name or "series")
    n = len(series)
    n_val = int(round(n * first.val_fraction)) if n_val is None else n_val
    n_train = n - n_val
    resolve_seq_len(forecasters, series.to_numpy()[:n_train])
    model_cfg = first.model_config()  # with the window just chosen
    check_fit_size(name, n, n_val, first.seq_len, model_cfg.outputs)
    device = resolve_device(first.device)
    values = series.to_numpy()
    strategies = _open_strategies(first, model_cfg, n, n_val, n_train, name)
    # Many steps ahead with direct open, the linear parts of the best forms are averaged.
    # Not with features: the linear part reads the target alone, and a recursive net is
    # the one that reads the calendar of the dates it forecasts.
    combine = model_cfg.horizon > 1 and "direct" in strategies and frame is None and \
        (model_cfg.linear_skip or model_cfg.model == "linear")
    kinds = ("standard", "window") if first.scaler == "auto" and n_val else (first.scaler,)
    if len(kinds) > 1 and not combine and _leaves_range(values[:n_train], values[n_train:]):
        kinds = ("window",)
    anchors, repeat = (None,), None
    if model_cfg.horizon > 1 and n_val:
        period, longer = repeated_season(values[:n_train])
        season = _long_season(period, longer)
        if season and season <= first.seq_len:
            anchors = (None, season)
        # Seasonal naive, one of the forms averaged: as the baseline finds its period.
        repeat = (longer or period or 1) if combine else None
    forms = None  # the forms whose linear parts are averaged, or None
    if len(kinds) * len(strategies) * len(anchors) > 1:
        ranked = rank_forms(values, n_train, first.seq_len, model_cfg.horizon, kinds,
                            strategies, name, device, anchors, repeat)
        forms = combined_forms(ranked, standard_doubt(values[:n_train])
                               if len(kinds) > 1 else 1.0) if combine else None
        scaler, used, anchor, _ = next(form for form in ranked if form[1] != "repeat")
        if forms:
            # One net forecasts all H steps on the average; its units are relative only
            # where every form's are (only those hold a map that moves with the level).
            scaler = next((form[0] for form in forms if not form[0].relative), forms[0][0])
            used, anchor = "direct", None
    else:
        scaler, used, anchor = fit_scaler(kinds[0], values[:n_train], name), strategies[0], None
    model_cfg = dataclasses.replace(model_cfg, strategy=used)
    feature_scaler, n_inputs = None, 1
    units = scaler.to_units(values)  # (n,)
    if frame is not None:
        raw = first._inputs(frame)[:, 1:]  # (n, F): named columns, then the calendar
        columns = [*frame.columns[1:], *(CALENDAR_COLUMNS if first.calendar else ())]
        feature_scaler = fit_feature_scaler([str(c) for c in columns], raw[:n_train])
        units = np.column_stack([units, feature_scaler.transform(raw)])  # (n, 1 + F)
        n_inputs = units.shape[1]
    z = as_tensor(units, device)  # (n,) or (n, 1 + F)
    nets = []
    for forecaster in forecasters:
        torch.manual_seed(forecaster.seed)  # its weights are those of a separate fit
        nets.append(build_model(model_cfg, n_inputs).to(device))
    outputs = model_cfg.outputs
    train_w = Windows(z, first.seq_len, first.seq_len, n_train, scaler.relative, outputs)
    val_w = Windows(z, first.seq_len, n_train, n, scaler.relative, outputs) if n_val else None
    ridge_strength = None
    with cpu_threads(cfg.threads):
        if nets[0].skip is not None and resume is None and forms:
            maps = [linear_map(values, n_train, first.seq_len, model_cfg.horizon, *form, device)
                    for form in forms]
            weights, bias = as_skip(np.mean([m[0] for m in maps], axis=0),
                                    np.mean([m[1] for m in maps], axis=0), scaler)
            for net in nets:
                net.set_skip(torch.as_tensor(weights, dtype=torch.float32), bias)
        elif nets[0].skip is not None and resume is None:
            # Deterministic: one least-squares fit serves every seed.
            weights, bias, ridge_strength = fit_ridge(train_w, val_w, anchor)
            for net in nets:
                net.set_skip(torch.as_tensor(weights, dtype=torch.float32), bias)
        histories = train(nets, train_w, val_w, cfg, [f.seed for f in forecasters],
                          progress=first.progress, should_stop=should_stop,
                          on_epoch_end=on_epoch_end, resume=resume)
        # Many steps ahead the recurrent part must earn its place: kept only where it wins
        # against the linear part alone on the validation part, by the one rule. Not with
        # features: the body is the only part that reads them (their own reading judges them).
        gate = model_cfg.horizon > 1 and val_w is not None and nets[0].skip is not None and \
            hasattr(nets[0], "head") and frame is None
        bodies = [body_verdict(net, val_w) if gate else None for net in nets]
    refitted = None  # (weights, bias) of the linear part refitted, once needed
    for forecaster, net, history, body in zip(forecasters, nets, histories, bodies,
                                              strict=True):
        if body is not None and body.outcome != "win" and history.best_epoch:
            net.drop_body()
            history.best_epoch = 0  # the weights are the untrained net's: its linear part
        # Whether the recurrent part was kept, and the verdict that decided it (or None).
        forecaster.body_ = None if body is None else \
            {"kept": body.outcome == "win", "ratio": body.ratio, "p_value": body.p_value}
        forecaster.strategy_ = used
        forecaster.anchor_ = anchor  # the lag the linear part shrinks towards, or None
        forecaster.forms_ = None if forms is None else [form_label(*form) for form in forms]
        forecaster.scaler_ = scaler
        forecaster.ridge_strength_ = ridge_strength
        forecaster.history_ = history
        forecaster.model_ = net
        forecaster.n_train_, forecaster.n_val_ = n_train, n_val
        # Where the training part lay, to flag data and forecasts far from it later.
        forecaster.train_range_ = (float(values[:n_train].min()), float(values[:n_train].max()))
        forecaster.feature_scaler_ = feature_scaler
        # Level tracking reads one-step errors of the target alone: off with features.
        forecaster.error_scale_ = None if frame is not None else \
            forecaster._one_step_rms(values, n_train if n_val else None)
        forecaster.interval_width_ = None
        forecaster._remember_tail(series if frame is None else frame, forecaster.seq_len)
        forecaster.fitted_ = True
        if forecaster.error_scale_ is not None and n_val and \
                not forecaster._tracking_helps(values, n_train):
            forecaster.error_scale_ = None
        if n_val:
            forecaster.interval_width_ = forecaster._calibrate(
                values if frame is None else frame, n_train)
        # Where the forecast is the linear part alone, once every choice is made (forms,
        # ridge strengths, the body, the interval), it is fitted again on the training and
        # validation parts: the values nearest the forecasts count too.
        forecaster.refit_ = first.refit and bool(n_val) and frame is None and \
            net.skip is not None and \
            (not hasattr(net, "head") or (body is not None and body.outcome != "win"))
        if forecaster.refit_:
            if refitted is None:  # deterministic: one fit serves every seed that needs it
                refitted = _refit_skip(values, n_train, forecaster.seq_len, model_cfg, scaler,
                                       forms, anchor, ridge_strength, device)
            net.set_skip(torch.as_tensor(refitted[0], dtype=torch.float32), refitted[1])


def _refit_skip(values: np.ndarray, n_train: int, seq_len: int, model_cfg: ModelConfig,
                scaler: Scaler, forms: list | None, anchor: int | None,
                strength: float | None, device) -> tuple[np.ndarray, np.ndarray]:
    """The linear part fitted again on every window of the training and validation parts,
    each form with the ridge strength it chose on validation (`strength`, where one fit
    was made and its strength is known): (weights, bias) in the net's units."""
    from .train import fit_ridge

    if forms:
        maps = [linear_map(values, n_train, seq_len, model_cfg.horizon, *form, device,
                           refit=True) for form in forms]
        return as_skip(np.mean([m[0] for m in maps], axis=0),
                       np.mean([m[1] for m in maps], axis=0), scaler)
    z = as_tensor(scaler.to_units(values), device)
    n, relative, outputs = len(values), scaler.relative, model_cfg.outputs
    if strength is None:  # resumed: the strength is chosen again, as the first fit chose it
        _, _, strength = fit_ridge(Windows(z, seq_len, seq_len, n_train, relative, outputs),
                                   Windows(z, seq_len, n_train, n, relative, outputs), anchor)
    weights, bias, _ = fit_ridge(Windows(z, seq_len, seq_len, n, relative, outputs), None,
                                 anchor, (strength,))
    return weights, bias


def body_verdict(net, val_w: Windows):
    """The one rule's verdict (`rnnlab.metrics.verdict_of_losses`) of the trained net
    against its linear part alone, on the validation windows: each window's loss the mean
    squared error over its steps, in model units. Early stopping kept the body wherever
    it lowered the validation loss at all; on random-walk prices that was noise, and it
    cost 13 weeks ahead (benchmarks/m4_protocol.py: OWA 1.034 with it, 1.012 without)."""
    import torch

    from .metrics import verdict_of_losses

    net.eval()
    full, linear = [], []
    with torch.no_grad():
        for chunk in val_w.chunks():
            x, y = val_w.batch(chunk)
            y = y.reshape(len(x), -1)
            full.append(((net(x).reshape(len(x), -1) - y) ** 2).mean(1))
            linear.append(((net.skip(x[..., 0]).reshape(len(x), -1) - y) ** 2).mean(1))
    return verdict_of_losses(torch.cat(full).double().cpu().numpy(),
                             {"linear part": torch.cat(linear).double().cpu().numpy()},
                             val_w.horizon)


# `--strategy auto` takes direct only when its linear part's H-step validation MSE is at
# least 1% below recursive's: a tie goes to the one-output net, which needs no extra
# values per part and forecasts any number of steps the same way.
STRATEGY_MARGIN = 0.99


def _open_strategies(first: Forecaster, model_cfg: ModelConfig, n: int, n_val: int,
                     n_train: int, name: str) -> tuple[str, ...]:
    """The strategies a fit may still choose between: the one set, or auto's candidates."""
    if model_cfg.strategy != "auto":
        return (model_cfg.strategy,)
    extra = model_cfg.horizon - 1  # direct needs this many more values per part
    if extra and feature_names(first.features):
        # Recursion cannot feed features that are unknown after the origin.
        check_fit_size(name, n, n_val, first.seq_len, model_cfg.horizon)
        return ("direct",)
    if extra and n_val >= MIN_VAL_WINDOWS + extra and \
            n_train >= first.seq_len + MIN_TRAIN_WINDOWS + extra:
        return ("recursive", "direct")
    return ("recursive",)


def linear_paths(weights: np.ndarray, bias, windows: np.ndarray, horizon: int,
                 relative: bool) -> np.ndarray:
    """The linear part's paths (model units) `horizon` steps on from each window (n, seq_len):
    one output per step (weights (seq_len, horizon): direct) or one output fed back
    (weights (seq_len,): recursive). Relative windows forecast changes from their last value.
    """
    seq_len = windows.shape[1]
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 2:
        last = windows[:, -1:] if relative else np.zeros((len(windows), 1))
        return (windows - last) @ weights + np.reshape(bias, horizon) + last
    buffer = windows
    for _ in range(horizon):
        tail = buffer[:, -seq_len:]
        base = tail[:, -1:] if relative else 0.0
        buffer = np.concatenate([buffer, (tail - base) @ weights[:, None] + bias + base], axis=1)
    return buffer[:, seq_len:]


def linear_validation_mse(z, n_train: int, seq_len: int, relative: bool, horizon: int,
                          strategies=("recursive", "direct"), anchor: int | None = None
                          ) -> dict[str, float]:
    """The closed-form linear part's MSE (model units) over `horizon` steps from every
    validation origin whose targets all lie in z[n_train:], per strategy.

    It is fitted on the training part with one output (recursive: its forecasts are fed
    back) or with `horizon` outputs (direct). With horizon 1 both are the one-step fit.
    """
    from .train import fit_ridge

    n = len(z)
    many = [Windows(z, seq_len, seq_len, n_train, relative, horizon),
            Windows(z, seq_len, n_train, n, relative, horizon)]
    x = many[1].inputs.double().cpu().numpy()  # (n_origins, seq_len): the windows
    y = many[1].targets.double().cpu().numpy().reshape(len(x), horizon)
    found = {}
    if "direct" in strategies:
        wh, bh, _ = fit_ridge(*many, anchor)
        direct = linear_paths(np.reshape(wh, (seq_len, horizon)), bh, x, horizon, relative)
        found["direct"] = float(np.mean((direct - y) ** 2))
    if "recursive" in strategies:
        w1, b1, _ = fit_ridge(Windows(z, seq_len, seq_len, n_train, relative),
                              Windows(z, seq_len, n_train, n, relative), anchor)
        found["recursive"] = float(np.mean((linear_paths(w1, b1, x, horizon, relative)
                                            - y) ** 2))
    return found


# Windows per forward pass when forecasting from many origins at once.
CHAIN_BATCH = 8192
UNKNOWN_FEATURES = ("features other than --calendar are unknown after the forecast origin: "
                    "use --strategy direct with --horizon covering the steps wanted")


def _leaves_range(train: np.ndarray, val: np.ndarray) -> bool:
    """Whether most of the validation part lies outside the training part's range.

    Where one form is used alone, `--scaler auto` then keeps window scaling: the series is
    leaving the levels standard units saw, and the test part lies further on. A standard
    fit whose lag weights do not sum to 1 drifts there: on Australia's quarterly residents
    (pmdarima's austres, 9 validation values, all above the training range), standard won
    validation by 22% and then lost 1.94x to naive on the test part; window scored 0.30x.
    Averaged forms keep both: there the standard ones helped on trending series (realgdp
    8 quarters ahead: OWA 0.37 with them, 0.53 without)."""
    outside = (val < np.min(train)) | (val > np.max(train))
    return bool(len(val)) and bool(np.mean(outside) > 0.5)


def _long_season(period: int | None, season: int | None) -> int | None:
    """`season`, the longer season over `period` (`rnnlab.diagnostics.repeated_season`),
    where it is longer than the default window spans (a week of hourly values), or None.
    Only there may the linear part be anchored: a short window learns its season plainly,
    and on sunspots and co2 (11 and 12 in a 30-step window) the anchor did worse far ahead
    (RMSE 51.0 against 40.6 and 0.866 against 0.570 at H = 10)."""
    if season and period and season > max(DEFAULT_SEQ_LEN, 2 * period):
        return season
    return None


def resolve_seq_len(forecasters: list[Forecaster], train: np.ndarray) -> None:
    """Give forecasters with ``seq_len=None`` the window `choose_seq_len` picks on the
    training part `train`, in `seq_len` itself: predict, save, load and the numpy fast path
    all read that number (and ``recurrent_len`` where the window spans a longer season
    and none was given). `window_` keeps the choice, so a refit chooses again."""
    first = forecasters[0]
    chosen = getattr(first, "window_", None)
    if first.seq_len is not None and (chosen is None or chosen.seq_len != first.seq_len):
        return  # a window given by the caller always wins
    choice = choose_seq_len(train, len(train) - MIN_TRAIN_WINDOWS)
    # The body's steps follow the window, unless the caller set them.
    own = first.recurrent_len is not None and \
        (chosen is None or chosen.recurrent_len != first.recurrent_len)
    for forecaster in forecasters:
        forecaster.seq_len, forecaster.window_ = choice.seq_len, choice
        if not own:
            forecaster.recurrent_len = choice.recurrent_len


# `--scaler auto` keeps standard scaling only when its linear fit is at least 1% better
# on validation than per-window normalisation's: a tie goes to the representation that
# a level shift or a trend cannot push outside what the model saw.
AUTO_MARGIN = 0.99


def choose_scaler(values: np.ndarray, n_train: int, seq_len: int, name: str = "series",
                  device="cpu") -> Scaler:
    """The `--scaler auto` choice, made on the validation part `values[n_train:]`.

    The closed-form linear part (`rnnlab.train.fit_ridge`) is fitted on the training part
    under ``standard`` and under ``window``; standard is kept when its one-step validation
    MSE, in the series' units, is below AUTO_MARGIN times window's. It rests on errors, not
    on a test's p-value, so a borderline case is one where both do about as well. Only
    `values` (training and validation) is read: the test part cannot move the choice.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> choose_scaler(5 + rng.normal(size=400), 320, 30).kind  # only the level predicts noise
    'standard'
    >>> choose_scaler(np.cumsum(np.random.default_rng(0).normal(size=400)), 320, 30).kind
    'window'
    """
    return choose_form(values, n_train, seq_len, 1, ("standard", "window"), ("recursive",),
                       name, device)[0]


# Many steps ahead the linear part may shrink towards seasonal naive instead of towards
# the mean or "no change" (`rnnlab.train.fit_ridge`'s anchor), when that is at least 1%
# better on the validation folds: with a window of a week of hourly values and a few
# hundred training windows, the plain fit cannot learn "as one week ago" on its own.
ANCHOR_MARGIN = 0.99


# Many steps ahead, the choice sums the validation errors of this many folds: the
# validation part, and the parts of its length before it, each scored by a linear part
# fitted on what came first. One short validation part has few H-step paths, and they
# overlap, so alone it often cannot tell the candidates apart. One step ahead every
# validation value is its own target and the validation part decides alone.
CHOICE_FOLDS = 3


def choose_form(values: np.ndarray, n_train: int, seq_len: int, horizon: int,
                kinds=("standard", "window"), strategies=("recursive", "direct"),
                name: str = "series", device="cpu", anchors=(None,)
                ) -> tuple[Scaler, str, int | None]:
    """The scaler and strategy `auto` picks: the pair whose linear part forecasts the
    validation part best over `horizon` steps (`linear_validation_mse`), in the series'
    units, where standard must beat window by AUTO_MARGIN and direct beat recursive by
    STRATEGY_MARGIN. The pair is chosen together because a scaler that wins one step ahead
    can lose far ahead (a level the standard scaler's mean pulls back to).
    Only `values` (training and validation) is read.

    Examples
    --------
    >>> noise = 5 + np.random.default_rng(0).normal(size=600)
    >>> scaler, strategy, anchor = choose_form(noise, 420, 20, 10)  # only the level predicts
    >>> scaler.kind, strategy, anchor
    ('standard', 'recursive', None)
    """
    scaler, strategy, anchor, _ = rank_forms(values, n_train, seq_len, horizon, kinds,
                                             strategies, name, device, anchors)[0]
    return scaler, strategy, anchor


def rank_forms(values: np.ndarray, n_train: int, seq_len: int, horizon: int,
               kinds=("standard", "window"), strategies=("recursive", "direct"),
               name: str = "series", device="cpu", anchors=(None,), repeat: int | None = None
               ) -> list[tuple[Scaler, str, int | None, float]]:
    """Every (scaler, strategy) pair with its best anchor and its cost, best first, by the
    cost `choose_form` describes; the scaler of each is fitted on ``values[:n_train]``.

    With ``repeat`` P (at most `seq_len`) seasonal naive with period P (naive where P is 1)
    is ranked among them, scored on the same folds, as the form (window scaler, "repeat", P).
    """
    n_val = len(values) - n_train
    # A validation part too short for `horizon` steps from MIN_VAL_WINDOWS origins is
    # scored as far ahead as it allows (direct is only a candidate where it is not).
    horizon = max(1, min(horizon, n_val - MIN_VAL_WINDOWS + 1))
    earlier = [n_train - k * n_val for k in range(1, CHOICE_FOLDS if horizon > 1 else 1)]
    ends = [n_train] + [end for end in earlier if end >= seq_len + MIN_TRAIN_WINDOWS + horizon]
    costs = {}
    for kind in kinds:
        scaler = fit_scaler(kind, values[:n_train], name)
        for end in ends:
            # Earlier folds: fitted before `end`, scored on the n_val values after it.
            fold = scaler if end == n_train else fit_scaler(kind, values[:end], name)
            z = as_tensor(fold.to_units(values[:end + n_val]), device)
            for anchor in anchors:
                mse = linear_validation_mse(z, end, seq_len, fold.relative, horizon,
                                            strategies, anchor)
                for strategy, value in mse.items():
                    margin = (AUTO_MARGIN if kind == "standard" else 1.0) * \
                        (STRATEGY_MARGIN if strategy == "direct" else 1.0) * \
                        (ANCHOR_MARGIN if anchor else 1.0)
                    key = (kind, strategy, anchor)
                    cost, _ = costs.get(key, (0.0, scaler))
                    costs[key] = (cost + value * fold.scale**2 / margin, scaler)
    if repeat and repeat <= seq_len:
        steps = np.arange(horizon)
        cost = 0.0
        for end in ends:
            origins = np.arange(end, end + n_val - horizon + 1)
            made = values[origins[:, None] - repeat + steps % repeat]
            cost += float(np.mean((made - values[origins[:, None] + steps]) ** 2))
        costs[("window", "repeat", repeat)] = (cost, fit_scaler("window", values[:n_train], name))
    best = {}  # (kind, strategy) -> its cheapest anchor's key
    for key in sorted(costs, key=lambda key: costs[key][0]):
        best.setdefault(key[:2], key)
    return [(costs[key][1], key[1], key[2], costs[key][0]) for key in best.values()]


# Many steps ahead, with direct among the candidates, the linear part is the average of
# the forms `rank_forms` puts first, seasonal naive among them: which of them forecasts
# the test part best is close to a coin toss on a short validation part, and averaging
# forecasts cancels part of their errors. Up to COMBINED_FORMS forms are averaged, each
# with a validation MSE at most COMBINED_CAP times the best's: above 3x a forecast cannot
# improve an average with the best even when their errors are independent ((a + b) / 4
# < a needs b < 3a). Against the single best form, mean OWA went from 0.598 to 0.555 on
# benchmarks/hourly_weekly.py's hourly series and from 0.924 to 0.869 on the 20 series of
# benchmarks/other_series.py (averaging 2 forms scored 0.90 to 0.91 there; README "Averaged
# forms").
COMBINED_FORMS = 3
COMBINED_CAP = 3.0


# Averaged many steps ahead, a standard-scaled form forecasts a return towards the training
# part's mean. On a random walk that bet is wrong, and a few validation folds often cannot
# tell: where it won them by chance on weekly S&P 500 closes (13 weeks ahead), it lost up
# to 5x to naive on the test part. So `--scaler auto` weighs each standard form's
# validation cost by 1 + STANDARD_DOUBT * p, p the ADF p-value of the training part (small:
# no unit root, the series reverts). The weight moves with p, so no borderline p-value
# flips a choice: at p = 0.05 a standard form must score a third better than it does to
# rank level with a relative one, from p = 0.2 three times better (COMBINED_CAP). Tried at
# 4, 10, 20 and 40 (README "Averaged forms"): above 10 the hourly set lost (OWA 0.557 ->
# 0.581), below it the weekly closes kept more of their loss to naive (1.003 -> 1.016).
STANDARD_DOUBT = 10.0


def standard_doubt(train: np.ndarray) -> float:
    """The factor on a standard form's validation cost where forms are averaged: 1 plus
    STANDARD_DOUBT times the ADF p-value of `train` (`rnnlab.diagnostics.adf_pvalue`)."""
    from .diagnostics import adf_pvalue

    try:
        return 1.0 + STANDARD_DOUBT * adf_pvalue(train)
    except ValueError:  # too short for the test's lag search: no evidence either way
        return 1.0


def combined_forms(ranked: list, doubt: float = 1.0) -> list | None:
    """The forms whose linear parts `_fit_together` averages, from `rank_forms`' list, or
    None where the best linear form alone is kept (no other form is close enough).

    Standard-scaled forms are ranked with their cost times `doubt` (`standard_doubt`)."""
    if doubt != 1.0:
        ranked = sorted(((*form[:3], form[3] * (1.0 if form[0].relative else doubt))
                         for form in ranked), key=lambda form: form[3])
    best = ranked[0][3]
    if ranked[0][1:3] == ("repeat", 1):
        # "No change" forecast validation best: a random walk, where a standard-scaled
        # form pulls the average back towards the training mean. Only relative forms join.
        ranked = [form for form in ranked if form[0].relative]
    forms = [form for form in ranked[:COMBINED_FORMS] if form[3] <= COMBINED_CAP * best]
    if len(forms) == 1 and forms[0][1] != "repeat":
        return None
    return [form[:3] for form in forms]


def linear_map(values: np.ndarray, n_train: int, seq_len: int, horizon: int,
               scaler: Scaler, strategy: str, anchor: int | None, device="cpu",
               refit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One form's linear part, fitted as `_fit_together` fits it (`rnnlab.train.fit_ridge`
    on the training windows, its strength chosen on the validation windows), as the affine
    map it is from a window of raw values to the raw path: (A (seq_len, horizon), c (horizon,))
    with path = window @ A + c. With `refit`, fitted again with that strength on every
    window of `values`, the validation part's too."""
    from .train import fit_ridge

    if strategy == "repeat":  # seasonal naive: step k repeats the value `anchor` back
        slopes = np.zeros((seq_len, horizon))
        slopes[seq_len - anchor + np.arange(horizon) % anchor, np.arange(horizon)] = 1.0
        return slopes, np.zeros(horizon)
    n = len(values)
    outputs = horizon if strategy == "direct" else 1
    z = as_tensor(scaler.to_units(values), device)
    weights, bias, strength = fit_ridge(
        Windows(z, seq_len, seq_len, n_train, scaler.relative, outputs),
        Windows(z, seq_len, n_train, n, scaler.relative, outputs), anchor)
    if refit:
        weights, bias, _ = fit_ridge(Windows(z, seq_len, seq_len, n, scaler.relative, outputs),
                                     None, anchor, (strength,))
    if strategy == "direct":
        weights = np.reshape(weights, (seq_len, horizon))
    # The map is affine: its value at one window and the change per unit of each value.
    center, step = float(np.mean(values[:n_train])), float(np.std(values[:n_train])) or 1.0
    probes = center + step * np.vstack([np.zeros(seq_len), np.eye(seq_len)])
    paths = scaler.from_units(linear_paths(weights, bias, scaler.to_units(probes), horizon,
                                           scaler.relative))  # (seq_len + 1, horizon)
    slopes = (paths[1:] - paths[0]) / step
    return slopes, paths[0] - center * slopes.sum(0)


def form_label(scaler: Scaler, strategy: str, anchor: int | None) -> str:
    """How one form reads in summaries: 'window direct anchored 168 steps back'."""
    if strategy == "repeat":
        return f"seasonal naive with period {anchor}" if anchor > 1 else "naive"
    return f"{scaler.kind} {strategy}" + (f" anchored {anchor} steps back" if anchor else "")


def as_skip(slopes: np.ndarray, offsets: np.ndarray, scaler: Scaler
            ) -> tuple[np.ndarray, np.ndarray]:
    """The direct linear part (weights (seq_len, H), biases (H,)) in `scaler`'s units of the
    raw affine map path = window @ slopes + offsets. Relative units hold only maps that
    move with the level (every column of `slopes` sums to 1)."""
    if scaler.relative:
        return slopes, offsets / scaler.scale
    return slopes, (scaler.center * slopes.sum(0) + offsets - scaler.center) / scaler.scale
