"""Many series at once: load a panel, split each series by time, window them all from one
tensor, and train one global network on every series' windows.

A panel is a folder of per-series CSVs (one ticker per file, as in the S&P 500 set) or one
long CSV with a series-id column. Each series is read and validated by `rnnlab.data`;
series that cannot be used are skipped and listed, never fatal.

    rnnlab train --data ../shared/data/sandp500/individual_stocks_5yr --global --out runs/sp
    rnnlab train --data all_stocks.csv --id-column Name --global --out runs/sp
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .base import check_series, future_index
from .baselines import BASELINES
from .checkpoint import check_model_params, load_checkpoint, save_checkpoint
from .config import ModelConfig, TrainConfig, check
from .data import TICKER_COLUMN, read_csv
from .errors import CheckpointError, ConfigError, DataError, NotFittedError, RnnlabError
from .forecaster import PARAMETERS
from .metrics import METRICS, score, verdict
from .windows import MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS, Scaler, Split, fit_scaler

if TYPE_CHECKING:  # torch loads on first use
    import torch

log = logging.getLogger("rnnlab")

SPLITS = ("auto", "date", "fraction")


class Panel(dict):
    """Series by name (each a float `pd.Series`, dates kept), plus what was skipped.

    ``skipped`` maps a series (or file) name to the one-line reason it was left out.
    """

    def __init__(self, series: dict[str, pd.Series], skipped: dict[str, str], source: str):
        super().__init__(series)
        self.skipped = dict(skipped)
        self.source = source

    def to_frame(self) -> pd.DataFrame:
        """The panel as one long table: columns id, date (or t), value."""
        parts = [pd.DataFrame({"id": name, "date": s.index, "value": s.to_numpy()})
                 for name, s in self.items()]
        return pd.concat(parts, ignore_index=True) if parts else \
            pd.DataFrame(columns=["id", "date", "value"])


# --- loading --------------------------------------------------------------------------


def load_panel(source: str | Path, id_column: str | None = None, target: str | None = None,
               date_column: str | None = None, max_fill: int = 3,
               date_format: str | None = None) -> Panel:
    """Read many series: a folder of CSVs (one series each) or one long CSV with an id column.

    Each series goes through `rnnlab.data.read_csv`, so the checks and messages are those
    of one-series runs. A file or series that fails them is skipped, with its reason in
    ``panel.skipped``; only an empty result is an error.

    Examples
    --------
    >>> panel = load_panel("../shared/data/sandp500/individual_stocks_5yr")  # doctest: +SKIP
    >>> len(panel), float(panel["AAPL"].iloc[-1])  # doctest: +SKIP
    (505, 159.54)
    """
    path = Path(source)
    options = dict(target=target, date_column=date_column, max_fill=max_fill,
                   date_format=date_format)
    if path.is_dir():
        if id_column is not None:
            raise ConfigError(f"--id-column {id_column!r} is for one long CSV, but "
                              f"'{path}' is a folder of per-series files; drop --id-column")
        series, skipped = _read_folder(path, options)
    elif path.is_file():
        series, skipped = _read_long(path, id_column, options)
    else:
        raise DataError(f"'{path}' not found; pass a folder of per-series CSV files or one "
                        "CSV with a series-id column (--id-column)")
    if not series:
        first = next(iter(skipped.items()), None)
        why = f" (first: {first[0]}: {first[1]})" if first else ""
        raise DataError(f"no usable series in '{path}': {len(skipped)} skipped{why}; fix "
                        "the files or point --data elsewhere")
    return Panel(series, skipped, str(path))


def _read_folder(folder: Path, options: dict) -> tuple[dict, dict]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not files:
        raise DataError(f"folder '{folder}' holds no .csv files; put one CSV per series "
                        "there, or pass one long CSV with --id-column")
    names = _series_names([p.stem for p in files])
    series, skipped = {}, {}
    for name, path in zip(names, files, strict=True):
        try:
            series[name] = read_csv(path, **options).rename(name)
        except DataError as exc:
            skipped[name] = str(exc)
    return series, skipped


def _series_names(stems: list[str]) -> list[str]:
    """File stems without a suffix that every one of them shares: AAL_data -> AAL."""
    if len(stems) < 2:
        return stems
    first = stems[0]
    for cut in [i for i, ch in enumerate(first) if ch == "_"]:
        suffix = first[cut:]
        if all(s.endswith(suffix) and len(s) > len(suffix) for s in stems):
            return [s[: -len(suffix)] for s in stems]
    return stems


def _read_long(path: Path, id_column: str | None, options: dict) -> tuple[dict, dict]:
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
        raise DataError(f"cannot read '{path}' as CSV: {str(exc).strip().splitlines()[0]}") \
            from None
    if id_column is None:
        if TICKER_COLUMN not in header:
            raise DataError(f"'{path}' is one file; a global model needs a series-id column "
                            f"(columns are {', '.join(header[:20])}); pass --id-column NAME")
        id_column = TICKER_COLUMN
    if id_column not in header:
        raise DataError(f"id column {id_column!r} not found in '{path}'; columns are "
                        f"{', '.join(header[:20])}; pass --id-column with one of them")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeError, ValueError) as exc:
        raise DataError(f"cannot read '{path}' as CSV: {str(exc).strip().splitlines()[0]}") \
            from None
    series, skipped = {}, {}
    # Each series' rows as its own small CSV, read by the one-series reader: the same
    # checks and messages, with the temporary name swapped back for the real one.
    with tempfile.TemporaryDirectory(prefix="rnnlab-panel-") as tmp:
        for key, rows in frame.groupby(id_column, sort=True):
            name = str(key).strip()
            part = Path(tmp) / "series.csv"
            rows.to_csv(part, index=False)
            try:
                series[name] = read_csv(part, **options).rename(name)
            except DataError as exc:
                skipped[name] = str(exc).replace(f"'{part}'", f"'{path}' ({id_column} {name})")
    return series, skipped


# --- the chronological split, per series ---------------------------------------------


@dataclass(frozen=True)
class PanelSplit:
    """Each kept series' train / validation / test sizes, how they were cut, and why
    the others were skipped."""

    sizes: dict[str, Split]
    how: str  # "date": one common pair of cut dates; "fraction": each series on its own
    cuts: tuple[str, str] | None  # first validation date, first test date ("date" only)
    skipped: dict[str, str]


def split_panel(panel: dict[str, pd.Series], seq_len: int, val_fraction: float = 0.1,
                test_fraction: float = 0.2, how: str = "auto") -> PanelSplit:
    """Split every series by time, on common cut dates or by per-series fractions.

    ``auto`` cuts on common dates when every series is dated and all share a stretch of
    time (the latest start before the earliest end): then no series trains on dates that
    another one is tested on. The cut dates divide the union of all dates by the fractions.
    Otherwise each series is split by the fractions alone. A series left without
    `seq_len` + 16 training rows, 4 validation rows or a test row is skipped and listed.

    Examples
    --------
    >>> s = pd.Series(np.arange(100.0), index=pd.date_range("2020-01-01", periods=100))
    >>> split_panel({"a": s, "b": s * 2}, seq_len=10).sizes["a"]
    Split(n_train=70, n_val=10, n_test=20)
    """
    if how not in SPLITS:
        raise ConfigError(f"unknown split {how!r}; valid splits are {', '.join(SPLITS)}")
    dated = all(isinstance(s.index, pd.DatetimeIndex) for s in panel.values())
    if how == "date" and not dated:
        raise ConfigError("split 'date' needs every series indexed by dates; use 'fraction'")
    if how == "auto":
        overlap = dated and panel and \
            max(s.index[0] for s in panel.values()) < min(s.index[-1] for s in panel.values())
        how = "date" if overlap else "fraction"
    cuts = _cut_dates(panel, val_fraction, test_fraction) if how == "date" else None
    sizes, skipped = {}, {}
    for name, series in panel.items():
        n = len(series)
        if cuts is None:
            n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
            where = f"{n} rows split {_share(1 - val_fraction - test_fraction)}/" \
                    f"{_share(val_fraction)}/{_share(test_fraction)}"
        else:
            first_val, first_test = series.index.searchsorted(list(cuts))
            n_val, n_test = int(first_test - first_val), int(n - first_test)
            where = f"{n} rows, {int(first_val)} before the common cut date " \
                    f"{cuts[0].date()} and {n_test} from {cuts[1].date()} on"
        split = Split(n - n_val - n_test, n_val, n_test)
        short = split.n_train < seq_len + MIN_TRAIN_WINDOWS or split.n_test < 1 or \
            (val_fraction > 0 and split.n_val < MIN_VAL_WINDOWS)
        if short:
            skipped[name] = (f"{name} has {where}: seq_len {seq_len} needs "
                             f"{seq_len + MIN_TRAIN_WINDOWS} training rows, "
                             f"{MIN_VAL_WINDOWS if val_fraction > 0 else 0} validation rows "
                             "and 1 test row; skipped")
        else:
            sizes[name] = split
    shown = None if cuts is None else (str(cuts[0].date()), str(cuts[1].date()))
    return PanelSplit(sizes, how, shown, skipped)


def _cut_dates(panel, val_fraction: float, test_fraction: float):
    dates = np.unique(np.concatenate([s.index.to_numpy() for s in panel.values()]))
    n = len(dates)
    # At least one test date, and a validation date when there is a validation part: a
    # handful of dates must still give cuts (and each series' reason for being skipped).
    n_test = max(int(round(n * test_fraction)), 1)
    n_val = max(int(round(n * val_fraction)), 1 if val_fraction > 0 else 0)
    first_val, first_test = max(n - n_test - n_val, 0), max(n - n_test, 0)
    return pd.Timestamp(dates[first_val]), pd.Timestamp(dates[first_test])


def _share(x: float) -> str:
    return f"{100 * x:.0f}"


# --- windows over every series, from one tensor ---------------------------------------


class PanelWindows:
    """Windows of many series, cut from one contiguous tensor without crossing series.

    ``z`` holds every series in its own model units, one after another; series i is
    ``z[starts[i]:starts[i + 1]]``. Its windows are those whose targets are its local
    positions [lo[i], hi[i]), with lo[i] >= seq_len, so a window's look-back always lies
    inside its own series. A batch is one gather by index, whatever the series.

    Duck-types `rnnlab.windows.Windows` for `rnnlab.train.train` and `fit_ridge`.
    """

    def __init__(self, z: torch.Tensor, starts: np.ndarray, seq_len: int, lo: np.ndarray,
                 hi: np.ndarray, relative: np.ndarray, rows: np.ndarray | None = None):
        """``rows``: each series' row in a model's embedding table, given as a second
        input channel; None gives the values alone."""
        import torch

        starts, lo, hi = (np.asarray(a, dtype=np.int64) for a in (starts, lo, hi))
        lengths = np.diff(starts)
        if (lo < seq_len).any() or (hi > lengths).any() or (hi < lo).any():
            raise ValueError("a window range leaves its series or has no look-back")
        counts = hi - lo
        series = np.repeat(np.arange(len(lo)), counts)
        # Target positions in z: each series' start plus its local target positions.
        first = np.repeat(starts[:-1] + lo - np.concatenate([[0], np.cumsum(counts)[:-1]]),
                          counts)
        pos = first + np.arange(counts.sum())
        device = z.device
        self.z = z
        self.seq_len = seq_len
        self.starts = starts
        self.series = torch.as_tensor(series, device=device)  # (n_windows,)
        self.pos = torch.as_tensor(pos, device=device)  # (n_windows,) target rows in z
        self.steps = torch.arange(-seq_len, 0, device=device)  # (seq_len,)
        rel = np.asarray(relative, dtype=bool)[series]
        self.relative = bool(rel.any())
        self.rel = torch.as_tensor(rel, dtype=z.dtype, device=device)  # (n_windows,) 0 or 1
        self.targets = z[self.pos]  # (n_windows,)
        self.rows = None if rows is None else \
            torch.as_tensor(np.asarray(rows, dtype=np.float32), device=device)  # (n_series,)

    def __len__(self) -> int:
        return len(self.pos)

    def batch(self, index: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Model inputs (batch, seq_len, n_features) and targets (batch,) in model space:
        one feature, the values, or two with `rows` (the series' embedding row)."""
        pos = self.pos[index]
        x = self.z[pos[:, None] + self.steps]  # (batch, seq_len)
        y = self.z[pos]
        if self.relative:
            last = x[:, -1] * self.rel[index]
            x = x - last[:, None]
            y = y - last
        x = x.unsqueeze(-1)  # (batch, seq_len, 1)
        if self.rows is not None:
            row = self.rows[self.series[index]]  # (batch,)
            x = _with_rows(x, row)
        return x, y

    def offsets(self, index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        """What `batch` subtracted from each window's target: its last value, or 0."""
        return self.z[self.pos[index] - 1] * self.rel[index]

    def chunks(self, size: int = 8192):
        """Consecutive slices covering all windows, for evaluation in a few big passes."""
        for lo in range(0, len(self), size):
            yield slice(lo, min(lo + size, len(self)))


def _with_rows(x: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """(batch, seq_len, 1) values and (batch,) rows -> (batch, seq_len, 2)."""
    import torch

    return torch.cat([x, row[:, None, None].expand(-1, x.shape[1], 1)], dim=-1)


def panel_tensor(values: list[np.ndarray], scalers: list[Scaler], device="cpu"):
    """Every series in its own model units, end to end in one float32 tensor (n_rows,),
    and the row where each starts (n_series + 1,)."""
    import torch

    starts = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int64)
    z = np.empty(int(starts[-1]), dtype=np.float32)
    for v, scaler, lo, hi in zip(values, scalers, starts[:-1], starts[1:], strict=True):
        z[lo:hi] = scaler.to_units(np.asarray(v, dtype=np.float64))
    return torch.as_tensor(z, device=device), starts


# --- the global forecaster ------------------------------------------------------------

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
        unknown = sorted(set(params) - set(GLOBAL_PARAMETERS))
        if unknown:
            raise ConfigError(f"unknown GlobalForecaster parameter {unknown[0]!r}; valid "
                              f"names are {', '.join(GLOBAL_PARAMETERS)}")
        for name, parameter in GLOBAL_PARAMETERS.items():
            setattr(self, name, params.get(name, parameter.default))

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
        names, values, scalers, n_train, n_val, skipped = [], [], [], [], [], {}
        for name, series in panel.items():
            series = check_series(series, name=name)
            v = series.to_numpy(np.float64)
            held = int(round(len(v) * self.val_fraction)) if val_sizes is None \
                else int(val_sizes[name])
            if len(v) - held < self.seq_len + MIN_TRAIN_WINDOWS or 0 < held < MIN_VAL_WINDOWS:
                skipped[name] = (f"{name} has {len(v)} values; seq_len {self.seq_len} needs "
                                 f"{self.seq_len + MIN_TRAIN_WINDOWS} training and "
                                 f"{MIN_VAL_WINDOWS} validation values; skipped")
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
                               n_train_a, relative, rows)
        val_w = PanelWindows(z, starts, self.seq_len, n_train_a, lengths, relative, rows) \
            if sum(n_val) else None
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
        units = (predict_units(self.model_, windows) + windows.offsets()).double().cpu().numpy()
        ends = np.cumsum(np.diff(starts) - lo)
        parts = np.split(units, ends[:-1])
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
        units = predict_units(self.model_, windows) + windows.offsets()
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
        if horizon < 1:
            raise DataError(f"horizon must be at least 1, got {horizon}")
        history = self.tails_[name] if series is None else \
            check_series(series, self.seq_len, name=name)
        buffer = list(history.to_numpy(np.float64)[-self.seq_len:])
        for _ in range(horizon):
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


# --- scoring: per series beside the baselines, then across series ---------------------


def fit_panel(forecaster: GlobalForecaster, panel: dict[str, pd.Series], split: PanelSplit,
              **fit_kwargs) -> GlobalForecaster:
    """Fit on every series' part before its test part (its validation part for early
    stopping); the test parts are never read."""
    fit_parts = {name: panel[name].iloc[: s.n_fit] for name, s in split.sizes.items()}
    return forecaster.fit(fit_parts, {name: s.n_val for name, s in split.sizes.items()},
                          **fit_kwargs)


def score_panel(forecaster: GlobalForecaster, panel: dict[str, pd.Series],
                split: PanelSplit) -> pd.DataFrame:
    """One row per series: the model and each baseline on its test part, RMSE ratios to
    naive and seasonal naive, and the model's verdict against each (win, tie or loss).

    Columns: series, n_train, n_val, n_test, then {model,naive,mean,seasonal_naive}_{metric},
    rmse_ratio_naive, rmse_ratio_seasonal_naive, vs_naive, vs_seasonal_naive, verdict,
    verdict_against, seasonal_period.
    """
    names = [name for name in forecaster.names_ if name in split.sizes]
    predicted = forecaster.predict_parts(panel, {name: split.sizes[name].n_fit
                                                 for name in names})
    rows = []
    for name in names:
        series, sizes = panel[name], split.sizes[name]
        fit_part = series.iloc[: sizes.n_fit]
        actual = series.to_numpy(np.float64)[sizes.n_fit:]
        columns, period = {"model": predicted[name]}, None
        for baseline_name, cls in BASELINES.items():
            baseline = cls().fit(fit_part)
            columns[baseline_name] = baseline.predict(series).to_numpy()[-sizes.n_test:]
            if baseline_name == "seasonal_naive" and baseline.period_found_:
                period = baseline.period_
        row = {"series": name, "n_train": sizes.n_train, "n_val": sizes.n_val,
               "n_test": sizes.n_test}
        for who, pred in columns.items():
            for metric, value in score(actual, pred, fit_part.to_numpy()).items():
                row[f"{who}_{metric}"] = value
        for other in ("naive", "seasonal_naive"):
            reference = row[f"{other}_rmse"]
            row[f"rmse_ratio_{other}"] = row["model_rmse"] / reference if reference > 0 \
                else math.nan
            row[f"vs_{other}"] = verdict(actual, columns["model"],
                                         {other: columns[other]}).outcome
        best = verdict(actual, columns["model"], {k: v for k, v in columns.items()
                                                  if k != "model"})
        row["verdict"], row["verdict_against"] = best.outcome, best.against
        row["seasonal_period"] = period
        rows.append(row)
    return pd.DataFrame(rows)


def aggregate(per_series: pd.DataFrame) -> dict:
    """Across series: mean and median of each metric, and the share of series where the
    model ties or beats naive and seasonal naive (by `rnnlab.metrics.verdict`)."""
    out: dict = {"n_series": len(per_series)}
    if per_series.empty:
        return out
    for who in ("model", *BASELINES):
        out[who] = {metric: {"mean": _nan_stat(np.nanmean, per_series[f"{who}_{metric}"]),
                             "median": _nan_stat(np.nanmedian, per_series[f"{who}_{metric}"])}
                    for metric in METRICS}
    for other in ("naive", "seasonal_naive"):
        ratio = per_series[f"rmse_ratio_{other}"]
        out[f"rmse_ratio_{other}"] = {"mean": _nan_stat(np.nanmean, ratio),
                                      "median": _nan_stat(np.nanmedian, ratio)}
        outcome = per_series[f"vs_{other}"]
        out[f"share_ties_or_beats_{other}"] = float(outcome.isin(["win", "tie"]).mean())
        out[f"share_beats_{other}"] = float((outcome == "win").mean())
    out["verdicts"] = {k: int(v) for k, v in per_series["verdict"].value_counts().items()}
    return out


def _nan_stat(stat, column: pd.Series) -> float | None:
    values = column.to_numpy(np.float64)
    if not np.isfinite(values).any():
        return None
    return float(stat(values[np.isfinite(values)]))

