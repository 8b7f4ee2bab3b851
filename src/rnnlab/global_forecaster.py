"""One network over many series: `GlobalForecaster(model="lstm").fit(panel)`.

It trains on the windows of every series of a panel (`rnnlab.panel.PanelWindows`, one
tensor), each series scaled by its own training part, with the ridge-fitted linear skip and
the training loop of one-series models. torch loads inside the methods.

    rnnlab train --data ../shared/data/sandp500/individual_stocks_5yr --global --out runs/sp
    rnnlab forecast --run runs/sp --id AAPL
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd

from .base import assign_params, check_forecast_work, check_series, future_index
from .checkpoint import check_model_params, load_checkpoint, save_checkpoint
from .config import DEFAULT_SEQ_LEN, ModelConfig, TrainConfig, check
from .errors import CheckpointError, ConfigError, DataError, NotFittedError, RnnlabError
from .forecaster import CHAIN_BATCH, PARAMETERS
from .panel import PanelSplit, PanelWindows, panel_tensor
from .windows import MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS, Scaler, fit_scaler

# One net for many series: per-window normalisation puts every price on one footing
# (changes from the window's last value, in units of the series' own step size).
GLOBAL_PARAMETERS = {
    **PARAMETERS, "scaler": PARAMETERS["scaler"].replace(default="window"),
    # Off by default: a learned vector per series (rnnlab.embedding) costs parameters that
    # only pay where series differ in ways their scaled windows do not show.
    "series_embedding": inspect.Parameter("series_embedding", inspect.Parameter.KEYWORD_ONLY,
                                          default=False, annotation="bool"),
}


class GlobalForecaster:
    """One network trained on the windows of every series of a panel.

    Its keyword parameters are those of `rnnlab.forecaster.Forecaster` (the options of
    `rnnlab train --help`), except that the scaler defaults to ``window``, plus
    ``series_embedding`` (a learned vector per series beside its values, see
    `rnnlab.embedding`). Each series gets its own scaler, fitted on its own training part.

    Examples
    --------
    >>> from rnnlab.data import load_series
    >>> panel = {"a": load_series("sine")[:600], "b": load_series("noise")[:600]}
    >>> g = GlobalForecaster(model="gru", epochs=2, progress=False).fit(panel)
    >>> len(g.predict("a", panel["a"])), len(g.forecast("b", 3))
    (570, 3)
    """

    def __init__(self, **params):
        assign_params(self, params, GLOBAL_PARAMETERS)
        if self.seq_len is None:
            # One window for every series: their seasons differ, so the plain default.
            self.seq_len = DEFAULT_SEQ_LEN
        if getattr(self, "features", None) or getattr(self, "calendar", False):
            raise ConfigError(
                "--features and --calendar do not work with a global model yet: it reads "
                "each series' target alone; drop them, or train one series at a time")

    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
         *GLOBAL_PARAMETERS.values()])

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in GLOBAL_PARAMETERS}

    def model_config(self) -> ModelConfig:
        return ModelConfig(**{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(ModelConfig)})

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(TrainConfig)})

    def fit(self, panel: dict[str, pd.Series], val_sizes: dict[str, int] | None = None, *,
            should_stop=None) -> GlobalForecaster:
        """Fit one net on every series: the last `val_sizes[name]` points of each (default
        `val_fraction` of it) are held out for early stopping, its scaler is fitted on the
        rest. Series too short or constant are skipped into ``skipped_``."""
        import torch

        from .embedding import build_global_model
        from .train import cpu_threads, fit_ridge, resolve_device, train

        model_cfg, cfg = self.model_config(), self.train_config()
        check(model_cfg)
        check(cfg)
        device = resolve_device(self.device)
        outputs = model_cfg.outputs  # H with direct: each window has H targets
        extra = outputs - 1
        names, values, scalers, n_train, n_val, skipped = [], [], [], [], [], {}
        for name, series in panel.items():
            series = check_series(series, name=name)
            v = series.to_numpy(np.float64)
            held = int(round(len(v) * self.val_fraction)) if val_sizes is None \
                else int(val_sizes[name])
            if (len(v) - held < self.seq_len + MIN_TRAIN_WINDOWS + extra
                    or 0 < held < MIN_VAL_WINDOWS + extra):
                steps = f" (direct horizon {outputs})" if extra else ""
                skipped[name] = (f"{name} has {len(v)} values; seq_len {self.seq_len} needs "
                                 f"{self.seq_len + MIN_TRAIN_WINDOWS + extra} training and "
                                 f"{MIN_VAL_WINDOWS + extra} validation values{steps}; "
                                 "skipped")
                continue
            try:
                scaler = fit_scaler(self.scaler, v[: len(v) - held], name)
            except DataError as exc:
                skipped[name] = str(exc)
                continue
            names.append(name)
            values.append(v)
            scalers.append(scaler)
            n_train.append(len(v) - held)
            n_val.append(held)
        if not names:
            first = next(iter(skipped.values()), "the panel is empty")
            raise DataError(f"no series of the panel can be trained on ({first})")
        z, starts = panel_tensor(values, scalers, device)
        relative = np.array([s.relative for s in scalers])
        lengths = np.diff(starts)
        n_train_a = np.array(n_train)
        rows = np.arange(len(names)) if self.series_embedding else None
        train_w = PanelWindows(z, starts, self.seq_len, np.full(len(names), self.seq_len),
                               n_train_a, relative, rows, outputs)
        val_w = PanelWindows(z, starts, self.seq_len, n_train_a, lengths, relative, rows,
                             outputs) if sum(n_val) else None
        torch.manual_seed(self.seed)
        net = build_global_model(model_cfg, len(names), self.series_embedding).to(device)
        ridge = None
        with cpu_threads(cfg.threads):
            if net.skip is not None:
                weights, bias, ridge = fit_ridge(train_w, val_w)
                net.set_skip(torch.as_tensor(weights, dtype=torch.float32), bias)
            self.history_ = train([net], train_w, val_w, cfg, [self.seed],
                                  progress=self.progress, should_stop=should_stop)[0]
        self.model_ = net
        self.ridge_strength_ = ridge
        self.scalers_ = dict(zip(names, scalers, strict=True))
        self.n_windows_ = {"train": len(train_w), "val": len(val_w) if val_w else 0}
        self.skipped_ = skipped
        self.tails_ = {name: panel[name].iloc[-max(self.seq_len, 50):].copy() for name in names}
        self.fitted_ = True
        return self

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError("this GlobalForecaster is not fitted yet; call fit(panel) "
                                 "first")

    def _scaler(self, name: str) -> Scaler:
        self._check_fitted()
        if name not in self.scalers_:
            known = list(self.scalers_)
            shown = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
            raise DataError(f"series {name!r} is not one the global model was trained on "
                            f"({len(known)} series: {shown}); pass one of them")
        return self.scalers_[name]

    @property
    def names_(self) -> list[str]:
        self._check_fitted()
        return list(self.scalers_)

    def predict(self, name: str, series: pd.Series) -> pd.Series:
        """One-step-ahead predictions of series `name` for every point after the first
        `seq_len`, each from the `seq_len` actual values before it."""
        self._scaler(name)  # a known name, or one line naming the known ones
        series = check_series(series, self.seq_len + 1, name=name)
        values = self._predict_next(name, series.to_numpy(np.float64), all_windows=True)
        return pd.Series(values, index=series.index[self.seq_len:], name=self.model)

    def predict_parts(self, panel: dict[str, pd.Series], first: dict[str, int]
                      ) -> dict[str, np.ndarray]:
        """One-step predictions of panel[name].iloc[first[name]:] for every name in
        `first`, all series in a few big passes."""
        from .train import predict_units

        names = list(first)
        scalers = [self._scaler(name) for name in names]
        values = [panel[name].to_numpy(np.float64) for name in names]
        z, starts = panel_tensor(values, scalers, next(self.model_.parameters()).device)
        lo = np.array([max(first[name], self.seq_len) for name in names])
        windows = PanelWindows(z, starts, self.seq_len, lo, np.diff(starts),
                               np.array([s.relative for s in scalers]), self._rows(names))
        units = (_first_step(predict_units(self.model_, windows)) + windows.offsets()
                 ).double().cpu().numpy()
        ends = np.cumsum(np.diff(starts) - lo)
        parts = np.split(units, ends[:-1])
        return {name: scaler.from_units(part)
                for name, scaler, part in zip(names, scalers, parts, strict=True)}

    def paths_parts(self, panel: dict[str, pd.Series], origins: dict[str, np.ndarray],
                    horizon: int) -> dict[str, np.ndarray]:
        """`horizon`-step forecasts of each series from each of its origins o
        (panel[name].iloc[:o] known), {name: (n_origins, horizon)}, every series and
        origin together in batched passes: a recursive (one-step) net is fed its own
        predictions, one pass per step; a direct net gives its H steps in one pass."""
        import torch

        names = list(origins)
        scalers = [self._scaler(name) for name in names]
        values = [panel[name].to_numpy(np.float64) for name in names]
        device = next(self.model_.parameters()).device
        z, starts = panel_tensor(values, scalers, device)
        counts = []
        for name, v in zip(names, values, strict=True):
            o = np.asarray(origins[name], dtype=np.int64)
            if len(o) and (o.min() < self.seq_len or o.max() > len(v)):
                raise ValueError(f"origins of {name} must lie in [{self.seq_len}, {len(v)}]")
            counts.append(len(o))
        pos = np.concatenate([start + np.asarray(origins[name], dtype=np.int64)
                              for name, start in zip(names, starts[:-1], strict=True)])
        series = np.repeat(np.arange(len(names)), counts)
        rel = torch.as_tensor(np.array([s.relative for s in scalers])[series],
                              dtype=z.dtype, device=device)  # (n_paths,) 0 or 1
        rows = self._rows(names)
        rows = None if rows is None else \
            torch.as_tensor(rows[series].astype(np.float32), device=device)  # (n_paths,)
        steps = torch.arange(-self.seq_len, 0, device=device)
        self.model_.eval()
        out = []
        with torch.no_grad():
            for lo in range(0, len(pos), CHAIN_BATCH):
                at = torch.as_tensor(pos[lo:lo + CHAIN_BATCH], device=device)
                buffer = z[at[:, None] + steps]  # (batch, seq_len): only values before o
                shift = rel[lo:lo + CHAIN_BATCH]
                while buffer.shape[1] - self.seq_len < horizon:
                    x = buffer[:, -self.seq_len:]
                    last = x[:, -1] * shift
                    x = (x - last[:, None]).unsqueeze(-1)  # (batch, seq_len, 1)
                    if rows is not None:  # the series' embedding row as a second channel
                        row = rows[lo:lo + CHAIN_BATCH, None, None].expand(-1, x.shape[1], 1)
                        x = torch.cat([x, row], dim=-1)  # (batch, seq_len, 2)
                    made = self.model_(x).reshape(len(x), -1) + last[:, None]  # (batch, 1 or H)
                    buffer = torch.cat([buffer, made], dim=1)
                out.append(buffer[:, self.seq_len:self.seq_len + horizon])
        units = torch.cat(out).double().cpu().numpy() if out else np.zeros((0, horizon))
        parts = np.split(units, np.cumsum(counts)[:-1])
        return {name: scaler.from_units(part)
                for name, scaler, part in zip(names, scalers, parts, strict=True)}

    def _rows(self, names: list[str]) -> np.ndarray | None:
        """Each series' row in the embedding table (its place in `names_`), if there is one."""
        if not self.series_embedding:
            return None
        order = {name: i for i, name in enumerate(self.scalers_)}
        return np.array([order[name] for name in names])

    def _predict_next(self, name: str, values: np.ndarray, all_windows: bool) -> np.ndarray:
        import torch

        from .train import predict_units
        from .windows import as_tensor

        scaler = self.scalers_[name]
        device = next(self.model_.parameters()).device
        z = as_tensor(scaler.to_units(values), device)  # (n,)
        n = len(values)
        lo = self.seq_len if all_windows else n
        if not all_windows:
            # The value after the data is unknown: a placeholder target slot, never read.
            z = torch.cat([z, z.new_zeros(1)])
        windows = PanelWindows(z, np.array([0, len(z)]), self.seq_len, np.array([lo]),
                               np.array([len(z)]), np.array([scaler.relative]),
                               self._rows([name]))
        units = _first_step(predict_units(self.model_, windows)) + windows.offsets()
        return scaler.from_units(units.double().cpu().numpy())

    def set_history(self, panel: dict[str, pd.Series]) -> None:
        """Make `forecast` continue after these series (e.g. the data incl. test parts)."""
        for name, series in panel.items():
            if name in self.scalers_:
                self.tails_[name] = series.iloc[-max(self.seq_len, 50):].copy()

    def forecast(self, name: str, horizon: int, series: pd.Series | None = None) -> pd.Series:
        """The next `horizon` values of series `name` after `series` (default: its data
        seen in fit), each step fed back as the next input."""
        self._scaler(name)
        horizon = check_forecast_work(self, horizon)
        history = self.tails_[name] if series is None else \
            check_series(series, self.seq_len, name=name)
        buffer = list(history.to_numpy(np.float64)[-self.seq_len:])
        if self.model_config().outputs > 1:  # direct: H steps per pass
            tail = pd.Series(buffer)
            buffer += list(self.paths_parts({name: tail}, {name: np.array([len(tail)])},
                                            horizon)[name][0])
        for _ in range(horizon - (len(buffer) - self.seq_len)):
            window = np.asarray(buffer[-self.seq_len:])
            buffer.append(float(self._predict_next(name, window, all_windows=False)[0]))
        return pd.Series(buffer[self.seq_len:], index=future_index(history.index, horizon),
                         name=f"{self.model} forecast")

    # --- persistence ------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write a safe checkpoint: weights, parameters, every scaler and series tail."""
        import torch

        self._check_fitted()
        names = self.names_
        tails = [self.tails_[name] for name in names]
        dated = all(isinstance(t.index, pd.DatetimeIndex) for t in tails)
        meta = {
            "kind": "global",
            "params": {k: v for k, v in self.get_params().items() if k != "progress"},
            "names": names,
            "scalers": [self.scalers_[name].state_dict() for name in names],
            "history": self.history_.to_dict(),
            "ridge_strength": self.ridge_strength_,
            "n_windows": self.n_windows_,
            "skipped": self.skipped_,
            "tail_lengths": [len(t) for t in tails],
            "index_kind": "datetime" if dated else "numeric",
            "tail_index": [str(i) if dated else float(i) for t in tails for i in t.index],
        }
        values = torch.tensor(np.concatenate([t.to_numpy(np.float64) for t in tails]))
        save_checkpoint(path, self.model, self.model_.state_dict(), meta, {"tails": values})

    @classmethod
    def load(cls, path: str | Path) -> GlobalForecaster:
        """Load a checkpoint written by `save`, refusing unsafe or mismatched files."""
        import torch

        from .embedding import build_global_model
        from .train import History

        ckpt = load_checkpoint(path)
        meta = ckpt["meta"]
        if not isinstance(meta, dict) or meta.get("kind") != "global":
            raise CheckpointError(f"checkpoint '{path}' is not a global model's; load it "
                                  "with rnnlab.forecaster.Forecaster.load")
        try:
            params = dict(meta["params"])
            lengths = [int(n) for n in meta["tail_lengths"]]
            check_model_params(params, min(lengths), path)
            forecaster = cls(**params, progress=False)
            names = [str(n) for n in meta["names"]]
            config, embedded = forecaster.model_config(), bool(forecaster.series_embedding)
            # Built first on the meta device, which allocates nothing: a forged size is
            # refused before it can fill the memory.
            with torch.device("meta"):
                probe = build_global_model(config, len(names), embedded)
            expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
            got = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items()}
            if got != expected:
                wrong = sorted(set(got.items()) ^ set(expected.items()))[0][0]
                raise ValueError(f"stored weight {wrong} has shape {got.get(wrong)}, the "
                                 f"parameters need {expected.get(wrong)}")
            net = build_global_model(config, len(names), embedded)
            net.load_state_dict(ckpt["state_dict"], strict=True)
            values = np.split(ckpt["tensors"]["tails"].numpy(), np.cumsum(lengths)[:-1])
            index = pd.to_datetime(meta["tail_index"]) if meta["index_kind"] == "datetime" \
                else pd.Index(meta["tail_index"])
            index_parts = np.split(np.arange(len(index)), np.cumsum(lengths)[:-1])
            forecaster.scalers_ = {name: Scaler.from_state(state)
                                   for name, state in zip(names, meta["scalers"], strict=True)}
            forecaster.tails_ = {name: pd.Series(v, index=index[ix], name=name)
                                 for name, v, ix in zip(names, values, index_parts, strict=True)}
            forecaster.history_ = History(**{k: v for k, v in meta["history"].items()
                                             if k != "epochs_run"})
            forecaster.ridge_strength_ = meta.get("ridge_strength")
            forecaster.n_windows_ = dict(meta["n_windows"])
            forecaster.skipped_ = dict(meta["skipped"])
        except (KeyError, TypeError, ValueError, RuntimeError, RnnlabError) as exc:
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            raise CheckpointError(
                f"checkpoint '{path}' does not match the global model it names "
                f"({'; '.join(lines[:2])[:240]}); it may be from another rnnlab version or "
                "edited; retrain it") from None
        net.eval()
        forecaster.model_ = net
        forecaster.fitted_ = True
        return forecaster


def _first_step(units):
    """One-step predictions from a net's outputs: (n,), or the first of H (direct)."""
    return units if units.ndim == 1 else units[:, 0]


def fit_panel(forecaster: GlobalForecaster, panel: dict[str, pd.Series], split: PanelSplit,
              **fit_kwargs) -> GlobalForecaster:
    """Fit on every series' part before its test part (its validation part for early
    stopping); the test parts are never read."""
    fit_parts = {name: panel[name].iloc[: s.n_fit] for name, s in split.sizes.items()}
    return forecaster.fit(fit_parts, {name: s.n_val for name, s in split.sizes.items()},
                          **fit_kwargs)
