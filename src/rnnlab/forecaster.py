"""The public estimator: `Forecaster(model="lstm", seq_len=30).fit(series)`.

pandas in and out, dates kept; tensors only inside. Every forecaster, the naive baselines
included, honours the same contract, so `compare` and `sweep` work for any of them:

- ``__init__`` only stores keyword hyperparameters;
- ``fit(series)`` validates, learns trailing-underscore state, and returns ``self``;
- ``predict(series)`` gives one-step-ahead predictions for every point that has enough
  history, indexed by the date of the value predicted;
- ``forecast(h)`` gives the next h values after the data, with their future dates.

    rnnlab train --data stock:A --model lstm --out runs/a && rnnlab forecast --run runs/a
"""

from __future__ import annotations

import inspect
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .config import DataConfig, ModelConfig, TrainConfig
from .errors import CheckpointError, DataError, NotFittedError
from .windows import MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS

# The Forecaster holds out this share of what it is fitted on for early stopping: with
# the default 20% test part, that is 10% of the whole series.
VAL_FRACTION = DataConfig.val_fraction / (1 - DataConfig.test_fraction)


class BaseForecaster:
    """Shared contract: parameter introspection, input checks, future dates."""

    min_history = 1

    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(series) first"
            )

    def _remember_tail(self, series: pd.Series, keep: int) -> None:
        # Enough history to forecast and to infer the spacing of future dates.
        self.tail_ = series.iloc[-max(keep, 50):].copy()

    def set_history(self, series: pd.Series) -> None:
        """Make `forecast` continue after `series` by default (e.g. the data incl. test part)."""
        self._check_fitted()
        self._remember_tail(check_series(series, self.min_history), self.min_history)

    def _history(self, series: pd.Series | None) -> pd.Series:
        if series is None:
            self._check_fitted()
            return self.tail_
        return check_series(series, self.min_history)

    def forecast(self, horizon: int, series: pd.Series | None = None) -> pd.Series:
        """The next `horizon` values after `series` (default: the data seen in fit)."""
        self._check_fitted()
        if horizon < 1:
            raise DataError(f"horizon must be at least 1, got {horizon}")
        history = self._history(series)
        values = self._forecast_values(history.to_numpy(np.float64), horizon)
        index = future_index(history.index, horizon)
        return pd.Series(values, index=index, name=f"{self.label()} forecast")

    def label(self) -> str:
        return type(self).__name__


def check_series(series, min_length: int = 1, name: str | None = None) -> pd.Series:
    """A float Series with finite values, or a DataError that says what is wrong."""
    if isinstance(series, pd.DataFrame):
        if series.shape[1] != 1:
            raise DataError(
                f"expected one column, got a DataFrame with columns {list(series.columns)}; "
                "pass frame['column']"
            )
        series = series.iloc[:, 0]
    if not isinstance(series, pd.Series):
        series = pd.Series(np.asarray(series))
    name = name or str(series.name or "series")
    try:
        values = series.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} has non-numeric values; convert it with pd.to_numeric") \
            from None
    bad = ~np.isfinite(values)
    if bad.any():
        where = series.index[bad][:5].tolist()
        raise DataError(
            f"{name} has {bad.sum()} NaN or infinite values (at {where}); fill or drop them "
            "first, e.g. series.interpolate()"
        )
    huge = np.abs(values) > MAX_MAGNITUDE
    if huge.any():
        first = int(np.flatnonzero(huge)[0])
        raise DataError(
            f"{name} has {huge.sum()} values beyond ±{MAX_MAGNITUDE:.0e} (first {values[first]:.3g}"
            f" at {series.index[first]}), where sums of squares overflow; rescale it, e.g. "
            "divide it by a power of ten"
        )
    if len(values) < min_length:
        raise DataError(f"{name} has {len(values)} values; at least {min_length} are needed")
    return pd.Series(values, index=series.index, name=series.name)


# Squares of values up to 1e100, summed over millions of rows, stay finite in float64.
MAX_MAGNITUDE = 1e100


def future_index(index: pd.Index, horizon: int) -> pd.Index:
    """Dates (or time steps) of the `horizon` points after `index`.

    Trading days (weekdays with holidays missing) continue as business days; other dates
    continue at their inferred frequency or median spacing; numbers at their median step.
    """
    if isinstance(index, pd.DatetimeIndex) and len(index) >= 2:
        freq = index.freq or (_infer_freq(index[-50:]) if len(index) >= 3 else None)
        if freq is None and (index[-50:].day_of_week < 5).all():
            freq = "B"
        if freq is None:
            freq = pd.Series(index[-50:]).diff().median()
        return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:].rename(index.name)
    if len(index) >= 2 and pd.api.types.is_numeric_dtype(index):
        step = float(np.median(np.diff(np.asarray(index[-50:], dtype=np.float64))))
        values = index[-1] + step * np.arange(1, horizon + 1)
        if pd.api.types.is_integer_dtype(index) and float(step).is_integer():
            return pd.Index(values.astype(np.int64), name=index.name)
        return pd.Index(np.round(values, 10), name=index.name)
    return pd.RangeIndex(len(index), len(index) + horizon, name=index.name)


def _infer_freq(index: pd.DatetimeIndex):
    with warnings.catch_warnings():
        # pandas 3 announces an offset instead of a string; date_range takes either.
        warnings.simplefilter("ignore", DeprecationWarning)
        return pd.infer_freq(index)


def tail_from_meta(meta: dict, values: np.ndarray) -> pd.Series:
    """The remembered end of the series, with its dates, as `Forecaster.save` stored it."""
    if meta["index_kind"] == "datetime":
        index = pd.DatetimeIndex(pd.to_datetime(meta["tail_index"]), name=meta["index_name"])
    else:
        raw = np.asarray(meta["tail_index"])
        index = pd.Index(raw.astype(np.int64) if meta["tail_index_is_int"] else raw,
                         name=meta["index_name"])
    return pd.Series(values, index=index, name=meta["series_name"])


def check_weight_shapes(params: dict, state_dict: dict) -> None:
    """Raise ValueError unless the network `params` describe has the stored weights' shapes.

    Built on torch's meta device, which allocates nothing: a forged hidden_size of 65536
    is refused here instead of filling the memory with a network it cannot load into.
    """
    import torch

    from .models import build_model

    with torch.device("meta"):
        net = build_model(params["model"], params["seq_len"], 1, params["hidden_size"],
                          params["num_layers"], params["dropout"], params["linear_skip"])
    expected = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    got = {name: tuple(t.shape) for name, t in state_dict.items()}
    if got != expected:
        wrong = sorted(set(got.items()) ^ set(expected.items()))[0][0]
        raise ValueError(f"stored weight {wrong} has shape {got.get(wrong)}, the parameters "
                         f"need {expected.get(wrong)}")


def check_fit_size(name: str, n: int, n_val: int, seq_len: int) -> None:
    """Refuse a fit part too short for `seq_len` windows plus the validation part."""
    if n - n_val < seq_len + MIN_TRAIN_WINDOWS or 0 < n_val < MIN_VAL_WINDOWS:
        need = seq_len + MIN_TRAIN_WINDOWS + max(n_val, MIN_VAL_WINDOWS)
        raise DataError(
            f"{name} has {n} values; seq_len {seq_len} needs at least {need} to leave "
            f"{MIN_TRAIN_WINDOWS} training and {MIN_VAL_WINDOWS} validation windows; "
            "use a shorter seq_len or a longer series"
        )


class Forecaster(BaseForecaster):
    """A recurrent (or other registered) network trained on windows of one series.

    Parameters mirror `rnnlab train --help`; defaults and their reasons live in
    `rnnlab.config`. ``val_fraction`` is the share of the series given to `fit` that is
    held out for early stopping.

    Examples
    --------
    >>> from rnnlab.data import load_series
    >>> series = load_series("sine")
    >>> f = Forecaster(model="gru", epochs=3, progress=False).fit(series[:800])
    >>> f.predict(series).index[0]
    3.0
    >>> len(f.forecast(5))
    5
    """

    def __init__(
        self,
        model: str = ModelConfig.model,
        seq_len: int = ModelConfig.seq_len,
        scaler: str = ModelConfig.scaler,
        hidden_size: int = ModelConfig.hidden_size,
        num_layers: int = ModelConfig.num_layers,
        dropout: float = ModelConfig.dropout,
        linear_skip: bool = ModelConfig.linear_skip,
        epochs: int = TrainConfig.epochs,
        batch_size: int = TrainConfig.batch_size,
        lr: float = TrainConfig.lr,
        weight_decay: float = TrainConfig.weight_decay,
        patience: int = TrainConfig.patience,
        clip_grad_norm: float = TrainConfig.clip_grad_norm,
        lr_schedule: str = TrainConfig.lr_schedule,
        seed: int = TrainConfig.seed,
        device: str = TrainConfig.device,
        threads: int = TrainConfig.threads,
        val_fraction: float = VAL_FRACTION,
        progress: bool | None = None,
    ):
        self.model = model
        self.seq_len = seq_len
        self.scaler = scaler
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.linear_skip = linear_skip
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.clip_grad_norm = clip_grad_norm
        self.lr_schedule = lr_schedule
        self.seed = seed
        self.device = device
        self.threads = threads
        self.val_fraction = val_fraction
        self.progress = progress

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return self.seq_len

    def label(self) -> str:
        return self.model

    def model_config(self) -> ModelConfig:
        return ModelConfig(**{k: getattr(self, k) for k in ModelConfig.__dataclass_fields__})

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{k: getattr(self, k) for k in TrainConfig.__dataclass_fields__})

    def fit(self, series: pd.Series, val_size: int | None = None, *, should_stop=None,
            on_epoch_end=None, resume: dict | None = None) -> Forecaster:
        """Split off the last `val_size` points for early stopping, fit the scaler on the
        rest, fit the linear skip by least squares, then train the network.

        ``should_stop``, ``on_epoch_end`` and ``resume`` are passed to `rnnlab.train.train`
        (interruption and exact resumption).
        """
        import torch

        from .models import build_model
        from .train import check_config, cpu_threads, fit_ridge, resolve_device, train
        from .windows import Windows, as_tensor, fit_scaler

        series = check_series(series)
        name = str(series.name or "series")
        n = len(series)
        n_val = int(round(n * self.val_fraction)) if val_size is None else int(val_size)
        n_train = n - n_val
        check_fit_size(name, n, n_val, self.seq_len)
        cfg = self.train_config()
        check_config(cfg)
        device = resolve_device(self.device)
        values = series.to_numpy()
        self.scaler_ = fit_scaler(self.scaler, values[:n_train], name)
        torch.manual_seed(self.seed)
        net = build_model(self.model, self.seq_len, 1, self.hidden_size, self.num_layers,
                          self.dropout, self.linear_skip).to(device)
        z = as_tensor(self.scaler_.to_units(values), device)  # (n,)
        relative = self.scaler_.relative
        train_w = Windows(z, self.seq_len, self.seq_len, n_train, relative)
        val_w = Windows(z, self.seq_len, n_train, n, relative) if n_val else None
        self.ridge_strength_ = None
        with cpu_threads(cfg.threads):
            if net.skip is not None and resume is None:
                weights, bias, self.ridge_strength_ = fit_ridge(train_w, val_w)
                net.set_skip(torch.as_tensor(weights, dtype=torch.float32), bias)
            self.history_ = train(net, train_w, val_w, cfg, progress=self.progress,
                                  should_stop=should_stop, on_epoch_end=on_epoch_end,
                                  resume=resume)
        self.model_ = net
        self.n_train_, self.n_val_ = n_train, n_val
        self._remember_tail(series, self.seq_len)
        self.fitted_ = True
        return self

    def predict(self, series: pd.Series) -> pd.Series:
        """One-step-ahead predictions for every point after the first `seq_len`.

        Each prediction uses only the `seq_len` actual values before its date.
        """
        self._check_fitted()
        series = check_series(series, self.seq_len + 1)
        values = self._predict_next(series.to_numpy(np.float64), all_windows=True)
        return pd.Series(values, index=series.index[self.seq_len:], name=self.model)

    def _predict_next(self, values: np.ndarray, all_windows: bool) -> np.ndarray:
        """Predictions after every window of `values` (all_windows) or after its last one."""
        import torch

        from .train import predict_units
        from .windows import Windows, as_tensor

        device = next(self.model_.parameters()).device
        z = as_tensor(self.scaler_.to_units(values), device)  # (n,)
        n = len(values)
        if all_windows:
            windows = Windows(z, self.seq_len, self.seq_len, n, self.scaler_.relative)
        else:
            # The value after the data is unknown: a placeholder target slot, never read.
            z = torch.cat([z, z.new_zeros(1)])
            windows = Windows(z, self.seq_len, n, n + 1, self.scaler_.relative)
        units = predict_units(self.model_, windows) + windows.offsets()
        return self.scaler_.from_units(units.double().cpu().numpy())

    def _forecast_values(self, history: np.ndarray, horizon: int) -> np.ndarray:
        buffer = list(history[-self.seq_len:])
        out = []
        for _ in range(horizon):
            nxt = float(self._predict_next(np.asarray(buffer[-self.seq_len:]), False)[0])
            out.append(nxt)
            buffer.append(nxt)
        return np.asarray(out)

    # --- persistence ------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write a safe checkpoint: weights, parameters, scaler and the series' tail."""
        import torch

        from .checkpoint import save_checkpoint

        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k != "progress"}
        index = self.tail_.index
        meta = {
            "params": params,
            "scaler": self.scaler_.state_dict(),
            "history": self.history_.to_dict(),
            "n_train": self.n_train_, "n_val": self.n_val_,
            "ridge_strength": self.ridge_strength_,
            "series_name": str(self.tail_.name),
            "index_kind": "datetime" if isinstance(index, pd.DatetimeIndex) else "numeric",
            "index_name": index.name,
            "tail_index": [str(i) for i in index] if isinstance(index, pd.DatetimeIndex)
            else [float(i) for i in index],
            "tail_index_is_int": bool(pd.api.types.is_integer_dtype(index)),
        }
        tail = torch.tensor(self.tail_.to_numpy(np.float64))  # a copy: pandas arrays are read-only
        state = self.model_.state_dict()
        save_checkpoint(path, self.model, state, meta, {"tail": tail})
        # A numpy copy lets `rnnlab forecast` skip importing torch (see rnnlab.fastpath).
        from .fastpath import FAST_MODELS, sidecar_path, write_sidecar

        if self.model in FAST_MODELS:
            weights = {k: v.detach().cpu().numpy() for k, v in state.items()}
            write_sidecar(path, weights, meta, tail.numpy())
        else:
            sidecar_path(path).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a checkpoint written by `save`, refusing unsafe or mismatched files."""
        from .checkpoint import check_model_params, load_checkpoint
        from .models import build_model
        from .train import History
        from .windows import Scaler

        ckpt = load_checkpoint(path)
        meta = ckpt["meta"]
        try:
            params = dict(meta["params"])
            check_model_params(params, len(ckpt["tensors"]["tail"]), path)
            check_weight_shapes(params, ckpt["state_dict"])
            forecaster = cls(**params, progress=False)
            net = build_model(params["model"], params["seq_len"], 1, params["hidden_size"],
                              params["num_layers"], params["dropout"], params["linear_skip"])
            if ckpt["model"] != params["model"]:
                raise ValueError(f"model {ckpt['model']!r} vs parameters {params['model']!r}")
            net.load_state_dict(ckpt["state_dict"], strict=True)
            forecaster.scaler_ = Scaler.from_state(meta["scaler"])
            forecaster.history_ = History(**{k: v for k, v in meta["history"].items()
                                             if k != "epochs_run"})
            forecaster.n_train_, forecaster.n_val_ = meta["n_train"], meta["n_val"]
            forecaster.ridge_strength_ = meta.get("ridge_strength")
            forecaster.tail_ = tail_from_meta(meta, ckpt["tensors"]["tail"].numpy())
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
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

    @property
    def best_val_rmse_(self) -> float:
        """Validation RMSE of the kept weights, in the series' units."""
        return math.sqrt(self.history_.best_val_loss) * self.scaler_.scale
