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
    check_series,
    error_scale_from_meta,
    tail_from_meta,
    tail_offsets_from_meta,
    track_level,
)
from .checkpoint import check_model_params, load_checkpoint, save_checkpoint
from .config import DataConfig, ModelConfig, TrainConfig, check
from .errors import CheckpointError, ConfigError, DataError, RnnlabError
from .fastpath import FAST_MODELS, sidecar_path, write_sidecar
from .windows import (
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


def check_fit_size(name: str, n: int, n_val: int, seq_len: int) -> None:
    """Refuse a fit part too short for `seq_len` windows plus the validation part."""
    if n - n_val < seq_len + MIN_TRAIN_WINDOWS or 0 < n_val < MIN_VAL_WINDOWS:
        need = seq_len + MIN_TRAIN_WINDOWS + max(n_val, MIN_VAL_WINDOWS)
        raise DataError(
            f"{name} has {n} values; seq_len {seq_len} needs at least {need} to leave "
            f"{MIN_TRAIN_WINDOWS} training and {MIN_VAL_WINDOWS} validation windows; "
            "use a shorter seq_len or a longer series"
        )


def check_weight_shapes(config: ModelConfig, state_dict: dict) -> None:
    """Raise ValueError unless the network `config` describes has the stored weights' shapes.

    Built on torch's meta device, which allocates nothing: a forged hidden_size is refused
    here instead of filling the memory with a network it cannot load into.
    """
    import torch

    from .models import build_model

    with torch.device("meta"):
        net = build_model(config)
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
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise ConfigError(f"unknown Forecaster parameter {unknown[0]!r}; valid names are "
                              f"{', '.join(PARAMETERS)}")
        for name, parameter in PARAMETERS.items():
            setattr(self, name, params.get(name, parameter.default))

    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY), *PARAMETERS.values()])

    @classmethod
    def from_config(cls, model: ModelConfig, training: TrainConfig,
                    progress: bool | None = None) -> Forecaster:
        """The estimator a run's model and training sections describe."""
        return cls(**dataclasses.asdict(model), **dataclasses.asdict(training),
                   progress=progress)

    def model_config(self) -> ModelConfig:
        return ModelConfig(**{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(ModelConfig)})

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(TrainConfig)})

    def fit(self, series: pd.Series, val_size: int | None = None, *, should_stop=None,
            on_epoch_end=None, resume: dict | None = None) -> Forecaster:
        """Split off the last `val_size` points for early stopping, fit the scaler on the
        rest, fit the linear skip by least squares, then train the network.

        ``should_stop``, ``on_epoch_end`` and ``resume`` are passed to `rnnlab.train.train`
        (interruption and exact resumption).
        """
        n_val = None if val_size is None else int(val_size)
        _fit_together([self], series, n_val, should_stop=should_stop,
                      on_epoch_end=on_epoch_end, resume=resume)
        return self

    def predict(self, series: pd.Series) -> pd.Series:
        """One-step-ahead predictions for every point after the first `seq_len`.

        Each prediction uses only the `seq_len` actual values before its date.
        """
        self._check_fitted()
        series = check_series(series, self.seq_len + 1)
        values = self._predict_tracked(series.to_numpy(np.float64))
        return pd.Series(values, index=series.index[self.seq_len:], name=self.model)

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
        units = predict_units(self.model_, windows) + windows.offsets()
        return self.scaler_.from_units(units.double().cpu().numpy())

    def _forecast_values(self, history: np.ndarray, horizon: int) -> np.ndarray:
        # A level shift found in the history is taken out, and added back to the forecast.
        offsets = self._level_offsets(history)
        buffer = list(history[-self.seq_len:] - offsets[-self.seq_len:])
        out = []
        for _ in range(horizon):
            nxt = float(self._predict_next(np.asarray(buffer[-self.seq_len:]), False)[0])
            out.append(nxt)
            buffer.append(nxt)
        return np.asarray(out) + offsets[-1]

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
        save_checkpoint(path, self.model, state, meta, {"tail": tail})
        # A numpy copy lets `rnnlab forecast` skip importing torch (see rnnlab.fastpath).
        if self.model in FAST_MODELS:
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
        try:
            params = dict(meta["params"])
            check_model_params(params, len(ckpt["tensors"]["tail"]), path)
            forecaster = cls(**params, progress=False)
            check_weight_shapes(forecaster.model_config(), ckpt["state_dict"])
            net = build_model(forecaster.model_config())
            if ckpt["model"] != params["model"]:
                raise ValueError(f"model {ckpt['model']!r} vs parameters {params['model']!r}")
            net.load_state_dict(ckpt["state_dict"], strict=True)
            forecaster.scaler_ = Scaler.from_state(meta["scaler"])
            forecaster.history_ = History(**{k: v for k, v in meta["history"].items()
                                             if k != "epochs_run"})
            forecaster.n_train_, forecaster.n_val_ = meta["n_train"], meta["n_val"]
            forecaster.ridge_strength_ = meta.get("ridge_strength")
            forecaster.error_scale_ = error_scale_from_meta(meta)
            forecaster.train_range_ = tuple(meta["train_range"]) if "train_range" in meta \
                else None
            forecaster.tail_ = tail_from_meta(meta, ckpt["tensors"]["tail"].numpy())
            forecaster.tail_offsets_ = tail_offsets_from_meta(meta, len(forecaster.tail_))
        except (KeyError, TypeError, ValueError, RuntimeError, RnnlabError) as exc:
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

    from .models import build_model
    from .train import cpu_threads, fit_ridge, resolve_device, train

    first = forecasters[0]
    model_cfg, cfg = first.model_config(), first.train_config()
    check(model_cfg)
    check(cfg)
    series = check_series(series)
    name = str(series.name or "series")
    n = len(series)
    n_val = int(round(n * first.val_fraction)) if n_val is None else n_val
    n_train = n - n_val
    resolve_seq_len(forecasters, series.to_numpy()[:n_train])
    model_cfg = first.model_config()  # with the window just chosen
    check_fit_size(name, n, n_val, first.seq_len)
    device = resolve_device(first.device)
    values = series.to_numpy()
    if first.scaler == "auto" and n_val:
        scaler = choose_scaler(values, n_train, first.seq_len, name, device)
    else:
        scaler = fit_scaler(first.scaler, values[:n_train], name)
    nets = []
    for forecaster in forecasters:
        torch.manual_seed(forecaster.seed)  # its weights are those of a separate fit
        nets.append(build_model(model_cfg).to(device))
    z = as_tensor(scaler.to_units(values), device)  # (n,)
    train_w = Windows(z, first.seq_len, first.seq_len, n_train, scaler.relative)
    val_w = Windows(z, first.seq_len, n_train, n, scaler.relative) if n_val else None
    ridge_strength = None
    with cpu_threads(cfg.threads):
        if nets[0].skip is not None and resume is None:
            # Deterministic: one least-squares fit serves every seed.
            weights, bias, ridge_strength = fit_ridge(train_w, val_w)
            for net in nets:
                net.set_skip(torch.as_tensor(weights, dtype=torch.float32), bias)
        histories = train(nets, train_w, val_w, cfg, [f.seed for f in forecasters],
                          progress=first.progress, should_stop=should_stop,
                          on_epoch_end=on_epoch_end, resume=resume)
    for forecaster, net, history in zip(forecasters, nets, histories, strict=True):
        forecaster.scaler_ = scaler
        forecaster.ridge_strength_ = ridge_strength
        forecaster.history_ = history
        forecaster.model_ = net
        forecaster.n_train_, forecaster.n_val_ = n_train, n_val
        # Where the training part lay, to flag data and forecasts far from it later.
        forecaster.train_range_ = (float(values[:n_train].min()), float(values[:n_train].max()))
        forecaster.error_scale_ = forecaster._one_step_rms(values, n_train if n_val else None)
        forecaster._remember_tail(series, forecaster.seq_len)
        forecaster.fitted_ = True


def resolve_seq_len(forecasters: list[Forecaster], train: np.ndarray) -> None:
    """Give forecasters with ``seq_len=None`` the window `choose_seq_len` picks on the
    training part `train`, in `seq_len` itself: predict, save, load and the numpy fast path
    all read that number. `window_` keeps the choice, so a refit chooses again."""
    first = forecasters[0]
    chosen = getattr(first, "window_", None)
    if first.seq_len is not None and (chosen is None or chosen.seq_len != first.seq_len):
        return  # a window given by the caller always wins
    choice = choose_seq_len(train, len(train) - MIN_TRAIN_WINDOWS)
    for forecaster in forecasters:
        forecaster.seq_len, forecaster.window_ = choice.seq_len, choice


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
    from .train import fit_ridge

    mse = {}
    for kind in ("standard", "window"):
        scaler = fit_scaler(kind, values[:n_train], name)
        z = as_tensor(scaler.to_units(values), device)  # (n,)
        train_w = Windows(z, seq_len, seq_len, n_train, scaler.relative)
        val_w = Windows(z, seq_len, n_train, len(values), scaler.relative)
        weights, bias, _ = fit_ridge(train_w, val_w)
        x, y = (t.double().cpu().numpy() for t in val_w.batch(slice(None)))
        error = (x[..., 0] @ weights + bias - y) * scaler.scale
        mse[kind] = (float(np.mean(error**2)), scaler)
    if mse["standard"][0] < AUTO_MARGIN * mse["window"][0]:
        return mse["standard"][1]
    return mse["window"][1]
