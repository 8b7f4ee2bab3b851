"""Outside features (covariates): other columns of the CSV, the calendar, a market factor.

The target stays one column. A model with features reads a DataFrame whose first column
is the target and whose other columns are the named features; each feature is scaled on
the training part only, with a log first when its training values are all positive and
strongly right-skewed (volumes), decided on the data, never on the column's name.

    rnnlab train --data stock:A --features open,high,low,volume --calendar \
        --market ../shared/data/sandp500/individual_stocks_5yr --out runs/a-feat
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .base import in_time_order
from .checkpoint import open_regular, read_npz
from .config import DataConfig, ModelConfig
from .data import DATASETS, GENERATORS, TICKER_COLUMN, read_csv
from .errors import ConfigError, DataError, RnnlabError

log = logging.getLogger("rnnlab")

# A feature whose training values are all positive gets log(x) when their skewness is
# above this: volumes of the bundled tickers have 1.8-4.1, their prices -0.1-0.9.
LOG_SKEW = 1.5
CALENDAR_COLUMNS = ("dow_sin", "dow_cos", "month_sin", "month_cos")
MARKET_COLUMN = "market"


def feature_names(features) -> list[str]:
    """The named feature columns: a comma-separated text, a list, or None (no columns).

    >>> feature_names("open, high,volume")
    ['open', 'high', 'volume']
    """
    if features is None:
        return []
    parts = features.split(",") if isinstance(features, str) else list(features)
    names = [str(p).strip() for p in parts if str(p).strip()]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"features names {repeated[0]!r} twice; name each column once")
    return names


def uses_features(features, calendar: bool) -> bool:
    return bool(feature_names(features)) or bool(calendar)


# --- the calendar: known for any date, past or future ---------------------------------


def calendar_columns(index: pd.Index) -> pd.DataFrame:
    """Day of the week and month as points on a circle (Sunday next to Monday, December
    next to January): 4 columns, known in advance for future dates too.

    >>> calendar_columns(pd.DatetimeIndex(["2024-01-01"])).round(3).values.tolist()
    [[0.0, 1.0, 0.0, 1.0]]
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(
            f"--calendar needs dates, but the series is indexed by {index.name or 'position'} "
            f"({index.dtype}); use a source with a date column, or drop --calendar")
    day = 2 * np.pi * index.day_of_week.to_numpy() / 7
    month = 2 * np.pi * (index.month.to_numpy() - 1) / 12
    return pd.DataFrame({"dow_sin": np.sin(day), "dow_cos": np.cos(day),
                         "month_sin": np.sin(month), "month_cos": np.cos(month)}, index=index)


# --- scaling: fitted on the training rows only ----------------------------------------


@dataclass(frozen=True)
class FeatureScaler:
    """Per feature column: an optional log, then (x - center) / scale."""

    names: tuple[str, ...]
    log: tuple[bool, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """(n, F) raw feature values -> (n, F) in model units."""
        raw = np.asarray(raw, dtype=np.float64)
        logged = np.where(self.log, np.log(np.where(self.log, np.maximum(raw, 1e-300), 1.0)),
                          raw)
        return (logged - np.asarray(self.center)) / np.asarray(self.scale)

    def state_dict(self) -> dict:
        return {"names": list(self.names), "log": list(self.log),
                "center": list(self.center), "scale": list(self.scale)}

    @classmethod
    def from_state(cls, state: dict) -> FeatureScaler:
        names = tuple(str(n) for n in state["names"])
        parts = [tuple(state[k]) for k in ("log", "center", "scale")]
        if any(len(p) != len(names) for p in parts):
            raise ValueError("feature scaler lists differ in length")
        return cls(names, tuple(bool(v) for v in parts[0]),
                   tuple(float(v) for v in parts[1]), tuple(float(v) for v in parts[2]))


def fit_feature_scaler(names: list[str], train: np.ndarray) -> FeatureScaler:
    """Standardise each column on the training rows `train` (n_train, F), after a log
    where LOG_SKEW says so. A column constant over training is centred only.

    >>> fit_feature_scaler(["v"], np.array([[1.0]] * 9 + [[100.0]])).log  # skewness 2.7
    (True,)
    """
    train = np.asarray(train, dtype=np.float64)
    logs, centers, scales = [], [], []
    for j in range(train.shape[1]):
        column = train[:, j]
        use_log = bool((column > 0).all() and skewness(column) > LOG_SKEW)
        if use_log:
            column = np.log(column)
        spread = float(column.std())
        logs.append(use_log)
        centers.append(float(column.mean()))
        scales.append(spread if spread > 0 else 1.0)
    return FeatureScaler(tuple(names), tuple(logs), tuple(centers), tuple(scales))


def skewness(x: np.ndarray) -> float:
    """Sample skewness (third standardised moment); 0 for a constant column."""
    x = np.asarray(x, dtype=np.float64)
    spread = x.std()
    return float(np.mean((x - x.mean()) ** 3) / spread**3) if spread > 0 else 0.0


# --- the data a feature model reads ---------------------------------------------------


def check_frame(frame: pd.DataFrame, names: list[str], min_length: int = 1) -> pd.DataFrame:
    """The target (first column) and the named feature columns of `frame`, as floats.

    A missing column is refused with the columns that exist; a non-numeric or missing
    value by column and row.
    """
    if isinstance(frame, pd.Series) and not names:  # the calendar alone: the series will do
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"a model with features needs a DataFrame (target first, then the "
                        f"columns {', '.join(names)}), got {type(frame).__name__}")
    if frame.shape[1] < 1 or len(frame) < min_length:
        raise DataError(f"the data has {len(frame)} rows and {frame.shape[1]} columns; it "
                        f"needs at least {min_length} rows, the target first")
    columns = [str(c) for c in frame.columns]
    target = columns[0]
    for name in names:
        if name not in columns[1:]:
            raise DataError(f"feature column {name!r} not found; columns are "
                            f"{_listing(columns)} (the first, {target!r}, is the target); "
                            "pass --features with some of the others")
    picked = in_time_order(frame[[frame.columns[0], *names]], f"the data ({target!r} first)")
    for column in picked.columns:
        values = pd.to_numeric(picked[column], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(np.float64))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(f"column {str(column)!r} has a missing or non-numeric value "
                            f"({picked[column].iloc[first]!r}) at {picked.index[first]}; "
                            "features need a number on every row of the target")
    return picked.astype(np.float64)


def load_inputs(data: DataConfig, model: ModelConfig, series: pd.Series
                ) -> pd.Series | pd.DataFrame:
    """`series` alone, or with the feature columns the run asks for: the CSV's named
    columns (same reading, same gap rule as the target) and the market factor, as one
    DataFrame on the target's dates, target first. The calendar is made by the model."""
    names = [n for n in feature_names(model.features) if n != MARKET_COLUMN]
    wants_market = data.market is not None
    if not names and not wants_market:
        if MARKET_COLUMN in feature_names(model.features):
            raise ConfigError("features names 'market' but no --market FOLDER is given")
        # The calendar alone still makes a frame: scoring hands the model its dates.
        return series.to_frame() if model.calendar else series
    columns = {}
    if names:
        path = _csv_path(data.source, "--features")
        for name in names:
            columns[name] = _feature_column(path, name, data, series)
    if wants_market:
        columns[MARKET_COLUMN] = market_factor(data.market, series.index,
                                               exclude=ticker_of(data))
    frame = pd.DataFrame({series.name: series, **columns}, index=series.index)
    return frame


def _csv_path(source: str, flag: str) -> Path:
    if source in GENERATORS or source in DATASETS:
        raise DataError(f"{flag} reads other columns of a CSV, and {source!r} is a built-in "
                        "series with one column; use stock:TICKER or a CSV path")
    if source.startswith("stock:"):  # load_data has checked the ticker by now
        name = source.split(":", 1)[1]
        return Path(str(resources.files("rnnlab") / "datasets" / f"{name}_data.csv"))
    return Path(source)


def _listing(names, limit: int = 20) -> str:
    names = [str(n) for n in names]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _feature_column(path: Path, name: str, data: DataConfig, series: pd.Series) -> pd.Series:
    header = [str(c) for c in pd.read_csv(path, nrows=0).columns] if path.exists() else []
    if name not in header:
        raise DataError(f"feature column {name!r} not found in '{path.name}'; columns are "
                        f"{_listing(header)}; pass --features with some of them")
    try:
        column = read_csv(path, target=name, ticker=data.ticker, date_column=data.date_column,
                          max_fill=data.max_fill, date_format=data.date_format)
    except DataError as exc:
        raise DataError(str(exc).replace("or pick another --target",
                                         "or drop the column from --features")
                        .replace("pick another --target", "drop it from --features")) from None
    aligned = column.reindex(series.index)
    missing = aligned.isna().to_numpy()
    if missing.any():
        first = series.index[int(np.flatnonzero(missing)[0])]
        raise DataError(f"feature column {name!r} in '{path.name}' has no value at {first} "
                        f"({int(missing.sum())} of the target's rows); fill it in the file or "
                        "drop the column from --features")
    return aligned


# --- the market factor ----------------------------------------------------------------


def ticker_of(data: DataConfig) -> str | None:
    """The ticker a run forecasts, to leave out of its own market index."""
    if data.ticker:
        return data.ticker
    if data.source.startswith("stock:"):
        return data.source.split(":", 1)[1]
    stem = Path(data.source).stem
    return stem[: -len("_data")] if stem.endswith("_data") else stem


def market_factor(folder: str | Path, index: pd.Index, exclude: str | None = None
                  ) -> pd.Series:
    """The equal-weighted mean of the daily close-to-close returns of every ticker in
    `folder` (one TICKER_data.csv each, the sandp500 layout) but `exclude`, on `index`'s
    dates: a date no ticker trades on gets 0. Returns only: no scaling happens here (the
    forecaster scales it on the training part, as every feature)."""
    returns = market_returns(folder)  # (dates, tickers)
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError("--market needs a series indexed by dates; this one is indexed by "
                        f"{index.name or 'position'}; drop --market")
    kept = returns.drop(columns=[exclude], errors="ignore")
    market = kept.mean(axis=1, skipna=True)
    aligned = market.reindex(index).fillna(0.0)
    return aligned.rename(MARKET_COLUMN)


_MEMORY: dict[str, pd.DataFrame] = {}


def market_returns(folder: str | Path) -> pd.DataFrame:
    """Daily returns of every ticker in `folder` (dates x tickers), read once per process
    and cached on disk (RNNLAB_CACHE, default ~/.cache/rnnlab) under a key of the files'
    names, sizes and modification times, so 505 CSVs are parsed once, not per run."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"--market folder '{folder}' not found; give the folder of "
                        "per-ticker CSVs (TICKER_data.csv with date and close columns)")
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise DataError(f"--market folder '{folder}' holds no CSV files; give the folder of "
                        "per-ticker CSVs (TICKER_data.csv)")
    digest = hashlib.sha256()
    for f in files:
        stat = f.stat()
        digest.update(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    key = digest.hexdigest()[:20]
    if key in _MEMORY:
        return _MEMORY[key]
    cache = Path(os.environ.get("RNNLAB_CACHE", Path.home() / ".cache" / "rnnlab"))
    cached = cache / f"market-{key}.npz"
    frame = _cached_returns(cached) if cached.exists() else None
    if frame is None:
        frame = _read_returns(files)
        try:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = cache / f".market-{key}.{os.getpid()}.npz"
            np.savez(tmp, returns=frame.to_numpy(np.float64),
                     dates=frame.index.to_numpy("datetime64[ns]"),
                     tickers=np.asarray(frame.columns, dtype=str))
            tmp.replace(cached)
        except OSError as exc:  # a read-only home still gets the factor, only slower
            log.info("could not cache the market returns in %s (%s)", cache, exc)
    _MEMORY[key] = frame
    return frame


def _cached_returns(cached: Path) -> pd.DataFrame | None:
    """The returns cached in `cached`, or None when it cannot be what rnnlab wrote there
    (truncated, other arrays, a FIFO...): it is then read from the CSVs and written again."""
    try:
        with open_regular(cached) as fh:
            arrays = read_npz(fh, cached)  # no pickles, no header claiming more than it holds
        returns, dates, tickers = arrays["returns"], arrays["dates"], arrays["tickers"]
        if returns.ndim != 2 or returns.dtype != np.float64 or \
                dates.shape != (len(returns),) or dates.dtype.kind != "M" or \
                tickers.shape != (returns.shape[1],) or tickers.dtype.kind != "U":
            raise ValueError("its arrays do not fit one another")
        return pd.DataFrame(returns, index=pd.DatetimeIndex(dates),
                            columns=[str(t) for t in tickers])
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            RnnlabError) as exc:
        log.info("the market cache %s cannot be used (%s): reading the CSVs again", cached,
                 str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None


def _read_returns(files: list[Path]) -> pd.DataFrame:
    closes = {}
    for f in files:
        try:
            frame = pd.read_csv(f, usecols=lambda c: c in ("date", "close", TICKER_COLUMN))
        except (ValueError, pd.errors.ParserError, UnicodeError) as exc:
            raise DataError(f"cannot read '{f}' for --market ({str(exc).splitlines()[0]}); "
                            "every file needs date and close columns") from None
        if "date" not in frame or "close" not in frame:
            raise DataError(f"'{f}' has no date and close columns (columns are "
                            f"{_listing(frame.columns)}); --market needs both in every file")
        name = f.stem[: -len("_data")] if f.stem.endswith("_data") else f.stem
        close = pd.Series(pd.to_numeric(frame["close"], errors="coerce").to_numpy(),
                          index=pd.to_datetime(frame["date"], errors="coerce"))
        close = close[close.index.notna()].sort_index()
        close = close[~close.index.duplicated()]
        closes[name] = close.pct_change(fill_method=None)
    return pd.DataFrame(closes).sort_index()


def target_of(data: pd.Series | pd.DataFrame) -> pd.Series:
    """The target series of the data a forecaster reads: itself, or a frame's first column."""
    return data.iloc[:, 0] if isinstance(data, pd.DataFrame) else data


def with_market(data: DataConfig, model: ModelConfig) -> None:
    """Name the market factor among the model's features when --market gives its folder,
    so config.json, the checkpoint and the net's inputs all list it."""
    names = feature_names(model.features)
    if data.market is not None and MARKET_COLUMN not in names:
        model.features = ",".join([*names, MARKET_COLUMN])


def feature_record(forecaster) -> dict | None:
    """What metrics.json keeps about the inputs: each feature, and whether it was logged."""
    scaler = getattr(forecaster, "feature_scaler_", None)
    if scaler is None:
        return None
    return {"columns": list(scaler.names),
            "log": [n for n, used in zip(scaler.names, scaler.log, strict=True) if used],
            "log_rule": f"all training values > 0 and skewness > {LOG_SKEW}",
            "level_tracking": False}
