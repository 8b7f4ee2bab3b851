"""Data sources: built-in generators, real series from statsmodels, bundled S&P 500 tickers
and CSV files.

Every source becomes one `pandas.Series` of floats, oldest first, indexed by date (CSV and
stocks) or by its time axis (generators), and named after where it came from. scipy and
statsmodels load only inside the loaders that need them, so `rnnlab forecast` never waits.

    rnnlab inspect --data stock:A
    rnnlab train --data sunspots --out runs/sunspots
    rnnlab train --data prices.csv --target close --out runs/prices
"""

from __future__ import annotations

import csv
import logging
import os
import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .config import DATE_NAMES, DataConfig
from .errors import DataError

log = logging.getLogger("rnnlab")

# Day and month as 1-2 digit fields before the year (03/04/2017, 3.4.17, 03-04-2017): which
# comes first is not written down, so the data must show it or --date-format must say it.
DAY_MONTH = r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)"
# A cell quoted in an error is cut to this many characters, so one line stays one line.
QUOTE_CHARS = 40
TICKER_COLUMN = "Name"
# Bytes read to guess the encoding and the delimiter.
SNIFF_BYTES = 65536
DELIMITERS = ",;\t|"


# --- built-in generators --------------------------------------------------------------


def sine(seed: int = 0) -> pd.Series:
    """sin(t) + N(0, 0.1) noise, t = 0..100 step 0.1 (1000 points, period ~63 samples)."""
    t = np.arange(1000) * 0.1
    noise = np.random.default_rng(seed).normal(0.0, 0.1, t.size)
    return _on_axis(np.sin(t) + noise, t, "sine")


def noise(seed: int = 0) -> pd.Series:
    """1000 draws of a standard normal: nothing to learn beyond the mean."""
    values = np.random.default_rng(seed).standard_normal(1000)
    return _on_axis(values, np.arange(1000), "noise")


def complex_signal(seed: int = 0) -> pd.Series:
    """The study's damped sum of sinusoids, t = 0..200 step 0.1 (2000 points, no noise)."""
    t = np.arange(2000) * 0.1
    s = np.sin
    wave = (
        s(t)
        + 0.5 * s(t / 10)
        + 0.25 * s(2 * t)
        + 0.1 * s(3 * t)
        + 0.5 * s(t / 20) * s(t / 15)
        + 0.1 * s(t / 5) ** 2
        + 0.15 * s(t / 8) * s(t / 12) * s(t / 20)
    )
    return _on_axis(np.exp(-t / 100) * wave, t, "complex")


def random_walk(seed: int = 0) -> pd.Series:
    """A Gaussian random walk of 1000 steps from 0: next = last is the best forecast."""
    values = np.cumsum(np.random.default_rng(seed).standard_normal(1000))
    return _on_axis(values, np.arange(1000), "random_walk")


def drop(seed: int = 0) -> pd.Series:
    """A seasonal series (period 50) whose level drops by 4 at step 880, in the test part.

    10 + 2 sin(2 pi t / 50) + N(0, 0.2) for 1000 steps; the drop is 20 noise standard
    deviations, so every model sees a level it never trained on and must recover.
    """
    t = np.arange(1000)
    rng = np.random.default_rng(seed)
    values = 10 + 2 * np.sin(2 * np.pi * t / 50) + rng.normal(0.0, 0.2, t.size)
    values[880:] -= 4.0
    return _on_axis(values, t, "drop")


DELAY_LAG = 30  # the far lag of the built-in delay task


def delay(seed: int = 0, lag: int = DELAY_LAG, near_weight: float = 0.3,
          far_weight: float = 0.6, n: int = 10000) -> pd.Series:
    """Long-memory task: x_t = 0.3 x_(t-1) + 0.6 x_(t-lag) + e_t, e ~ N(0, 1), 10000 points.

    Most of what can be predicted sits `lag` steps back; the last step adds a smaller,
    easy part. The best forecast that remembers fewer than `lag` steps has about 0.81 x
    the mean baseline's RMSE, one that reaches back `lag` steps (seq_len > lag) 0.65 x.
    The easy part is the trap: a vanilla RNN learns it and stops there, while LSTM and GRU
    go on to the lag (benchmarks/memory_task.py). 10000 points, so that the nets find the
    lag before they fit the noise.
    """
    from scipy.signal import lfilter

    # The slowest mode decays by about 0.995 a step at lag 30: 100 lags forget the zero start.
    burn_in = 100 * lag
    e = np.random.default_rng(seed).standard_normal(burn_in + n)
    recursion = np.zeros(lag + 1)  # 1 - near B - far B^lag, B the backshift
    recursion[0] = 1.0
    recursion[1] -= near_weight
    recursion[lag] -= far_weight
    values = lfilter([1.0], recursion, e)[burn_in:]
    # Named as `--data` names it; another lag is part of the name, as it is of the task.
    return _on_axis(values, np.arange(n), "delay" if lag == DELAY_LAG else f"delay{lag}")


GENERATORS = {
    "sine": sine,
    "noise": noise,
    "complex": complex_signal,
    "random_walk": random_walk,
    "drop": drop,
    "delay": delay,
}


def _on_axis(values: np.ndarray, axis: np.ndarray, name: str) -> pd.Series:
    index = pd.Index(np.round(axis, 10), name="t")
    return pd.Series(values.astype(np.float64), index=index, name=name)


# --- real series shipped inside statsmodels -------------------------------------------
# statsmodels loads only inside these loaders: it takes a second to import, and `rnnlab
# --help` and `forecast` never need it. Years stay whole numbers, as a CSV's `year` column
# does, so `forecast` continues them as 2009, 2010, ...


def sunspots() -> pd.Series:
    """Yearly mean sunspot numbers, 1700-2008 (309 values, a cycle of about 11 years).

    Source: NOAA's National Geophysical Data Center, as shipped in statsmodels
    (`statsmodels.datasets.sunspots`, column SUNACTIVITY). Indexed by the integer year.

    Examples
    --------
    >>> series = sunspots()
    >>> len(series), int(series.index[0]), int(series.index[-1]), float(series.iloc[-1])
    (309, 1700, 2008, 2.9)
    """
    from statsmodels.datasets import sunspots as dataset

    frame = dataset.load_pandas().data
    return _yearly(frame["SUNACTIVITY"], frame["YEAR"], "sunspots")


def co2() -> pd.Series:
    """Monthly means of atmospheric CO2 at Mauna Loa, Hawaii, in ppmv, 1958-03 to 2001-12.

    The statsmodels copy (`statsmodels.datasets.co2`, Keeling and Whorf, CDIAC) is weekly
    with 59 weeks missing; the weeks are averaged per calendar month (526 months, dated at
    the month's start). Five months have no week: 1958-06, 1958-10 and 1964-02 to 1964-04;
    they are filled by linear interpolation, as a CSV's gaps of up to 3 values are.

    Examples
    --------
    >>> series = co2()
    >>> len(series), str(series.index[0].date()), str(series.index[-1].date())
    (526, '1958-03-01', '2001-12-01')
    """
    from statsmodels.datasets import co2 as dataset

    weekly = dataset.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean()
    # The longest month without a week is 3 long (1964-02..04), the default --max-fill.
    monthly = _fill_gaps("co2 (statsmodels)", "co2", monthly, max_fill=3)
    index = pd.DatetimeIndex(monthly.index, freq="MS", name="date")
    return pd.Series(monthly.to_numpy(np.float64), index=index, name="co2")


def elnino() -> pd.Series:
    """Monthly sea surface temperature of the Nino 1+2 region, in degrees C, 1950-2010.

    Source: NOAA's ERSST.V3B index, as shipped in statsmodels (`statsmodels.datasets.elnino`,
    one row per year, one column per month), read row by row into one series of 732
    months dated at the month's start.

    Examples
    --------
    >>> series = elnino()
    >>> len(series), str(series.index[0].date()), str(series.index[-1].date())
    (732, '1950-01-01', '2010-12-01')
    """
    from statsmodels.datasets import elnino as dataset

    frame = dataset.load_pandas().data.sort_values("YEAR")
    values = frame.drop(columns="YEAR").to_numpy(np.float64).ravel()  # year by year, Jan..Dec
    first = f"{int(frame['YEAR'].iloc[0])}-01-01"
    index = pd.date_range(first, periods=values.size, freq="MS", name="date")
    return pd.Series(values, index=index, name="elnino")


def nile() -> pd.Series:
    """Yearly flow of the Nile at Aswan, in 10^8 m^3, 1871-1970 (100 values, a drop ~1898).

    Source: Cobb (1978), as shipped in statsmodels (`statsmodels.datasets.nile`, column
    volume). Indexed by the integer year.

    Examples
    --------
    >>> series = nile()
    >>> len(series), int(series.index[0]), int(series.index[-1]), float(series.iloc[0])
    (100, 1871, 1970, 1120.0)
    """
    from statsmodels.datasets import nile as dataset

    frame = dataset.load_pandas().data
    return _yearly(frame["volume"], frame["year"], "nile")


def _yearly(values: pd.Series, years: pd.Series, name: str) -> pd.Series:
    index = pd.Index(years.to_numpy().round().astype(np.int64), name="year")
    return pd.Series(values.to_numpy(np.float64), index=index, name=name)


# Real series take no seed: --data-seed leaves them as they are.
DATASETS = {
    "sunspots": sunspots,
    "co2": co2,
    "elnino": elnino,
    "nile": nile,
}


# --- bundled tickers ------------------------------------------------------------------


def bundled_tickers() -> list[str]:
    """Tickers shipped inside the package, addressable as `stock:TICKER`."""
    folder = resources.files("rnnlab") / "datasets"
    return sorted(p.name[: -len("_data.csv")] for p in folder.iterdir()
                  if p.name.endswith("_data.csv"))


def _bundled_path(ticker: str) -> Path:
    tickers = bundled_tickers()
    if ticker not in tickers:
        raise DataError(
            f"no bundled ticker {_quoted(ticker)}; bundled tickers are {', '.join(tickers)}; "
            "for other tickers pass the CSV path as --data"
        )
    return Path(str(resources.files("rnnlab") / "datasets" / f"{ticker}_data.csv"))


# --- the single entry point -----------------------------------------------------------


def source_names() -> str:
    return (", ".join([*GENERATORS, *DATASETS]) + ", stock:TICKER ("
            + ", ".join(bundled_tickers()) + ")")


def load_series(
    source: str,
    target: str | None = None,
    ticker: str | None = None,
    date_column: str | None = None,
    max_fill: int = 3,
    seed: int = 0,
    date_format: str | None = None,
) -> pd.Series:
    """Load any supported source as a float series, oldest first.

    Parameters
    ----------
    source : a generator name (``sine``), a real series (``sunspots``), ``stock:TICKER``,
        or a CSV path.
    target : the CSV column to forecast; default ``close`` when present.
    ticker : the rows of one ticker in a combined CSV with a ``Name`` column.
    max_fill : interior gaps up to this many missing values are linearly interpolated.
    seed : seed of the synthetic generators.
    date_format : strftime format of the date column (``%d/%m/%Y``); None reads ISO dates,
        and day/month dates only when a day above 12 shows their order.

    Examples
    --------
    >>> series = load_series("stock:A")
    >>> len(series), str(series.index[-1].date()), float(series.iloc[-1])
    (1259, '2018-02-07', 68.06)
    """
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise DataError(f"a data source is a name or a path, got {source!r} (a "
                        f"{type(source).__name__}); pass e.g. 'sine' or 'prices.csv'")
    if source in GENERATORS:
        return GENERATORS[source](seed=seed)
    if source in DATASETS:
        return DATASETS[source]()
    if source.startswith("stock:"):
        name = source.split(":", 1)[1]
        path = _bundled_path(name)
        series = read_csv(path, target=target, ticker=ticker, date_column=date_column,
                          max_fill=max_fill, date_format=date_format)
        return series.rename(f"stock:{name} {series.name.split(' ')[-1]}")
    path = Path(source)
    try:
        exists = path.exists()
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise DataError(f"cannot use data source {_quoted(source)} ({exc.strerror or exc}); "
                        f"built-in sources are {source_names()}; or give the path of a "
                        "CSV file") from None
    if not exists and path.suffix.lower() not in (".csv", ".txt", ".tsv") \
            and os.sep not in source:
        raise DataError(
            f"unknown data source {_quoted(source)}; built-in sources are {source_names()}; "
            "or give the path of a CSV file"
        )
    return read_csv(path, target=target, ticker=ticker, date_column=date_column,
                    max_fill=max_fill, date_format=date_format)


def load_data(config: DataConfig) -> pd.Series:
    """The series a run's data section describes (`load_series` with its settings).

    Examples
    --------
    >>> load_data(DataConfig(source="noise", data_seed=1)).iloc[:2].round(3).tolist()
    [0.346, 0.822]
    """
    return load_series(config.source, target=config.target, ticker=config.ticker,
                       date_column=config.date_column, max_fill=config.max_fill,
                       seed=config.data_seed, date_format=config.date_format)


# --- CSV ------------------------------------------------------------------------------


def max_csv_bytes() -> int:
    """Largest CSV read into memory: a quarter of the memory available now.

    Parsing keeps a few string columns per row, several times the file's bytes.
    """
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        available = 8 * 2**30
    return available // 4


def read_csv(
    path: str | Path,
    target: str | None = None,
    ticker: str | None = None,
    date_column: str | None = None,
    max_fill: int = 3,
    date_format: str | None = None,
) -> pd.Series:
    """Read one numeric column of a CSV as a series sorted by date.

    Dates must be unique; missing target values inside the series are filled by linear
    interpolation when a gap is at most `max_fill` rows long, and refused otherwise.
    `date_format` (strftime codes) reads the date column; without it, ISO dates are read
    as they are and day/month/year dates only when the data shows their order.
    """
    path = Path(path)
    where, encoding, delimiter, columns = _open_table(path)
    listing = _listing(columns)

    target = _pick_target(path, columns, target)
    date_col = pick_date_column(path, columns, date_column)
    if date_col == target:
        raise DataError(
            f"{where}: {target!r} is both the target and the date column; name another "
            f"column with --date-column or --target (columns are {listing})"
        )
    wanted = [c for c in (date_col, target) if c is not None]
    has_names = TICKER_COLUMN in columns
    if has_names:
        wanted.append(TICKER_COLUMN)
    if ticker is not None and not has_names:
        raise DataError(
            f"--ticker {_shown(ticker)} given but {where} has no {TICKER_COLUMN!r} column "
            f"(columns are {listing}); drop --ticker for a one-ticker file"
        )
    frame = _read_columns(path, where, encoding, delimiter, columns, wanted)
    if has_names:
        frame = _pick_ticker(where, frame, ticker)
    if frame.empty:
        raise DataError(f"file {where} has a header but no data rows")
    return _column_series(path, where, frame, target, date_col, listing, max_fill,
                          date_format)


def read_wide_csv(path: str | Path, date_column: str | None = None, max_fill: int = 3,
                  date_format: str | None = None) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """Every column beside the dates of one CSV as its own series, read once: each with
    `read_csv`'s checks and its own leading and trailing gaps dropped. Returns the series
    by column and, for the columns that fail those checks, the reason."""
    path = Path(path)
    where, encoding, delimiter, columns = _open_table(path)
    date_col = pick_date_column(path, columns, date_column)
    frame = _read_columns(path, where, encoding, delimiter, columns, columns)
    if frame.empty:
        raise DataError(f"file {where} has a header but no data rows")
    listing = _listing(columns)
    series, skipped = {}, {}
    for column in columns:
        if column == date_col:
            continue
        try:
            series[column] = _column_series(path, where, frame, column, date_col, listing,
                                            max_fill, date_format)
        except DataError as exc:
            skipped[column] = str(exc)
    return series, skipped


def _open_table(path: Path) -> tuple[str, str, str, list[str]]:
    """The checks before a CSV is read, and what reading it needs: how messages name it,
    its encoding and delimiter, and its header's column names."""
    where = _where(path)
    if not path.exists():
        raise DataError(f"file {where} not found; check the path (relative to {os.getcwd()})")
    if path.is_dir():
        raise DataError(f"{where} is a folder; pass the path of a CSV file inside it")
    size = path.stat().st_size
    limit = max_csv_bytes()
    if size > limit:
        raise DataError(
            f"file {where} is {_size(size)}, over the {_size(limit)} that fit in memory here "
            "(a quarter of the free memory); split it or keep only the date and target columns"
        )
    if size == 0:
        raise DataError(f"file {where} is empty; it needs a header row and data rows")

    encoding, delimiter = _sniff(path)
    try:
        header = pd.read_csv(path, nrows=0, sep=delimiter, encoding=encoding).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
        raise DataError(f"cannot read {where} as CSV: {_first_line(exc)}") from None
    return where, encoding, delimiter, [str(c) for c in header]


def _read_columns(path: Path, where: str, encoding: str, delimiter: str, columns: list[str],
                  wanted: list[str]) -> pd.DataFrame:
    """The `wanted` columns as text, indexed by the line numbers an editor shows."""
    # Columns by position and named as the header read them: a fallback decoding of the
    # whole file below cannot rename them.
    positions = sorted({columns.index(c) for c in wanted})
    # index_col=False: rows with more fields than the header (often a trailing delimiter)
    # keep their columns in place instead of shifting them into an index.
    options = dict(sep=delimiter, usecols=positions, dtype=str, keep_default_na=False,
                   skip_blank_lines=True, index_col=False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            try:
                frame = pd.read_csv(path, encoding=encoding, **options)
            except UnicodeDecodeError:
                if encoding != "utf-8":
                    raise
                # Not UTF-8 after the sniffed head: most often a Windows (Latin-1) export.
                log.info("%s is not UTF-8 throughout: read it as Latin-1", where)
                frame = pd.read_csv(path, encoding="latin-1", **options)
    except (pd.errors.ParserError, UnicodeError, ValueError, OSError) as exc:
        raise DataError(f"cannot read {where} as CSV: {_first_line(exc)}") from None
    if caught:
        log.info("%s: %s; fields past the header's columns are ignored", where,
                 _first_line(caught[0].message))
    frame.columns = [columns[i] for i in positions]
    # Short rows leave NaN in a str frame: treat a missing field as an empty one.
    frame = frame.fillna("")
    # Line numbers as a text editor shows them: the header is line 1.
    frame.index = pd.RangeIndex(len(frame)) + 2
    frame.index.name = "line"
    return frame


def _column_series(path: Path, where: str, frame: pd.DataFrame, target: str,
                   date_col: str | None, listing: str, max_fill: int,
                   date_format: str | None) -> pd.Series:
    """One column of a read frame as a series: numbers parsed, dated, sorted, gaps filled."""
    values = _parse_numbers(where, target, frame[target])
    if date_col is None and date_format is not None:
        raise DataError(
            f"--date-format {_quoted(date_format)} given but {where} has no date column "
            f"(looked for {', '.join(DATE_NAMES)}; columns are {listing}); name it with "
            "--date-column"
        )
    if date_col is None:
        log.info("%s has no date column (looked for %s): using row order as time; "
                 "pass --date-column to name one", where, ", ".join(DATE_NAMES))
        series = pd.Series(values.to_numpy(), index=pd.RangeIndex(len(values), name="t"))
    else:
        dates = _parse_dates(where, date_col, frame[date_col], date_format)
        series = _sort_unique(where, date_col, pd.Series(values.to_numpy(), index=dates),
                              frame.index)
    series = _fill_gaps(where, target, series, max_fill)
    return series.rename(_shown(f"{path.name} {target}"))


def _shown(text: str) -> str:
    """`text` as typed, or escaped when control characters would break the one-line error."""
    return text if text.isprintable() else repr(text)[1:-1]


def _where(path: Path) -> str:
    return f"'{_shown(str(path))}'"


def _listing(names, limit: int = 20) -> str:
    names = list(names)
    shown = ", ".join(_cut(_shown(str(name))) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _cut(text: str, limit: int = QUOTE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _quoted(value) -> str:
    """A cell as it reads in an error: quoted, escaped, and cut to QUOTE_CHARS characters."""
    return repr(_cut(str(value)))


def _size(n_bytes: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:,.1f} {unit}"
    return f"{n_bytes} bytes"


def _sniff(path: Path) -> tuple[str, str]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise DataError(f"cannot open {_where(path)}: {exc.strerror or exc}; check its "
                        "permissions") from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif _utf16_without_bom(head):
        encoding = _utf16_without_bom(head)
    elif head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            head.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as exc:
            # A multi-byte character cut by the end of a full sample is still UTF-8.
            cut = len(head) == SNIFF_BYTES and exc.start > len(head) - 4
            encoding = "utf-8" if cut else "latin-1"
    if b"\x00" in head and not encoding.startswith("utf-16"):
        raise DataError(f"file {_where(path)} is binary, not a text CSV; export it as CSV first")
    text = head.decode(encoding, errors="replace")
    # pandas skips blank lines before the header, so the header is the first non-blank one.
    first = next((line for line in text.splitlines() if line.strip()), "")
    in_header = [c for c in DELIMITERS if c in first]
    if len(in_header) == 1:
        return encoding, in_header[0]  # the usual case, and the sniffer is slow
    try:
        delimiter = csv.Sniffer().sniff(text[:8192], delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    if delimiter not in first:
        # The sniffer can pick a character that only appears in the data; trust the header.
        delimiter = max(DELIMITERS, key=first.count) if in_header else ","
    return encoding, delimiter


def _utf16_without_bom(head: bytes) -> str | None:
    """"utf-16-le" / "utf-16-be" when every other byte is mostly NUL, as in Latin text."""
    half = len(head) // 2
    if half < 4:
        return None
    even, odd = head[0:2 * half:2].count(0), head[1:2 * half:2].count(0)
    if odd > 0.6 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.6 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return _cut(text[0], 200) if text else type(exc).__name__


def _pick_target(path: Path, columns: list[str], target: str | None) -> str:
    listing = _listing(columns)
    if target is not None:
        if target in columns:
            return target
        lowered = {c.lower(): c for c in columns}
        hint = f"; did you mean {lowered[target.lower()]!r}?" if target.lower() in lowered else ""
        raise DataError(
            f"column {_quoted(target)} not found in {_where(path)}; columns are {listing}{hint}; "
            "pass --target with one of them"
        )
    if "close" in columns:
        return "close"
    candidates = [c for c in columns
                  if c.strip().lower() not in DATE_NAMES and c != TICKER_COLUMN
                  and not (c == columns[0] and _unnamed_index(c))]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(
            f"{_where(path)} has no column to forecast besides dates and names; columns are "
            f"{listing}; add a numeric column"
        )
    raise DataError(
        f"{_where(path)} has no 'close' column and several candidates; columns are {listing}; "
        "pass --target NAME, or train --global to forecast every column as one panel"
    )


def pick_date_column(path: Path, columns: list[str], date_column: str | None) -> str | None:
    """The column `read_csv` takes as the dates: `date_column` (checked), else the first
    of DATE_NAMES among `columns` (any case), else None."""
    if date_column is not None:
        if date_column not in columns:
            raise DataError(
                f"date column {_quoted(date_column)} not found in {_where(path)}; columns are "
                f"{_listing(columns)}; pass --date-column with one of them"
            )
        return date_column
    named = {column.strip().lower(): column for column in reversed(columns)}
    for name in DATE_NAMES:  # "date" before "month": a month number beside dates stays out
        if name in named:
            return named[name]
    if columns and _unnamed_index(columns[0]):
        log.info("%s: took the unnamed first column as the dates (DataFrame.to_csv() writes "
                 "the index there); pass --date-column to name another", _where(path))
        return columns[0]
    return None


def _unnamed_index(column: str) -> bool:
    """A first column with an empty header, as pandas' DataFrame.to_csv() writes an
    unnamed index; pandas reads that header back as "Unnamed: 0"."""
    return column.strip() in ("", "Unnamed: 0")


def _pick_ticker(where: str, frame: pd.DataFrame, ticker: str | None) -> pd.DataFrame:
    found = list(dict.fromkeys(str(name).strip() for name in frame[TICKER_COLUMN].unique()))
    if ticker is None:
        if len(found) > 1:
            shown = _listing(found[:10]) + (" ..." if len(found) > 10 else "")
            raise DataError(
                f"{where} holds {len(found)} tickers ({shown}); pass --ticker NAME to pick one"
            )
        return frame
    picked = frame[frame[TICKER_COLUMN].str.strip() == ticker]
    if picked.empty:
        shown = _listing(found[:20]) + (" ..." if len(found) > 20 else "")
        raise DataError(f"ticker {_quoted(ticker)} not in {where}; its tickers are {shown}")
    return picked


def _lines(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in index[:limit])
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return f"line{'s' if len(index) > 1 else ''} {shown}{more}"


def _parse_numbers(where: str, column: str, raw: pd.Series) -> pd.Series:
    text = raw.str.strip()
    missing = text.isin(["", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "-"])
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        first = raw[bad].iloc[0]
        hint = ("; numbers must use a decimal point, not a comma"
                if "," in str(first) else "")
        raise DataError(
            f"column {column!r} in {where} has non-numeric values at {_lines(raw.index[bad])} "
            f"(first: {_quoted(first)}){hint}; fix or delete those rows, or pick another "
            "--target"
        )
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        raise DataError(
            f"column {column!r} in {where} has infinite values at "
            f"{_lines(raw.index[infinite])}; replace them with real numbers or delete the rows"
        )
    return values.astype(np.float64)


def _parse_dates(where: str, column: str, raw: pd.Series,
                 date_format: str | None = None) -> pd.Index:
    """Dates, or plain time steps when every value is a finite number (t = 0, 0.1, ...)."""
    text = raw.str.strip()
    empty = text == ""
    if empty.any():
        raise DataError(
            f"date column {column!r} in {where} is empty at {_lines(raw.index[empty])}; "
            "every row needs a date"
        )
    if date_format is not None:
        return _dates_in_format(where, column, raw, text, date_format)
    steps = pd.to_numeric(text, errors="coerce")
    numeric = steps.notna().to_numpy() & np.isfinite(steps.to_numpy(np.float64))
    if numeric.all():
        return _time_steps(where, column, text, steps)
    if numeric.mean() > 0.5:
        # Mostly numbers: the others are the mistakes (a `nan`, a stray word), not the rest.
        bad = raw.index[~numeric]
        raise DataError(
            f"date column {column!r} in {where} holds time steps (numbers) except at "
            f"{_lines(bad)} (first: {_quoted(raw.loc[bad[0]])}); put a finite number in "
            "every row, or delete those rows"
        )
    dates = None
    for fmt in ("ISO8601", "mixed"):
        if fmt == "mixed":  # not all ISO: day/month dates are read only in a known order
            order = _day_month_order(where, column, raw, text)
            if order is not None:
                return _dates_in_format(where, column, raw, text, order, inferred=True)
        try:
            # utc=True reads mixed UTC offsets as instants; dates without one stay as written.
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
            # pandas parses years such as -1 that Python dates (and plots) cannot hold.
            dates = parsed.where(parsed.dt.year.between(1, 9999))
        except (ValueError, TypeError, OverflowError, AttributeError):
            continue
        if not dates.isna().any():
            break
    if dates is None or dates.isna().any() or not pd.api.types.is_datetime64_any_dtype(dates):
        bad = raw.index if dates is None else raw.index[dates.isna().to_numpy()]
        first = raw.loc[bad[0]] if len(bad) else raw.iloc[0]
        raise DataError(
            f"date column {column!r} in {where} has values that are not dates at "
            f"{_lines(bad)} (first: {_quoted(first)}); use YYYY-MM-DD, or pass --date-column"
        )
    return _date_index(dates)


def _date_index(dates: pd.Series) -> pd.DatetimeIndex:
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_convert(None)
    return pd.DatetimeIndex(dates.to_numpy(), name="date")


def _time_steps(where: str, column: str, text: pd.Series, steps: pd.Series) -> pd.Index:
    values = steps.to_numpy()
    if (values == np.round(values)).all() and np.abs(values).max() < 2**62:
        return pd.Index(values.astype(np.int64), name=column)
    floats = values.astype(np.float64)
    if pd.Index(floats).has_duplicates and not text.duplicated().any():
        largest = text.iloc[int(np.argmax(np.abs(floats)))]
        raise DataError(
            f"date column {column!r} in {where} holds numbers as large as {_quoted(largest)}, "
            "too large to tell apart as time steps (different values become equal in "
            "float64); subtract an offset from the column, or write the times as YYYY-MM-DD"
        )
    return pd.Index(floats, name=column)


def _day_month_order(where: str, column: str, raw: pd.Series, text: pd.Series) -> str | None:
    """The strftime format of day/month/year or month/day/year dates, None for others.

    Refuses dates whose order no value shows (03/04/2017 is 3 April or 4 March) and dates
    written both ways: a silent guess moved 290 of 300 rows of a dd/mm file.
    """
    parts = text.str.extract(DAY_MONTH)
    matched = parts[0].notna().to_numpy()
    if not matched.any():
        return None
    if matched.mean() <= 0.5:
        # A few among dates of another form: their order cannot be told from the rest.
        bad = raw.index[matched]
        raise DataError(
            f"date column {column!r} in {where} has day/month or month/day dates at "
            f"{_lines(bad)} (first: {_quoted(raw.loc[bad[0]])}) among dates of another form; "
            "write every date the same way, best as YYYY-MM-DD"
        )
    parts, lines = parts[matched], raw.index[matched]
    sep, year = parts[1].iloc[0], "%Y" if len(parts[3].iloc[0]) == 4 else "%y"
    # A time after the date (03/04/2017 10:30) is read by pandas' own parser below.
    day_first, month_first = f"%d{sep}%m{sep}{year}", f"%m{sep}%d{sep}{year}"
    day_seen = parts[0].astype(int).to_numpy() > 12
    month_seen = parts[2].astype(int).to_numpy() > 12
    if day_seen.any() and month_seen.any():
        a, b = int(np.argmax(day_seen)), int(np.argmax(month_seen))
        raise DataError(
            f"date column {column!r} in {where} has dates written day first "
            f"({_quoted(raw.loc[lines[a]])} at line {lines[a]}) and month first "
            f"({_quoted(raw.loc[lines[b]])} at line {lines[b]}); write them all one way, "
            "best as YYYY-MM-DD"
        )
    if day_seen.any() or month_seen.any():
        shown = day_seen if day_seen.any() else month_seen
        at = int(np.argmax(shown))
        fmt = day_first if day_seen.any() else month_first
        log.info("%s: read %r as %s (%s at line %s has a %s above 12); pass --date-format "
                 "to say otherwise", where, column, fmt, _quoted(raw.loc[lines[at]]),
                 lines[at], "day" if day_seen.any() else "month")
        return fmt
    raise DataError(
        f"date column {column!r} in {where} has dates such as {_quoted(raw.loc[lines[0]])} "
        "that read as day/month or as month/day, and no day above 12 shows which; pass "
        f"--date-format {day_first} (day first) or --date-format {month_first} (month first)"
    )


def _dates_in_format(where: str, column: str, raw: pd.Series, text: pd.Series,
                     date_format: str, inferred: bool = False) -> pd.DatetimeIndex:
    try:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
        if inferred and parsed.isna().any():
            # Times after the dates: the usual layouts at C speed, else pandas' own parser.
            for layout in (" %H:%M:%S", " %H:%M", "T%H:%M:%S"):
                parsed = pd.to_datetime(text, format=date_format + layout, errors="coerce",
                                        utc=True)
                if not parsed.isna().any():
                    break
            else:
                parsed = pd.to_datetime(text, format="mixed", errors="coerce", utc=True,
                                        dayfirst=date_format.startswith("%d"))
    except (ValueError, TypeError, re.error) as exc:  # '%Y%Y' is a regex error inside
        raise DataError(
            f"--date-format {_quoted(date_format)} is not a date format ({_first_line(exc)}); "
            "write it with strftime codes, such as %d/%m/%Y"
        ) from None
    dates = parsed.where(parsed.dt.year.between(1, 9999))
    if dates.isna().any():
        bad = raw.index[dates.isna().to_numpy()]
        raise DataError(
            f"date column {column!r} in {where} has values that do not match the date format "
            f"{date_format} at {_lines(bad)} (first: {_quoted(raw.loc[bad[0]])}); fix those "
            "rows or pass another --date-format"
        )
    return _date_index(dates)


def _sort_unique(where: str, column: str, series: pd.Series, lines: pd.Index) -> pd.Series:
    positions = pd.Series(np.asarray(lines), index=series.index)
    duplicated = series.index.duplicated(keep=False)
    if duplicated.any():
        dup_dates = series.index[duplicated]
        first = dup_dates[0]
        at = pd.Index(positions.to_numpy()[series.index == first])
        shown = first.date() if isinstance(first, pd.Timestamp) else first
        hint = ("; a year and a month in two columns make one date: join them into one"
                if column.strip().lower() == "year" else "")
        raise DataError(
            f"date column {column!r} in {where} repeats dates: {_cut(str(shown))} at "
            f"{_lines(at)} ({duplicated.sum()} rows share a date); keep one row per "
            f"date{hint}"
        )
    if not series.index.is_monotonic_increasing:
        log.info("%s was not sorted by %r: sorted it, oldest first", where, column)
        series = series.sort_index(kind="stable")
    return series


def _fill_gaps(where: str, column: str, series: pd.Series, max_fill: int) -> pd.Series:
    missing = series.isna().to_numpy()
    if not missing.any():
        return series
    if missing.all():
        raise DataError(f"column {column!r} in {where} has no values; pick another --target")
    # Leading and trailing gaps have only one neighbour: drop them rather than invent values.
    first, last = np.flatnonzero(~missing)[[0, -1]]
    if first > 0 or last < len(series) - 1:
        log.info("%s: dropped %d leading and %d trailing rows with no %r value",
                 where, first, len(series) - 1 - last, column)
        series = series.iloc[first:last + 1]
        missing = missing[first:last + 1]
    if not missing.any():
        return series
    run_id = np.cumsum(~missing)
    run_lengths = pd.Series(missing).groupby(run_id).sum().to_numpy()
    longest = int(run_lengths.max())
    if longest > max_fill:
        start = int(np.flatnonzero(missing)[0])
        label = series.index[start]
        raise DataError(
            f"column {column!r} in {where} has a gap of {longest} missing values in a row "
            f"(first missing at {label}); at most {max_fill} are filled by interpolation; "
            f"fill the gap in the file or pass --max-fill {longest}"
        )
    filled = series.interpolate(method="linear", limit_area="inside")
    log.info("%s: filled %d missing %r values by linear interpolation (gaps of at most %d)",
             where, int(missing.sum()), column, longest)
    return filled
