"""The public estimator: `Forecaster(model="lstm").fit(series)`.

A fit runs named stages, each a function below:

1. `check_inputs`: the series (or, with features, the frame) checked and sorted;
2. `resolve_seq_len`: the window, two seasons of the period found on the training part;
3. `fit_pool`: the candidates (`rnnlab.candidates`: naive, seasonal naive, the mean, the
   closed-form linear forms, ETS, Theta, TSB) fitted on the values before the first
   rolling origin (`rnnlab.choose.make_folds`), with their paths from every origin;
4. `fit_nets`: the recurrent net (`rnnlab.recurrent`), one per seed, trained on the same
   values with the best linear form as its linear skip, early-stopped on the origins' span;
5. `choose_pool`: every candidate scored on the same origins, and one rule
   (`rnnlab.choose.choose`) picks or averages them;
6. `calibrate`: split-conformal interval widths from the chosen forecast's fold errors;
7. `refit_pool`: the chosen statistical candidates fitted again on all the data given.

It honours the contract of `rnnlab.base` (fit / predict / forecast, pandas in and out), so
`compare` and `sweep` work for it as for the baselines. torch loads inside the methods, so
`rnnlab forecast` and `rnnlab --help` can import this module without it.

    rnnlab train --data stock:A --model lstm --out runs/a && rnnlab forecast --run runs/a
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
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
    infer_freq,
    interval_width_from_meta,
    smooth_widths,
    tail_from_meta,
    tail_offsets_from_meta,
    track_level,
)
from .candidates import (
    STAT_FIT_MAX,
    Candidate,
    Linear,
    candidate_from_state,
    statistical_pool,
)
from .checkpoint import load_checkpoint, save_checkpoint
from .choose import Folds, choose, combine, fold_losses, loss_scale, make_folds, plausible
from .config import PRETRAINED, DataConfig, ModelConfig, TrainConfig, check, pool_families
from .errors import CheckpointError, ConfigError, DataError, RnnlabError
from .features import (
    CALENDAR_COLUMNS,
    FeatureScaler,
    check_frame,
    feature_names,
    fit_feature_scaler,
    uses_features,
)
from .metadata import check_meta
from .recurrent import NetCandidate, check_weight_shapes, inputs_matrix
from .windows import MIN_TRAIN_WINDOWS, Scaler, choose_seq_len, fit_scaler

# The Forecaster holds out this share of what it is fitted on for its rolling origins
# (at least): with the default 20% test part, that is 10% of the whole series.
VAL_FRACTION = DataConfig.val_fraction / (1 - DataConfig.test_fraction)
# Forecasts further ahead than this many steps are refused: each step costs a pass.
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
    """The forecast chosen from a pool of candidates, the recurrent net among them.

    Its keyword parameters are the options of `rnnlab train --help`, generated from the
    fields of `rnnlab.config.ModelConfig` and `TrainConfig` (defaults and their reasons
    live there), plus ``val_fraction``, the least share of the series given to `fit` that
    the rolling origins cover, and ``progress``. An unknown name is refused by name.

    After `fit`, ``candidates_`` lists every candidate with its fold loss and its weight in
    the forecast, ``net_`` is the recurrent candidate and ``model_`` its network.

    Examples
    --------
    >>> from rnnlab.data import load_series
    >>> series = load_series("sine")
    >>> f = Forecaster(model="gru", epochs=3, progress=False).fit(series[:800])
    >>> f.seq_len  # chosen at fit: two seasons of the period 63 found on the training part
    126
    >>> float(f.predict(series).index[0])
    12.6
    >>> len(f.forecast(5)), sum(c["weight"] for c in f.candidates_)
    (5, 1.0)
    """

    def __init__(self, **params):
        """Store the keyword parameters (see the class docstring); nothing is checked or
        computed until `fit`. An unknown name is refused with the valid ones."""
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
        """The model section; after fit, with ``strategy="auto"`` resolved (the net's)."""
        config = ModelConfig(**{f.name: getattr(self, f.name)
                                for f in dataclasses.fields(ModelConfig)})
        used = getattr(self, "strategy_", None)
        return dataclasses.replace(config, strategy=used) if used else config

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(TrainConfig)})

    def fit(self, series: pd.Series, val_size: int | None = None, *, should_stop=None,
            on_epoch_end=None, resume: dict | None = None) -> Forecaster:
        """Choose the forecast on rolling origins over the last `val_size` points (at
        least; default ``val_fraction`` of them) and fit it (the stages in the module's
        docstring).

        ``should_stop``, ``on_epoch_end`` and ``resume`` go to the net's training
        (`rnnlab.train.train`: interruption and exact resumption). With ``features`` (or
        ``calendar``) `series` is a DataFrame: the target first, then the named feature
        columns (`rnnlab.features`); predict, forecast and paths_from then take one too.
        """
        if val_size is not None and (isinstance(val_size, bool) or not isinstance(
                val_size, int | np.integer) or not 0 <= val_size < len(series)):
            raise ConfigError(f"val_size must be a whole number of values from 0 to below the "
                              f"{len(series)} given, got {val_size!r}; pass e.g. val_size="
                              f"{len(series) // 10}, or leave it out for val_fraction's share")
        fit_together([self], series, val_size, should_stop=should_stop, on_epoch_end=on_epoch_end,
             resume=resume)
        return self

    # --- the net, for the lab (explain, tune, reports) ---------------------------------

    @property
    def model_(self):
        net = getattr(self, "net_", None)
        return None if net is None else net.net

    @model_.setter
    def model_(self, net) -> None:  # a probe may swap in a network of its own
        self.net_.net = net

    def _inputs(self, frame: pd.DataFrame, extra_dates: int = 0) -> np.ndarray:
        """The net's raw inputs (n, 1 + F) of a checked frame: target, features, calendar;
        `extra_dates` rows after it hold the calendar of the dates ahead."""
        dates = future_index(frame.index, extra_dates) if extra_dates else None
        return inputs_matrix(frame, self.calendar, extra_dates, dates)

    def _units(self, matrix: np.ndarray) -> np.ndarray:
        """Raw inputs in the net's units (its scalers, fitted before the first origin)."""
        return self.net_.units(matrix)

    @property
    def scaler_(self) -> Scaler:
        return self.net_.scaler if getattr(self, "net_", None) is not None \
            else self.target_scaler_

    @property
    def feature_scaler_(self):
        return getattr(getattr(self, "net_", None), "feature_scaler", None)

    @property
    def epochs_run_(self) -> int:
        return self.history_.epochs_run

    def _uses_features(self) -> bool:
        return uses_features(self.features, self.calendar)

    @property
    def min_history(self) -> int:  # type: ignore[override]
        """The values a forecast needs before its origin: the window, the longest season
        a chosen seasonal naive repeats, or what a chosen candidate needs (two values
        for the nets that scale a context by its steps)."""
        needs = [getattr(c, "min_origin", 1) for c, _ in getattr(self, "pool_", [])]
        return max([self.seq_len or 1, *needs])

    # --- forecasts ----------------------------------------------------------------------

    def predict(self, series, start: int | None = None) -> pd.Series:
        """One-step-ahead predictions for every point after the first `seq_len` (or from
        position `start` on), each made from the values before its date only."""
        self._check_fitted()
        start = max(self.min_history, int(start or 0))
        target, matrix, index = self._data(series, self.min_history + 1)
        start = min(start, len(target))
        if matrix is None:  # a level shift is followed (`rnnlab.base.track_level`)
            values = self._track(target, start)[0]
            values = values[len(values) - (len(target) - start):]
        else:
            values = self._combined(target, matrix, np.arange(start, len(target)), 1)[:, 0]
        return pd.Series(values, index=index[start:], name=self.model)

    def _predict_all(self, values: np.ndarray, first: int) -> np.ndarray:
        """The one-step forecast of each of values[first:], untracked."""
        return self._combined(values, None, np.arange(first, len(values)), 1)[:, 0]

    def _track(self, values: np.ndarray, needed: int, events: list | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """`rnnlab.base.track_level` of the chosen forecast over values, for predictions
        from position `needed` on: shifts are looked for from STAT_FIT_MAX values before
        it (the span the statistical candidates are fitted on), so a long series costs
        one pass over that span, not over all of it. Returns (predictions from the first
        position looked at, offsets (n,))."""
        first = min(max(self.min_history, needed - STAT_FIT_MAX), len(values))
        return track_level(values, first, self.error_scale_, self._predict_all, events)

    def paths_from(self, values, origins: np.ndarray, horizon: int) -> np.ndarray:
        """The `horizon`-step forecast from each origin o (values[:o] known), all origins
        in batched passes: (n_origins, horizon). With features `values` is the frame."""
        self._check_fitted()
        origins = np.asarray(origins, dtype=np.int64)
        if not len(origins):
            return np.zeros((0, horizon))
        target, matrix, _ = self._data(values)
        if origins.min() < self.min_history or origins.max() > len(target):
            raise ValueError(f"origins must lie in [{self.min_history}, {len(target)}]")
        if matrix is not None or not self.error_scale_:
            return self._combined(target, matrix, origins, horizon)
        return self._tracked_paths(target, origins, horizon)

    def _tracked_paths(self, values: np.ndarray, origins: np.ndarray, horizon: int,
                       events: list | None = None) -> np.ndarray:
        """Paths that follow a level shift: each origin takes out the shifts found from
        the values before it (`rnnlab.base.track_level`), from where each began, forecasts
        and adds the last one back. `events` are `shift_events`' (found here if None)."""
        if events is None:
            events = self.shift_events(values, origins)
        known = np.searchsorted(np.array([e[0] for e in events] or [0]), origins,
                                side="right") if events else np.zeros(len(origins), int)
        out = np.empty((len(origins), horizon))
        positions = np.arange(len(values))
        for k in np.unique(known):
            rows = known == k
            moved, after = values.copy(), np.zeros(rows.sum())
            for _, first, amount in events[:k]:
                moved -= amount * (positions >= first)
                after += amount * (origins[rows] - 1 >= first)
            out[rows] = floor_paths(self._combined(moved, None, origins[rows], horizon)
                                    + after[:, None], self.floor_)
        return out

    def shift_events(self, values: np.ndarray, origins: np.ndarray) -> list:
        """The level shifts `rnnlab.base.track_level` finds in the values before the last
        of `origins`, looked for from the first, as (known_at, first_position, amount)."""
        events: list = []
        self._track(values[:origins.max()], int(origins.min()), events)
        return events

    def forecast(self, horizon: int, series=None) -> pd.Series:
        """The next `horizon` values after `series` (default: the data seen in fit, or
        given to `set_history`)."""
        self._check_fitted()
        horizon = check_forecast_work(self, horizon)
        offset = 0.0
        if series is None:
            target = self.tail_.to_numpy(np.float64)
            index, states = self.tail_.index, self.tail_states_
            if self.tail_offsets_ is not None:  # a level shift found in the whole series
                target, offset = target - self.tail_offsets_, self.tail_offsets_[-1]
            frame = pd.concat([self.tail_, self.tail_features_], axis=1) \
                if self._uses_features() else None
        else:
            frame = self._frame(series, self.min_history) if self._uses_features() else None
            checked = check_series(series if frame is None else frame.iloc[:, 0],
                                   self.min_history)
            target, index, states = checked.to_numpy(np.float64), checked.index, None
            if frame is None and self.error_scale_:
                offsets = self._track(target, len(target))[1]
                target, offset = target - offsets, offsets[-1]
        matrix = None
        if frame is not None:
            dates = future_index(index, horizon)
            matrix = inputs_matrix(frame, self.calendar, horizon, dates)
        values = self._combined(target, matrix, np.array([len(target)]), horizon, states)[0]
        values = floor_paths(values + offset, self.floor_)
        return pd.Series(values, index=future_index(index, horizon),
                         name=f"{self.label()} forecast")

    def set_history(self, series) -> None:
        """Make `forecast` continue after `series` (with features: a frame), from the
        start of the data the fit was given: each filter runs through it."""
        self._check_fitted()
        frame = self._frame(series, self.min_history) if self._uses_features() else None
        self._remember_tail(series if frame is None else frame, self.min_history)

    def _remember_tail(self, data, keep: int) -> None:
        target = data.iloc[:, 0] if isinstance(data, pd.DataFrame) else data
        reach = max([getattr(c, "lookback", 1) for c, _ in self.pool_] or [1])
        tail = data.iloc[-max(keep, 50, reach):]  # the values the next forecast reads
        self.tail_ = tail.iloc[:, 0].copy() if isinstance(tail, pd.DataFrame) else tail.copy()
        self.tail_features_ = tail.iloc[:, 1:].copy() if isinstance(tail, pd.DataFrame) \
            else None
        values = target.to_numpy(np.float64)
        offsets = np.zeros(len(values))
        if self.tail_features_ is None and self.error_scale_:
            # The level shifts found with all of the values: the tail alone may start
            # after one, and each filter runs through the values with them taken out.
            offsets = self._track(values, len(values) - len(tail))[1]
        self.tail_offsets_ = offsets[-len(tail):] if offsets.any() else None
        before = (values - offsets)[:len(values) - len(tail)]
        self.tail_states_ = [candidate.advance(before) for candidate, _ in self.pool_]

    def _frame(self, data, min_length: int = 1) -> pd.DataFrame:
        return check_frame(data, feature_names(self.features), min_length)

    def _data(self, data, min_length: int = 1):
        """(target (n,), raw net inputs (n, 1 + F) or None, index) of `data`."""
        if self._uses_features():
            frame = self._frame(data, min_length)
            return (frame.iloc[:, 0].to_numpy(np.float64),
                    inputs_matrix(frame, self.calendar), frame.index)
        if isinstance(data, np.ndarray):
            return np.asarray(data, np.float64), None, pd.RangeIndex(len(data))
        checked = check_series(data, min_length)
        return checked.to_numpy(np.float64), None, checked.index

    def _combined(self, target: np.ndarray, matrix, origins: np.ndarray, horizon: int,
                  states: list | None = None) -> np.ndarray:
        """The chosen candidates' paths combined by the one rule (`rnnlab.choose.combine`),
        each floored at zero where the fit data never went below it."""
        paths = []
        for k, (candidate, _) in enumerate(self.pool_):
            data = matrix if (candidate.family == "net" and matrix is not None) else target
            state = None if states is None else states[k]
            paths.append(floor_paths(candidate.paths(data, origins, horizon, state),
                                     self.floor_))
        return combine(paths)

    # --- persistence ------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write a safe checkpoint: the pool's numbers, the net's weights and the series'
        tail (`rnnlab.fastpath.save_fast` adds a copy that forecasts without torch)."""
        import torch

        self._check_fitted()
        meta, arrays = pool_meta(self)
        tensors = {"tail": torch.tensor(self.tail_.to_numpy(np.float64))}
        tensors.update({key: torch.tensor(np.asarray(value, np.float64))
                        for key, value in arrays.items()})
        if self._uses_features():
            meta["params"]["features"] = ",".join(feature_names(self.features)) or None
            meta["features"] = {"scaler": self.feature_scaler_.state_dict(),
                                "columns": [str(c) for c in self.tail_features_.columns],
                                "n_inputs": self.model_.n_features}
            tensors["tail_features"] = torch.tensor(
                self.tail_features_.to_numpy(np.float64).reshape(len(self.tail_), -1))
        state = self.model_.state_dict() if self.model_ is not None else {}
        save_checkpoint(path, self.model, state, meta, tensors)

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load a checkpoint written by `save`, refusing unsafe or mismatched files."""
        ckpt = load_checkpoint(path)
        meta = ckpt["meta"]
        tail = ckpt["tensors"].get("tail")
        if tail is None:
            raise CheckpointError(f"checkpoint '{path}' stores no series tail; retrain it")
        check_meta(meta, tail.numpy(), path)  # the checks of the numpy loader, shared
        try:
            params = dict(meta["params"])
            forecaster = cls(**params, progress=False)
            if ckpt["model"] != params["model"]:
                raise ValueError(f"model {ckpt['model']!r} vs parameters {params['model']!r}")
            arrays = {k: v.numpy() for k, v in ckpt["tensors"].items()}
            net = _load_net(forecaster, meta, ckpt["state_dict"])
            restore_pool(forecaster, meta, arrays, net)
            forecaster.tail_ = tail_from_meta(meta, arrays["tail"])
            forecaster.tail_offsets_ = tail_offsets_from_meta(meta, len(forecaster.tail_))
            if forecaster._uses_features():
                forecaster.tail_features_ = pd.DataFrame(
                    arrays["tail_features"], index=forecaster.tail_.index,
                    columns=meta["features"]["columns"])
        except CheckpointError:
            raise  # says what is wrong itself (the pretrained weights' check)
        except (KeyError, TypeError, ValueError, OverflowError, RuntimeError,
                RnnlabError) as exc:
            # load_state_dict puts the useful line (which tensor, which shapes) second.
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            first = "; ".join(lines[:2])[:240]
            raise CheckpointError(
                f"checkpoint '{path}' does not match the model it names ({first}); it may be "
                "from another rnnlab version or edited; retrain it"
            ) from None
        forecaster.fitted_ = True
        return forecaster


def floor_paths(paths: np.ndarray, floor: float | None) -> np.ndarray:
    """`paths` floored at `floor` (None: as they are)."""
    return paths if floor is None else np.maximum(paths, floor)


def fit_seeds(template: Forecaster, series: pd.Series, val_size: int,
              seeds: list[int]) -> list[Forecaster]:
    """Fit one copy of `template` per seed, all in one training run.

    Each is as usable as a separate ``Forecaster(seed=s).fit(series, val_size)``. What the
    seeds share (the window, the folds, the statistical candidates) is computed once; each
    seed's net trains with its own weights, batch order, dropout and early stopping
    (`rnnlab.train.train`), and each forecaster's choice is made with its own net.

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
        fit_together(forecasters, series, int(val_size))
    return forecasters


# --- the fit, stage by stage -----------------------------------------------------------


@dataclasses.dataclass
class PoolFit:
    """What the stages of one fit share: its data, its folds, and the statistical
    candidates fitted on the values before the first origin, with their fold paths."""

    name: str
    values: np.ndarray  # the target, (n,)
    matrix: np.ndarray  # the net's raw inputs, (n, 1 + F)
    folds: Folds
    seasons: list[int]
    candidates: list[Candidate]
    paths: list[np.ndarray]  # each (n_origins, H), floored
    notes: dict[str, tuple[str, str]]  # candidates left out: name -> (family, why)
    # The linear forms, with their fold paths, where they are the net's start only
    forms: list = dataclasses.field(default_factory=list)

    @property
    def targets(self) -> np.ndarray:
        return self.folds.targets(self.values)

    @property
    def floor(self) -> float | None:
        """0 where the values the candidates are fitted on never went below it."""
        return 0.0 if self.values[:self.folds.start].min() >= 0 else None


def fit_together(forecasters: list[Forecaster], data, n_val: int | None, extra: tuple = (),
         **train_kwargs) -> None:
    """Fit forecasters that differ only in their seed: the stages of the module. `extra`
    candidates (a global net's view of this series) join the pool as fitted: each
    forecasts from the folds' origins as it is, and its ``final_`` (if any) replaces it
    once chosen. With them the net family is theirs: no net of the series' own is
    trained."""
    first = forecasters[0]
    check(first.model_config())
    check(first.train_config())
    series, frame = check_inputs(first, data)
    values = series.to_numpy(np.float64)
    n = len(values)
    n_val = int(round(n * first.val_fraction)) if n_val is None else int(n_val)
    folds = make_folds(n, first.horizon, n_val, str(series.name or "series"))
    resolve_seq_len(forecasters, values[:folds.start])
    fit = fit_pool(first, series, frame, folds, train_kwargs.get("should_stop"))
    for candidate in extra:
        fit.candidates.append(candidate)
        fit.paths.append(floor_paths(candidate.paths(fit.values, folds.origins,
                                                     folds.horizon), fit.floor))
    nets = [None] * len(forecasters) if extra else fit_nets(forecasters, fit, **train_kwargs)
    refitted: dict[int, Candidate] = {}  # one refit serves every seed that chose it
    for forecaster, net in zip(forecasters, nets, strict=True):
        choose_pool(forecaster, fit, net)
        track_shifts(forecaster, fit)
        calibrate(forecaster, fit)
        refit_pool(forecaster, fit, refitted)
        forecaster._remember_tail(series if frame is None else frame,
                                  forecaster.min_history)
        forecaster.fitted_ = True


def check_inputs(first: Forecaster, data) -> tuple[pd.Series, pd.DataFrame | None]:
    """The target series and, with features, the whole frame, checked: finite values,
    dates in order and none twice (`rnnlab.base.check_series`)."""
    if first._uses_features():
        frame = first._frame(data)
        return check_series(frame.iloc[:, 0]), frame
    return check_series(data), None


def resolve_seq_len(forecasters: list[Forecaster], train: np.ndarray) -> None:
    """Give forecasters with ``seq_len=None`` the window `choose_seq_len` picks on `train`
    (the values before the first origin), in `seq_len` itself: predict, save, load and the
    numpy fast path all read that number (and ``recurrent_len`` where the window spans a
    longer season and none was given). `window_` keeps the choice, so a refit chooses
    again."""
    first = forecasters[0]
    chosen = getattr(first, "window_", None)
    if first.seq_len is not None and (chosen is None or chosen.seq_len != first.seq_len):
        return  # a window given by the caller always wins
    choice = choose_seq_len(train, max(len(train) - MIN_TRAIN_WINDOWS, 1))
    own = first.recurrent_len is not None and \
        (chosen is None or chosen.recurrent_len != first.recurrent_len)
    for forecaster in forecasters:
        forecaster.seq_len, forecaster.window_ = choice.seq_len, choice
        if not own:
            forecaster.recurrent_len = choice.recurrent_len


# A pool that has run this long (as long as a long epoch, `rnnlab.train`) stops at its next
# candidate when a stop is asked for; a shorter one finishes first.
LONG_POOL_SECONDS = 10.0


def fit_pool(first: Forecaster, series: pd.Series, frame, folds: Folds,
             should_stop=None) -> PoolFit:
    """Stage 3: the statistical candidates, fitted on the values before the first origin,
    and their floored paths from every origin. A candidate that needs more values than
    that, or that cannot be fitted, is left out with a note. `should_stop` (Ctrl-C or
    SIGTERM asked for a stop) is polled between candidates once the pool has run
    LONG_POOL_SECONDS (a series of millions of values):
    before the net's training nothing is worth keeping, so the fit ends there
    (KeyboardInterrupt). A shorter pool finishes first, as a short epoch does."""
    from .diagnostics import repeated_season

    values = series.to_numpy(np.float64)
    train = values[:folds.start]
    period, longer = repeated_season(train)
    seasons = sorted({p for p in (period, longer, calendar_period(series.index))
                      if p and 1 < p < folds.start // 2})
    kinds = ("standard", "window") if first.scaler == "auto" else (first.scaler,)
    families = _families(first)
    # The net starts from the best linear form: those are fitted for it even where they
    # are no candidates themselves.
    built = (*families, "linear") if "net" in families else families
    pool = statistical_pool(train, folds.horizon, first.seq_len, seasons, built, kinds,
                            _strategies(first))
    matrix = values[:, None] if frame is None else inputs_matrix(frame, first.calendar)
    fit = PoolFit(str(series.name or "series"), values, matrix, folds, seasons, [], [], {})
    long = math.inf if should_stop is None else time.perf_counter() + LONG_POOL_SECONDS
    for candidate in pool:
        if time.perf_counter() > long and should_stop():
            raise KeyboardInterrupt
        if candidate.min_fit > folds.start:
            fit.notes[candidate.name] = (candidate.family, candidate.short_note(folds.start))
            continue
        try:
            candidate.fit(train)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError, DataError) as exc:
            fit.notes[candidate.name] = (candidate.family,
                                         f"could not be fitted ({str(exc)[:80]})")
            continue
        fit.candidates.append(candidate)
        fit.paths.append(floor_paths(candidate.paths(values, folds.origins, folds.horizon),
                                     fit.floor))
    if "linear" not in families:  # fitted for the net only
        keep = [k for k, c in enumerate(fit.candidates) if c.family != "linear"]
        fit.forms = [(c, p) for c, p in zip(fit.candidates, fit.paths, strict=True)
                     if c.family == "linear"]
        fit.candidates = [fit.candidates[k] for k in keep]
        fit.paths = [fit.paths[k] for k in keep]
        fit.notes = {k: v for k, v in fit.notes.items() if v[0] != "linear"}
    return fit


def _families(first: Forecaster) -> tuple[str, ...]:
    """The pool's families; with model pretrained the net is the shipped one, as it is.

    >>> _families(Forecaster(model="pretrained", candidates="ets,net"))
    ('ets', 'pretrained')
    """
    families = pool_families(first.candidates)
    if first.model == PRETRAINED:
        families = tuple(dict.fromkeys("pretrained" if f == "net" else f for f in families))
    return families


def _strategies(first: Forecaster) -> tuple[str, ...]:
    """How the linear forms and the net may forecast many steps: the one set, or both."""
    if first.strategy != "auto":
        return (first.strategy,)
    if feature_names(first.features) and first.horizon > 1:
        return ("direct",)  # recursion cannot feed features unknown after the origin
    return ("recursive", "direct") if first.horizon > 1 else ("recursive",)


def calendar_period(index: pd.Index) -> int | None:
    """The season of a dated index's frequency: 12 for months, 4 for quarters, 24 for
    hours, the steps per day below that (statsmodels' table); None without dates.

    >>> calendar_period(pd.date_range("2000-01-01", periods=30, freq="MS"))
    12
    """
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 3:
        return None
    from statsmodels.tsa.tsatools import freq_to_period

    freq = index.freq or infer_freq(index[:200])
    if freq is None:
        return None
    try:
        return int(freq_to_period(freq))
    except (ValueError, AttributeError):
        step = pd.Timedelta(index[1] - index[0])
        day = pd.Timedelta(days=1)
        return int(day / step) if step < day and day % step == pd.Timedelta(0) else None


def fit_nets(forecasters: list[Forecaster], fit: PoolFit, **train_kwargs) -> list:
    """Stage 4: one net per seed, on the best raw-scale linear form's scaler and strategy
    with that form as its linear skip, trained on the values before the first origin and
    early-stopped on the origins' span; [None, ...] where the net is no candidate or the
    values before the first origin hold too few windows for it."""
    from .recurrent import train_nets

    first = forecasters[0]
    if "net" not in _families(first):
        return [None] * len(forecasters)
    start, horizon = fit.folds.start, fit.folds.horizon
    if np.ptp(fit.values[:start]) == 0:
        fit.notes[first.model] = ("net", f"the {start} values before the first origin never "
                                         "change: nothing to train on")
        return [None] * len(forecasters)
    form = _best_linear(fit, feature_names(first.features) and horizon > 1)
    if form is not None:
        scaler, strategy = form.scaler_, form.strategy
    else:
        kind = first.scaler if first.scaler != "auto" else "window"
        scaler, strategy = fit_scaler(kind, fit.values[:start], fit.name), _strategies(first)[-1]
    config = dataclasses.replace(first.model_config(), strategy=strategy)
    need = first.seq_len + MIN_TRAIN_WINDOWS + config.outputs - 1
    if need > start:
        fit.notes[first.model] = ("net", f"seq_len {first.seq_len} needs {need} values before "
                                         f"the first origin to train, has {start}")
        return [None] * len(forecasters)
    feature_scaler = None
    if first._uses_features():
        columns = [*map(str, feature_names(first.features)),
                   *(CALENDAR_COLUMNS if first.calendar else ())]
        feature_scaler = fit_feature_scaler(columns, fit.matrix[:start, 1:])
    skip = form.units_ if form is not None and first.linear_skip else None
    for forecaster in forecasters:
        forecaster.strategy_ = strategy
    return train_nets(config, first.train_config(), [f.seed for f in forecasters],
                      fit.matrix, start, scaler, skip, feature_scaler,
                      progress=first.progress, **train_kwargs)


def _best_linear(fit: PoolFit, direct_only: bool) -> Linear | None:
    """The raw-scale linear form with the lowest fold loss (None without one)."""
    pairs = fit.forms or list(zip(fit.candidates, fit.paths, strict=True))
    forms = [(c, p) for c, p in pairs if c.family == "linear"
             and not c.log and (c.strategy == "direct" or not direct_only)]
    if not forms:
        return None
    scale = loss_scale(fit.values[:fit.folds.start], fit.seasons[0] if fit.seasons else None)
    losses = [fold_losses(p[None], fit.targets, scale).mean() for _, p in forms]
    return forms[int(np.argmin(losses))][0]


def choose_pool(forecaster: Forecaster, fit: PoolFit, net: NetCandidate | None) -> None:
    """Stage 5: every candidate's fold loss, the one rule's weights, and the table."""
    from .history import History

    candidates, paths, notes = list(fit.candidates), list(fit.paths), dict(fit.notes)
    if net is not None:
        twin = any(c.family == "linear" for c in candidates)  # the form it started from
        if twin and net.history.best_epoch == 0 and net.net.skip is not None:
            notes[net.name] = ("net", "no epoch beat its untrained start, its linear part, on "
                                      "the origins' span: it is that linear form")
        else:
            candidates.append(net)
            paths.append(floor_paths(net.paths(fit.matrix if forecaster._uses_features()
                                               else fit.values, fit.folds.origins,
                                               fit.folds.horizon), fit.floor))
    stack = np.stack(paths) if paths else np.zeros((0, len(fit.folds.origins), fit.folds.horizon))
    scale = loss_scale(fit.values[:fit.folds.start], fit.seasons[0] if fit.seasons else None)
    losses = fold_losses(stack, fit.targets, scale)
    usable = plausible(stack, fit.values, fit.folds.origins)
    weights = choose(losses, [c.family for c in candidates], usable)
    if not weights.any():
        reasons = [f"{k} {v[1]}" for k, v in list(notes.items())[:2]]
        if len(candidates) and not usable.any():
            reasons.append(f"the fold paths of {', '.join(c.name for c in candidates[:3])} "
                           "leave the range the values had reached at their origins (a "
                           "constant past allows only that constant)")
        raise DataError(f"no candidate could forecast {fit.name}: " + "; ".join(reasons)
                        + "; use a shorter seq_len, a shorter horizon, more candidates or "
                          "a longer series")
    forecaster.candidates_ = [
        {"name": c.name, "family": c.family, "loss": float(np.mean(losses[k])),
         "weight": float(weights[k]),
         "note": "" if usable[k] else "its fold paths leave the range known at their "
                                      "origin, widened by its span"}
        for k, c in enumerate(candidates)] + [
        {"name": name, "family": family, "loss": None, "weight": 0.0, "note": note}
        for name, (family, note) in notes.items()]
    forecaster.pool_ = [(c, float(w)) for c, w in zip(candidates, weights, strict=True) if w > 0]
    forecaster.fold_candidates_ = candidates  # as scored: for the test report, not saved
    forecaster.fit_values_ = fit.values  # what the folds were cut from (pooled intervals)
    forecaster.fold_paths_ = combine([stack[k] for k in np.flatnonzero(weights)])
    forecaster.net_ = net
    forecaster.history_ = net.history if net is not None else History(stopped="no_net")
    forecaster.folds_ = fit.folds
    forecaster.n_train_, forecaster.n_val_ = fit.folds.start, fit.folds.span
    forecaster.seasons_ = fit.seasons
    train = fit.values[:fit.folds.start]
    forecaster.train_range_ = (float(train.min()), float(train.max()))
    forecaster.floor_ = 0.0 if fit.values.min() >= 0 else None
    forecaster.target_scaler_ = fit_scaler("window", train, fit.name) if np.ptp(train) \
        else Scaler("window", float(train[0]), 1.0, True)


def track_shifts(forecaster: Forecaster, fit: PoolFit) -> None:
    """Stage 5b: level-shift tracking (`rnnlab.base.track_level`) of the chosen forecast,
    on where it does no harm to the forecasts from the rolling origins. The scale of a
    shift is the chosen forecast's one-step error on the origins (at least a thousandth of
    the values' spread, so rounding is never a shift). A level that drops after the last
    origin (`drop`'s) is followed only so; a season the window cannot see gives runs of
    one-sign errors too, and there tracking would drag the forecasts off."""
    forecaster.error_scale_ = None
    if forecaster._uses_features():
        return  # the target alone is tracked; a net reading features is not moved
    if all(getattr(c, "window_level", False) for c, _ in forecaster.pool_):
        return  # nets that read each context relative to its own level follow a shift
    errors = fit.targets[:, 0] - forecaster.fold_paths_[:, 0]
    floor = 1e-3 * float(np.std(fit.values[:fit.folds.start]))
    forecaster.error_scale_ = max(float(np.sqrt(np.mean(errors ** 2))), floor) or None
    if forecaster.error_scale_ is None:
        return
    origins = fit.folds.origins[fit.folds.origins >= forecaster.min_history]
    events = forecaster.shift_events(fit.values, origins)
    if not events:
        return  # no shift before an origin: the tracked paths are the plain ones, no harm
    targets = fit.folds.targets(fit.values)[-len(origins):]
    tracked = forecaster._tracked_paths(fit.values, origins, fit.folds.horizon, events)
    plain = forecaster._combined(fit.values, None, origins, fit.folds.horizon)
    if np.nanmean(np.abs(tracked - targets)) > np.nanmean(np.abs(plain - targets)) * (1 + 1e-9):
        forecaster.error_scale_ = None


def calibrate(forecaster: Forecaster, fit: PoolFit) -> None:
    """Stage 6: split-conformal half-widths per step from the chosen forecast's errors at
    every origin (`rnnlab.base.conformal_widths`), never narrowing with the step; None
    where there are too few origins for the level."""
    forecaster.interval_width_ = None
    if forecaster.interval <= 0:
        return
    errors = fit.targets - forecaster.fold_paths_  # NaN where the data ends
    widths, counts = [], []
    for step in range(errors.shape[1]):
        known = errors[np.isfinite(errors[:, step]), step]
        width = conformal_widths(known[:, None], forecaster.interval)
        if width is None:  # too few origins for the level: `interval_widths` extends
            break
        widths.append(float(width[0]))
        counts.append(len(known))
    if widths:
        forecaster.interval_width_ = smooth_widths(widths, counts)
    else:  # too few origins: the pretrained net's own quantiles, where it forecasts
        forecaster.interval_width_ = quantile_widths(forecaster, fit)


def quantile_widths(forecaster: Forecaster, fit: PoolFit) -> np.ndarray | None:
    """The interval's half-widths per step from the quantiles of the pretrained members of
    the pool, forecast from the end of the fit data (None where none is kept)."""
    from .pretrained import interval_bounds

    members = [c for c, _ in forecaster.pool_ if c.family == "pretrained"]
    if not members:
        return None
    ends = np.array([len(fit.values)])
    q = np.mean([c.quantiles(fit.values, ends, fit.folds.horizon)[0] for c in members], axis=0)
    lower, upper = interval_bounds(q, forecaster.interval)
    half = np.maximum(upper - lower, 0.0) / 2
    return smooth_widths(half, np.ones(len(half))) if np.isfinite(half).all() else None


def refit_pool(forecaster: Forecaster, fit: PoolFit, refitted: dict) -> None:
    """Stage 7: each chosen statistical candidate fitted again on all the values (ETS
    keeps its form); the net stays as trained. A candidate whose forecast from the end
    then leaves the values' range widened by its span is dropped from the mean."""
    if not forecaster.refit:
        return
    pool = []
    for candidate, weight in forecaster.pool_:
        if getattr(candidate, "final_", None) is not None:
            candidate = candidate.final_  # trained again on all the data, elsewhere
        elif candidate.family != "net":
            if id(candidate) not in refitted:
                refitted[id(candidate)] = _refitted(candidate, fit.values)
            candidate = refitted[id(candidate)]
        pool.append((candidate, weight))
    forecaster.pool_ = pool
    ends = np.array([len(fit.values)])
    inside = [bool(plausible(floor_paths(c.paths(
        fit.matrix if c.family == "net" and forecaster._uses_features() else fit.values,
        ends, fit.folds.horizon), forecaster.floor_)[None], fit.values, ends)[0])
        for c, _ in pool]
    if all(inside):
        return
    kept = [(c, w) for (c, w), ok in zip(pool, inside, strict=True) if ok]
    for row in forecaster.candidates_:
        if any(row["name"] == c.name for (c, _), ok in zip(pool, inside, strict=True)
               if not ok):
            row["weight"], row["note"] = 0.0, "its forecast from the end leaves the range"
    if not kept:
        from .candidates import Naive

        kept = [(Naive(), 1.0)]
    total = sum(w for _, w in kept)
    forecaster.pool_ = [(c, w / total) for c, w in kept]
    for row in forecaster.candidates_:
        match = [w for c, w in forecaster.pool_ if c.name == row["name"]]
        row["weight"] = match[0] if match else row["weight"] * 0.0


# --- the pool in a checkpoint ------------------------------------------------------------


def _refitted(candidate: Candidate, values: np.ndarray) -> Candidate:
    """A copy of `candidate` fitted on all of `values` (ETS keeps its form); the candidate
    as it was where that fails (a log form meeting a zero)."""
    import copy

    again = copy.deepcopy(candidate)
    try:
        if again.family == "ets":
            again.fit(values, (again.trend_, again.damped_, again.season_))
        else:
            again.fit(values)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError, DataError):
        return candidate
    return again


def pool_meta(forecaster: Forecaster) -> tuple[dict, dict[str, np.ndarray]]:
    """What a checkpoint keeps of a fitted forecaster: JSON-able numbers, and the arrays
    (the linear forms' maps) that go beside them as tensors."""
    arrays: dict[str, np.ndarray] = {}
    pool = []
    for k, (candidate, weight) in enumerate(forecaster.pool_):
        state = {} if candidate.family in ("net", "global") else candidate.to_state()
        for key, value in list(state.items()):
            if isinstance(value, np.ndarray):
                arrays[f"pool.{k}.{key}"] = value
                state[key] = f"pool.{k}.{key}"
        pool.append({"family": candidate.family, "name": candidate.name,
                     "weight": weight, "state": state})
    index = forecaster.tail_.index
    params = {k: v for k, v in forecaster.get_params().items() if k != "progress"}
    return {
        "params": params,
        "scaler": forecaster.scaler_.state_dict(),
        "history": forecaster.history_.to_dict(),
        "n_train": forecaster.n_train_, "n_val": forecaster.n_val_,
        "train_range": list(forecaster.train_range_),
        "strategy_used": getattr(forecaster, "strategy_", None),
        "floor": forecaster.floor_,
        "error_scale": forecaster.error_scale_,
        "tail_offsets": None if forecaster.tail_offsets_ is None
        else forecaster.tail_offsets_.tolist(),
        "candidates": forecaster.candidates_,
        "pool": pool,
        "tail_states": forecaster.tail_states_,
        "interval": forecaster.interval,
        "interval_width": None if forecaster.interval_width_ is None
        else forecaster.interval_width_.tolist(),
        "series_name": str(forecaster.tail_.name),
        "index_kind": "datetime" if isinstance(index, pd.DatetimeIndex) else "numeric",
        "index_name": index.name,
        "tail_index": [str(i) for i in index] if isinstance(index, pd.DatetimeIndex)
        else [float(i) for i in index],
        "tail_index_is_int": bool(pd.api.types.is_integer_dtype(index)),
    }, arrays


def restore_pool(forecaster: Forecaster, meta: dict, arrays: dict[str, np.ndarray],
                 net: Candidate | None, views: dict | None = None) -> None:
    """Set a loaded forecaster's fitted state from `pool_meta`'s numbers (ValueError or
    KeyError where they do not make one); `net` is the network candidate, loaded by torch
    or by numpy (`rnnlab.fastpath`); `views` the global net's candidates by series row."""
    from .history import History

    pool = []
    for entry in meta["pool"]:
        weight = float(entry["weight"])
        if not (np.isfinite(weight) and 0 < weight <= 1):
            raise ValueError(f"a candidate's weight is {weight}, not in (0, 1]")
        if entry["family"] == "net":
            if net is None:
                raise ValueError("the pool holds the net, the checkpoint no weights for it")
            pool.append((net, weight))
            continue
        if entry["family"] == "global":
            pool.append(((views or {})[int(entry["state"]["series"])], weight))
            continue
        state = {k: (arrays[v] if isinstance(v, str) and v.startswith("pool.") else v)
                 for k, v in entry["state"].items()}
        pool.append((candidate_from_state(entry["family"], state), weight))
    if not pool or abs(sum(w for _, w in pool) - 1) > 1e-6:
        raise ValueError("the pool's weights do not sum to 1")
    forecaster.pool_ = pool
    forecaster.net_ = net if isinstance(net, NetCandidate) else None
    forecaster.numpy_net_ = net
    history = {k: v for k, v in meta["history"].items() if k != "epochs_run"}
    forecaster.history_ = History(**history)
    forecaster.strategy_ = meta.get("strategy_used")
    forecaster.n_train_, forecaster.n_val_ = int(meta["n_train"]), int(meta["n_val"])
    forecaster.train_range_ = tuple(float(x) for x in meta["train_range"])
    floor = meta.get("floor")
    forecaster.floor_ = None if floor is None else float(floor)
    forecaster.candidates_ = list(meta["candidates"])
    states = meta["tail_states"]
    if not isinstance(states, list) or len(states) != len(pool):
        raise ValueError("the tail's filter states do not match the pool")
    forecaster.tail_states_ = states
    forecaster.target_scaler_ = Scaler.from_state(meta["scaler"])
    forecaster.interval_width_ = interval_width_from_meta(meta)
    forecaster.error_scale_ = error_scale_from_meta(meta)


def _load_net(forecaster: Forecaster, meta: dict, state_dict: dict) -> NetCandidate | None:
    """The network candidate of a checkpoint, rebuilt by torch (None where it has none)."""
    if not state_dict:
        return None
    from .models import build_model

    n_inputs = int(meta["features"]["n_inputs"]) if forecaster._uses_features() else 1
    config = dataclasses.replace(forecaster.model_config(),
                                 strategy=meta.get("strategy_used") or "recursive")
    check_weight_shapes(config, state_dict, n_inputs)
    net = build_model(config, n_inputs)
    net.load_state_dict(state_dict, strict=True)
    net.eval()
    feature_scaler = FeatureScaler.from_state(meta["features"]["scaler"]) \
        if forecaster._uses_features() else None
    from .history import History

    history = History(**{k: v for k, v in meta["history"].items() if k != "epochs_run"})
    return NetCandidate(config, Scaler.from_state(meta["scaler"]), net, history,
                        feature_scaler)
