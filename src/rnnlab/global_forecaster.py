"""Many series: `GlobalForecaster(horizon=24).fit(panel)`.

Each series gets the forecast its own rolling origins choose (`rnnlab.forecaster`'s
stages and `rnnlab.choose`'s one rule) from its own pool of candidates, with one more
candidate that only a panel has: a recurrent net trained across every series
(`rnnlab.globalnet`). Global against local is decided per series, on data. The interval
of every series is calibrated on all of them together: each series' errors at its origins,
divided by its own scale, give one pooled split-conformal width per step.

    rnnlab train --data ../shared/data/panels/tourism_monthly.csv --id-column id \\
        --horizon 24 --out runs/tourism
    rnnlab forecast --run runs/tourism --id T12
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .base import assign_params, check_series, conformal_widths, smooth_widths
from .checkpoint import check_model_params, load_checkpoint, save_checkpoint
from .choose import loss_scale, make_folds
from .config import ModelConfig, TrainConfig, check, pool_families
from .errors import CheckpointError, ConfigError, DataError, NotFittedError, RnnlabError
from .forecaster import (
    PARAMETERS,
    Forecaster,
    calendar_period,
    fit_together,
    pool_meta,
    restore_pool,
)
from .globalnet import GlobalCandidate, model_from_state, model_state
from .panel import PanelSplit

# The global parameters: those of one series, plus how many seeds the net's ensemble
# holds (the median over them forecasts).
GLOBAL_PARAMETERS = {
    **PARAMETERS,
    # Three seeds: the median of three nets is robust to one bad start; each seed more
    # costs one more training of the net.
    "ensemble": inspect.Parameter("ensemble", inspect.Parameter.KEYWORD_ONLY, default=3,
                                  annotation="int"),
}
GLOBAL_MODELS = ("rnn", "lstm", "gru")


class GlobalForecaster:
    """Every series of a panel forecast by its own pool, the global recurrent net among
    its candidates.

    Its keyword parameters are those of `rnnlab.forecaster.Forecaster` (the options of
    `rnnlab train --help`; ``model`` names the global net's cell: rnn, lstm or gru), plus
    ``ensemble``, the seeds of the net whose median forecasts. After `fit`:
    ``forecasters_`` holds each series' fitted `Forecaster`, ``skipped_`` the series left
    out and why, ``history_`` the net's training.

    Examples
    --------
    >>> from rnnlab.data import load_series
    >>> panel = {"a": load_series("sine")[:300], "b": load_series("noise")[:300]}
    >>> g = GlobalForecaster(horizon=5, epochs=2, ensemble=1, progress=False).fit(panel)
    >>> sorted(g.names_), len(g.forecast("b", 5))
    (['a', 'b'], 5)
    """

    def __init__(self, **params):
        assign_params(self, params, GLOBAL_PARAMETERS)

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

    def _series_params(self) -> dict:
        """One series' Forecaster parameters: its pool without a net of its own (the
        panel's recurrent net is the global one: `fit_together` trains no series' net
        beside it, so ``candidates="net"`` is the global net alone)."""
        params = {k: v for k, v in self.get_params().items() if k != "ensemble"}
        if self.candidates == "auto":
            params["candidates"] = ",".join(f for f in pool_families("auto") if f != "net")
        return {**params, "progress": False}

    # --- fit ------------------------------------------------------------------------------

    def fit(self, panel: dict[str, pd.Series], val_sizes: dict[str, int] | None = None, *,
            should_stop=None, mapper=map) -> GlobalForecaster:
        """Fit every series: folds (the last ``val_sizes[name]`` values at least, default
        ``val_fraction`` of each), the global net on every series' values before its
        first origin, each series' pool with the net's view of it, then the net again on
        all the data and the pooled interval. A series too short is skipped with why.

        ``mapper`` runs the per-series pools: `map` (default) here, or a worker pool's
        map (`rnnlab.tasks.pool_map`), with the same results."""
        check(self.model_config())
        check(self.train_config())
        if self.model not in GLOBAL_MODELS:
            raise ConfigError(f"the global net is one of {', '.join(GLOBAL_MODELS)}, got "
                              f"model {self.model!r}; pass --model lstm")
        if self.features or self.calendar:
            raise ConfigError("--features and --calendar do not work with a panel yet: each "
                              "series' target alone is read; drop them")
        started = time.perf_counter()
        names, values, starts, skipped = self._checked(panel, val_sizes)
        period = panel_period([panel[n] for n in names])
        self.period_ = period
        models = {}
        if "net" in pool_families(self.candidates):
            models["fold"], histories = self._train_net(names, values, starts, period, None,
                                                        should_stop)
            self.history_ = histories[0]
            models["final"] = models["fold"]
            if self.refit:
                epochs = max(max(h.best_epoch for h in histories), 1)
                models["final"], _ = self._train_net(names, values, [len(v) for v in values],
                                                     period, epochs, should_stop)
        else:
            from .history import History

            self.history_ = History(stopped="no_net")
        del values, starts  # each series' values again travel with its pool's job below
        # The models' numbers, with a token that names them in a worker's cache
        net_done = time.perf_counter()
        state = {"token": f"{os.getpid()}.{id(self)}.{time.time_ns()}",
                 **{which: model_state(m) for which, m in models.items()}} if models else None
        net = (self.model, self.hidden_size, self.num_layers)
        chunks = [(self._series_params(), net, state,
                   [(name, k, panel[name], None if val_sizes is None else int(val_sizes[name]))
                    for k, name in enumerate(names[lo:lo + CHUNK], start=lo)])
                  for lo in range(0, len(names), CHUNK)]
        self.forecasters_ = {}
        for done in mapper(fit_series, chunks):
            for name, fitted in done:
                if isinstance(fitted, str):
                    skipped[name] = fitted
                    continue
                for candidate in _global_views(fitted):
                    candidate.attach(models)
                self.forecasters_[name] = fitted
        if not self.forecasters_:
            first = next(iter(skipped.values()), "the panel is empty")
            raise DataError(f"no series of the panel can be forecast ({first})")
        self.global_ = models.get("final")
        self.skipped_ = skipped
        pooled_interval(self.forecasters_, self.interval)
        for fitted in self.forecasters_.values():  # what only the pooled interval read
            del fitted.interval_errors_
        # Wall seconds of the net (both its fits) and of the series' pools
        self.seconds_ = {"net": net_done - started, "pools": time.perf_counter() - net_done}
        self.fitted_ = True
        return self

    def _checked(self, panel, val_sizes):
        """(names, values, first-origin positions, skipped) of the usable series."""
        names, values, starts, skipped = [], [], [], {}
        for name, series in panel.items():
            try:
                v = check_series(series, name=name).to_numpy(np.float64)
                held = int(round(len(v) * self.val_fraction)) if val_sizes is None \
                    else int(val_sizes[name])
                folds = make_folds(len(v), self.horizon, held, name)
            except DataError as exc:
                skipped[name] = f"{str(exc)}; skipped"
                continue
            names.append(name)
            values.append(v)
            starts.append(folds.start)
        if not names:
            first = next(iter(skipped.values()), "the panel is empty")
            raise DataError(f"no series of the panel can be forecast ({first})")
        return names, values, starts, skipped

    def _train_net(self, names, values, stops, period, epochs, should_stop):
        from .globalnet import train_global
        from .train import resolve_device

        training = self.train_config()
        if epochs is not None:  # the refit on all the data: as many epochs as were best
            training = dataclasses.replace(training, epochs=epochs)
        seeds = [self.seed + k for k in range(max(int(self.ensemble), 1))]
        return train_global(values, stops, names, period, self.horizon, self.model,
                            self.hidden_size, self.num_layers, self.dropout, training, seeds,
                            device=resolve_device(self.device), progress=self.progress,
                            should_stop=should_stop)

    # --- forecasts ------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError("this GlobalForecaster is not fitted yet; call fit(panel) "
                                 "first")

    @property
    def names_(self) -> list[str]:
        self._check_fitted()
        return list(self.forecasters_)

    def series_forecaster(self, name: str) -> Forecaster:
        """Series `name`'s fitted forecaster; an unknown or skipped name is one line."""
        self._check_fitted()
        if name in self.forecasters_:
            return self.forecasters_[name]
        if name in self.skipped_:
            raise DataError(f"series {name!r} was skipped at training ({self.skipped_[name]}); "
                            "see skipped.csv")
        known = list(self.forecasters_)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if not close:
            folded = {n.lower(): n for n in known}
            close = [folded[name.lower()]] if name.lower() in folded else []
        hint = f"; did you mean {close[0]}?" if close else ""
        shown = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
        raise DataError(f"series {name!r} is not one the model was trained on ({len(known)} "
                        f"series: {shown}){hint}")

    def predict(self, name: str, series: pd.Series) -> pd.Series:
        """One-step-ahead predictions of series `name` (`Forecaster.predict`)."""
        return self.series_forecaster(name).predict(series)

    def predict_parts(self, panel: dict[str, pd.Series], first: dict[str, int]
                      ) -> dict[str, np.ndarray]:
        """One-step predictions of panel[name].iloc[first[name]:] for every name."""
        out = {}
        for name, start in first.items():
            predicted = self.series_forecaster(name).predict(panel[name])
            out[name] = predicted.to_numpy()[len(predicted) - (len(panel[name]) - start):]
        return out

    def paths_parts(self, panel: dict[str, pd.Series], origins: dict[str, np.ndarray],
                    horizon: int) -> dict[str, np.ndarray]:
        """`horizon`-step forecasts of each series from each of its origins:
        {name: (n_origins, horizon)}."""
        return {name: self.series_forecaster(name).paths_from(
            panel[name].to_numpy(np.float64), o, horizon) for name, o in origins.items()}

    def set_history(self, panel: dict[str, pd.Series]) -> None:
        """Make `forecast` continue after these series (e.g. with their test parts)."""
        for name, series in panel.items():
            if name in self.forecasters_:
                self.forecasters_[name].set_history(series)

    def forecast(self, name: str, horizon: int, series: pd.Series | None = None) -> pd.Series:
        """The next `horizon` values of series `name`."""
        return self.series_forecaster(name).forecast(horizon, series)

    def forecast_interval(self, name: str, horizon: int, series: pd.Series | None = None
                          ) -> pd.DataFrame:
        """`forecast` with the pooled interval's bounds."""
        return self.series_forecaster(name).forecast_interval(horizon, series)

    # --- persistence ---------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write a safe checkpoint: the net's weights (every seed), and each series' pool,
        tail and interval."""
        import torch

        self._check_fitted()
        series_meta, tensors = [], {}
        for k, forecaster in enumerate(self.forecasters_.values()):
            meta, arrays = pool_meta(forecaster)
            for entry in meta["pool"]:
                if entry["family"] == "global":
                    entry["state"] = {"series": forecaster.global_row_}
            series_meta.append(meta)
            tensors[f"s{k}.tail"] = torch.tensor(forecaster.tail_.to_numpy(np.float64))
            tensors.update({f"s{k}.{key}": torch.tensor(np.asarray(value, np.float64))
                            for key, value in arrays.items()})
        state, model = {}, self.global_
        settings = None
        if model is not None:
            saved = model_state(model)
            settings = saved["settings"]
            state = {key: torch.tensor(value) for key, value in saved["weights"].items()}
            tensors.update({f"global.{key}": torch.tensor(np.asarray(value, np.float64))
                            for key, value in saved["arrays"].items()})
        meta = {"kind": "global",
                "params": {k: v for k, v in self.get_params().items() if k != "progress"},
                "names": list(self.forecasters_), "series": series_meta,
                "skipped": self.skipped_, "history": self.history_.to_dict(),
                "period": self.period_, "global": settings}
        save_checkpoint(path, self.model, state, meta, tensors)

    @classmethod
    def load(cls, path: str | Path) -> GlobalForecaster:
        """Load a checkpoint written by `save`, refusing unsafe or mismatched files."""
        from .base import tail_from_meta, tail_offsets_from_meta
        from .history import History

        ckpt = load_checkpoint(path)
        meta = ckpt["meta"]
        if not isinstance(meta, dict) or meta.get("kind") != "global":
            raise CheckpointError(f"checkpoint '{path}' is not a global model's; load it "
                                  "with rnnlab.forecaster.Forecaster.load")
        try:
            params = dict(meta["params"])
            # The window is each series' own (checked with its tail below).
            check_model_params({**params, "seq_len": params.get("seq_len") or 1}, 10**9, path)
            forecaster = cls(**params, progress=False)
            tensors = {k: v.numpy() for k, v in ckpt["tensors"].items()}
            settings = meta.get("global")
            model = None if settings is None else model_from_state(
                {"settings": settings,
                 "arrays": {k[len("global."):]: v for k, v in tensors.items()
                            if k.startswith("global.")},
                 "weights": {k: v.numpy() for k, v in ckpt["state_dict"].items()}},
                forecaster.model, forecaster.hidden_size, forecaster.num_layers)
            forecaster.forecasters_ = {}
            for k, (name, entry) in enumerate(zip(meta["names"], meta["series"], strict=True)):
                check_model_params(entry["params"], len(tensors[f"s{k}.tail"]), path)
                f = Forecaster(**entry["params"], progress=False)
                arrays = {key[len(f"s{k}."):]: value for key, value in tensors.items()
                          if key.startswith(f"s{k}.")}
                rows = [int(e["state"]["series"]) for e in entry["pool"]
                        if e["family"] == "global"]
                if rows and model is None:
                    raise ValueError("a series' pool holds the global net, the file has none")
                restore_pool(f, entry, arrays, None,
                             {row: GlobalCandidate(model, row) for row in rows})
                f.tail_ = tail_from_meta(entry, arrays["tail"])
                f.tail_offsets_ = tail_offsets_from_meta(entry, len(f.tail_))
                f.fitted_ = True
                forecaster.forecasters_[str(name)] = f
            forecaster.skipped_ = {str(k): str(v) for k, v in meta["skipped"].items()}
            forecaster.history_ = History(**{k: v for k, v in meta["history"].items()
                                             if k != "epochs_run"})
            forecaster.period_ = int(meta["period"])
            forecaster.global_ = model
        except (KeyError, TypeError, ValueError, RuntimeError, RnnlabError) as exc:
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            raise CheckpointError(
                f"checkpoint '{path}' does not match the global model it names "
                f"({'; '.join(lines[:2])[:240]}); it may be from another rnnlab version or "
                "edited; retrain it") from None
        forecaster.fitted_ = True
        return forecaster


def panel_period(series: list[pd.Series]) -> int:
    """The season the panel's net and its seasonal indices use: the calendar's (12 for
    months), else the period found most often on the series (1 without one)."""
    dated = [s for s in series if isinstance(s.index, pd.DatetimeIndex)]
    for s in dated[:5]:
        period = calendar_period(s.index)
        if period:
            return period
    from .diagnostics import find_period

    found = [find_period(s.to_numpy(np.float64)) for s in series[:50]]
    found = [p for p in found if p]
    return int(pd.Series(found).mode()[0]) if found else 1


def pooled_interval(forecasters: dict[str, Forecaster], level: float) -> None:
    """One split-conformal interval for every series: at each step, the chosen forecast's
    errors at every series' origins, each divided by its series' scale, give the width;
    each series gets it times its own scale. Where its own origins are few (51 months of
    a car part), the others calibrate it."""
    if level <= 0:
        return
    errors = [f.interval_errors_ for f in forecasters.values()]  # (origins, H) each
    widths, counts = [], []
    for step in range(errors[0].shape[1]):
        # One step at a time: all steps of 100,000 series at once were gigabytes
        column = np.concatenate([e[:, step] for e in errors]).astype(np.float64)
        known = column[np.isfinite(column)]
        width = conformal_widths(known[:, None], level)
        if width is None:
            break
        widths.append(float(width[0]))
        counts.append(len(known))
    if not widths:
        return
    widths = smooth_widths(widths, counts)
    for f in forecasters.values():
        f.interval_width_ = widths * f.interval_scale_


def keep_interval_errors(f: Forecaster) -> None:
    """Of a fitted series, keep what `pooled_interval` reads, and no more: its fold errors
    divided by its scale (the mean absolute seasonal difference of its values before the
    first origin), in float32, and that scale. Its fold paths and values go: they were
    most of a fitted series' memory on a panel of 100,000."""
    folds, values = f.folds_, f.fit_values_
    f.interval_scale_ = loss_scale(values[:folds.start], f.seasons_[0] if f.seasons_ else None)
    f.interval_errors_ = ((folds.targets(values) - f.fold_paths_)
                          / f.interval_scale_).astype(np.float32)
    del f.fold_paths_, f.fit_values_


def fit_panel(forecaster: GlobalForecaster, panel: dict[str, pd.Series], split: PanelSplit,
              **fit_kwargs) -> GlobalForecaster:
    """Fit on every series' part before its test part; the test parts are never read."""
    fit_parts = {name: panel[name].iloc[: s.n_fit] for name, s in split.sizes.items()}
    return forecaster.fit(fit_parts, {name: s.n_val for name, s in split.sizes.items()},
                          **fit_kwargs)


# Series per job of the per-series pools: enough to pay a worker's round trip.
CHUNK = 16
_MODELS: dict = {}  # a worker's global models, rebuilt once from their numbers


def fit_series(job: tuple) -> list[tuple[str, Forecaster | str]]:
    """Fit the pools of a chunk of series (in a worker, or here): each series' Forecaster
    with the global net's view of it, or why it was skipped. The views go back without
    the nets; the caller attaches them again."""
    params, (model, hidden, layers), state, items = job
    models = {}
    if state is not None:
        if state["token"] not in _MODELS:
            _MODELS.clear()
            _MODELS[state["token"]] = {which: model_from_state(s, model, hidden, layers)
                                       for which, s in state.items() if which != "token"}
        models = _MODELS[state["token"]]
    out = []
    for name, k, series, n_val in items:
        extra = ()
        if models:
            view = GlobalCandidate(models["fold"], k, "fold")
            view.final_ = GlobalCandidate(models["final"], k, "final") \
                if models["final"] is not models["fold"] else None
            extra = (view,)
        forecaster = Forecaster(**params)
        try:
            fit_together([forecaster], series, n_val, extra=extra)
        except (DataError, ValueError) as exc:
            out.append((name, f"{name}: {str(exc).splitlines()[0][:200]}; skipped"))
            continue
        forecaster.global_row_ = k
        keep_interval_errors(forecaster)
        # The fold candidates were only scored (a panel reports no test row per candidate):
        # over 100,000 series they would be most of the memory
        del forecaster.fold_candidates_
        out.append((name, forecaster))
    return out


def _global_views(forecaster: Forecaster) -> list[GlobalCandidate]:
    """Every view of the global net a fitted series holds (its pool, its fold table)."""
    held = [c for c, _ in forecaster.pool_] + list(getattr(forecaster, "fold_candidates_", []))
    return [c for c in held if isinstance(c, GlobalCandidate)]
