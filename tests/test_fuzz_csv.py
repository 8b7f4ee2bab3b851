"""Fuzzed CSV files: each one loads into a valid series or fails with rnnlab's own error.

Generated files vary columns, cell types, encodings, delimiters, quoting, line endings,
empty and huge fields, unsorted and duplicate dates, NaN / inf, few rows, binary junk and
truncation. A longer run counts the inputs tried:

    RNNLAB_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/test_fuzz_csv.py \
        --hypothesis-show-statistics -p no:cacheprovider
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from rnnlab.data import read_csv
from rnnlab.errors import RnnlabError

EXAMPLES = int(os.environ.get("RNNLAB_FUZZ_EXAMPLES", "150"))
CLI_EXAMPLES = int(os.environ.get("RNNLAB_FUZZ_CLI_EXAMPLES", "6"))
# The suite replays the same examples every time; a long run set by the variables explores.
REPLAY = "RNNLAB_FUZZ_EXAMPLES" not in os.environ
# Shrinking a 100 kB file can take many minutes; a long run reports failures unshrunk.
PHASES = tuple(Phase) if REPLAY else (Phase.generate,)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=REPLAY, database=None,
                phases=PHASES, suppress_health_check=list(HealthCheck))

ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be")
DELIMITERS = (",", ";", "\t", "|")
NEWLINES = ("\n", "\r\n", "\r")
HEADER_NAMES = ("date", "Date", "timestamp", "time", "day", "close", "open", "value", "Name",
                "price", "", " close", "x", "日期", "naïve", "a,b", 'q"t', "close")
ODD_NUMBERS = ("", " ", "NA", "N/A", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "null",
               "None", "-", "1,5", "1.5e308", "1e999", "-1e999", "0x1F", " 3 ", "1_000",
               "--1", "+5", ".5", "5.", "1e", "١٢٣", "½", "1 000", "1e-400", "True",
               "18446744073709551615", "-99999999999999999999999", "1.0.0", "nan(0)")
ODD_DATES = ("", " ", "2020-02-30", "0001-01-01", "9999-12-31", "1677-09-21", "2262-04-12",
             "20200101", "1/2/2020", "31/12/2020", "2020-01-01T00:00:00+05:00",
             "2020-01-01 00:00:00Z", "yesterday", "NaT", "1e10", "0", "-1", "2020-13-01",
             "Jan 5 2020", "2020-W01", "12:30")
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d",
                "%Y-%m-%dT%H:%M:%S%z", "%b %d %Y")



finite_floats = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)
number_cell = st.one_of(
    finite_floats.map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.floats().map(repr),
    st.sampled_from(ODD_NUMBERS),
)
text_cell = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=',;\t|"\n\r x\x00é€', max_size=8),
    st.integers(1_000, 120_000).map(lambda n: "y" * n),  # huge field
)


@st.composite
def date_column(draw, n_rows: int) -> list[str]:
    start = draw(st.datetimes(pd.Timestamp("1700-01-01").to_pydatetime(),
                              pd.Timestamp("2200-01-01").to_pydatetime()))
    steps = draw(st.lists(st.integers(1, 3), min_size=n_rows, max_size=n_rows))
    unit = draw(st.sampled_from(["D", "h", "min", "s"]))
    offsets = np.cumsum(steps) if n_rows else np.array([], dtype=int)
    dates = [pd.Timestamp(start) + pd.Timedelta(int(k), unit) for k in offsets]
    # Day-only formats on hourly data would repeat dates in almost every file.
    fmt = draw(st.sampled_from(DATE_FORMATS if unit == "D" else DATE_FORMATS[1::4]))
    cells = [d.strftime(fmt.replace("%z", "")) + ("+00:00" if "%z" in fmt else "")
             for d in dates]
    if cells and draw(st.booleans()):
        cells = draw(st.permutations(cells))  # unsorted
    for _ in range(draw(st.sampled_from([0] * 6 + [1, 2]))):
        if cells:
            i = draw(st.integers(0, len(cells) - 1))
            cells[i] = draw(st.sampled_from(ODD_DATES + (cells[0],)))  # odd or duplicate
    return cells


def quote(cell: str, delimiter: str, quoting: str) -> str:
    """CSV quoting; "none" writes cells raw, which breaks rows on purpose."""
    special = any(c in cell for c in (delimiter, '"', "\n", "\r")) or cell == ""
    if quoting == "all" or (quoting == "minimal" and special):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def csv_bytes(draw) -> tuple[bytes, list[str]]:
    """A fuzzed CSV file as bytes, and its header names (for picking options)."""
    n_rows = draw(st.integers(0, 90))
    if draw(st.integers(0, 9)) < 7:
        # Plausible: a date and a value column, a few extras, odd cells here and there.
        names = [draw(st.sampled_from(("date", "Date", "timestamp", " date"))),
                 draw(st.sampled_from(("close", "close", "close", "value", "price")))]
        odd = st.integers(0, 300).flatmap(
            lambda k: number_cell if k == 0 else finite_floats.map(repr))
        columns = [draw(date_column(n_rows)),
                   draw(st.lists(odd, min_size=n_rows, max_size=n_rows))]
        extra = draw(st.sampled_from([0, 0, 1, 2]))
        kinds = draw(st.lists(st.sampled_from(["number", "text", "ticker"]), min_size=extra,
                              max_size=extra))
        names += [draw(st.sampled_from(HEADER_NAMES)) for _ in kinds]
    else:
        n_cols = draw(st.integers(1, 5))
        names = [draw(st.one_of(st.sampled_from(HEADER_NAMES), st.text(max_size=6)))
                 for _ in range(n_cols)]
        columns = []
        kinds = draw(st.lists(st.sampled_from(["date", "number", "text", "ticker", "mixed"]),
                              min_size=n_cols, max_size=n_cols))
    for kind in kinds:
        if kind == "date":
            columns.append(draw(date_column(n_rows)))
        elif kind == "number":
            cell = finite_floats.map(repr) if draw(st.booleans()) else number_cell
            columns.append(draw(st.lists(cell, min_size=n_rows, max_size=n_rows)))
        elif kind == "ticker":
            pool = draw(st.lists(st.sampled_from(["A", "AAPL", " B ", "", "GOOG"]),
                                 min_size=1, max_size=3))
            columns.append(draw(st.lists(st.sampled_from(pool), min_size=n_rows,
                                         max_size=n_rows)))
        else:
            cell = text_cell if kind == "text" else st.one_of(number_cell, text_cell)
            columns.append(draw(st.lists(cell, min_size=n_rows, max_size=n_rows)))
    rows = [list(r) for r in zip(*columns, strict=True)] if n_rows else []
    for row in rows:  # ragged rows: missing or extra fields
        if draw(st.integers(0, 30)) == 0:
            del row[draw(st.integers(0, len(row) - 1)):]
        elif draw(st.integers(0, 30)) == 0:
            row.append("extra")

    delimiter = draw(st.sampled_from(DELIMITERS))
    quoting = draw(st.sampled_from(["minimal", "all", "none"]))
    newline = draw(st.sampled_from(NEWLINES))
    lines = ([names] if draw(st.integers(0, 20)) > 0 else []) + rows
    text = "".join(delimiter.join(quote(cell, delimiter, quoting) for cell in line) + newline
                   for line in lines)
    if draw(st.integers(0, 10)) == 0:
        text = draw(st.sampled_from(["\n\n", "# comment\n", " "])) + text
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")

    damage = draw(st.integers(0, 20))
    if damage == 0:
        data = draw(st.binary(max_size=300))  # binary junk
    elif damage == 1 and data:
        data = data[: draw(st.integers(0, len(data) - 1))]  # truncated mid-way
    elif damage == 2:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data, names


def check_loaded(series: pd.Series) -> None:
    """What every successful load must give: finite floats on a sorted, unique index."""
    assert isinstance(series, pd.Series)
    assert series.dtype == np.float64
    assert len(series) >= 1
    assert np.isfinite(series.to_numpy()).all()
    assert series.index.is_unique
    assert series.index.is_monotonic_increasing
    assert not series.index.hasnans
    # Dates, or plain time steps from a numeric time column (never the target itself).
    index = series.index
    assert isinstance(index, pd.DatetimeIndex) or pd.api.types.is_numeric_dtype(index)
    if pd.api.types.is_float_dtype(index):
        assert np.isfinite(index.to_numpy()).all()


# What a refusal says, for the tally of a long run.
REASONS = ("is empty at", "is empty", "is binary", "cannot read", "cannot open",
           "header but no data rows", "not found", "no 'close' column",
           "no column to forecast", "non-numeric", "infinite", "not dates", "date column",
           "repeats dates", "gap of", "has no values", "tickers", "not in",
           "no 'Name' column")
TALLY: Counter = Counter()


def check_refused(exc: RnnlabError) -> None:
    message = str(exc)
    assert message.strip(), "empty error message"
    assert len(message.splitlines()) == 1, f"multi-line message: {message!r}"
    reason = next((r for r in REASONS if r in message), "other: " + message[:60])
    TALLY["refused: " + reason] += 1
    event("refused: " + reason)


@pytest.fixture(scope="module", autouse=True)
def tally_report():
    """With RNNLAB_FUZZ_REPORT=FILE, write how many inputs were tried and how each ended."""
    yield
    report = os.environ.get("RNNLAB_FUZZ_REPORT")
    if report:
        counts = dict(sorted(TALLY.items(), key=lambda kv: -kv[1]))
        Path(report).write_text(json.dumps(counts, indent=1) + "\n")


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="rnnlab-fuzz-") as folder:
        yield Path(folder)


options = st.fixed_dictionaries({
    "target": st.sampled_from([None] * 7 + ["pick", "pick", "nope"]),
    "date_column": st.sampled_from([None] * 8 + ["pick", "nope"]),
    "ticker": st.sampled_from([None] * 7 + ["A", "AAPL", "ZZZ"]),
    "max_fill": st.integers(0, 4),
})


@FUZZ
@given(file=csv_bytes(), opts=options, pick=st.data())
def test_fuzzed_csv_loads_or_raises_rnnlab_error(scratch, file, opts, pick):
    data, names = file
    path = scratch / "fuzz.csv"
    path.write_bytes(data)
    for key in ("target", "date_column"):
        if opts[key] == "pick":
            opts[key] = pick.draw(st.sampled_from(names))
    TALLY["tried"] += 1
    try:
        series = read_csv(path, **opts)
    except RnnlabError as exc:
        check_refused(exc)
        return
    except Exception:
        TALLY["failed: other exception"] += 1
        raise
    event("loaded")
    TALLY["loaded"] += 1
    check_loaded(series)


@st.composite
def clean_table(draw):
    """A well-formed file: unique dates (maybe shuffled), finite values, short gaps."""
    n_rows = draw(st.integers(1, 60))
    start = pd.Timestamp("2001-01-01") + pd.Timedelta(draw(st.integers(0, 5000)), "D")
    dates = pd.date_range(start, periods=n_rows, freq=draw(st.sampled_from(["D", "B", "h"])))
    values = draw(st.lists(finite_floats, min_size=n_rows, max_size=n_rows))
    cells = [repr(v) for v in values]
    gaps = []
    for i in range(1, n_rows - 1):  # single interior gaps, always fillable with max_fill 1
        if i - 1 not in gaps and draw(st.integers(0, 8)) == 0:
            gaps.append(i)
            cells[i] = draw(st.sampled_from(["", "NaN", "NA"]))
    order = draw(st.permutations(range(n_rows)))
    return dates, values, cells, gaps, order


@FUZZ
@given(table=clean_table(), delimiter=st.sampled_from(DELIMITERS),
       encoding=st.sampled_from(ENCODINGS), newline=st.sampled_from(NEWLINES),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
def test_clean_csv_loads_exactly_sorted(scratch, table, delimiter, encoding, newline, quoting):
    dates, values, cells, gaps, order = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=newline)
    writer.writerow(["date", "volume", "close"])
    for i in order:
        writer.writerow([dates[i].isoformat(), str(i), cells[i]])
    path = scratch / "clean.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))

    series = read_csv(path, max_fill=1)
    check_loaded(series)
    expected = pd.Series(values, index=dates, dtype=np.float64)
    expected.iloc[gaps] = np.nan
    expected = expected.interpolate(limit_area="inside")
    assert list(series.index) == list(dates)
    np.testing.assert_array_equal(series.to_numpy(), expected.to_numpy())


@settings(max_examples=CLI_EXAMPLES, deadline=None, derandomize=REPLAY, database=None,
          phases=PHASES, suppress_health_check=list(HealthCheck))
@given(file=csv_bytes())
def test_cli_train_on_fuzzed_csv_exits_0_or_one_error_line(scratch, file):
    from click.testing import CliRunner

    from rnnlab.cli import cli

    data, _ = file
    path = scratch / "cli.csv"
    path.write_bytes(data)
    out = scratch / f"run{TALLY['cli tried']}"  # Hypothesis may replay an input: new folder
    TALLY["cli tried"] += 1
    result = CliRunner().invoke(
        cli, ["--quiet", "train", "--data", str(path), "--seq-len", "4", "--epochs", "1",
              "--hidden-size", "4", "--no-progress", "--out", str(out)])
    TALLY[f"cli exit {result.exit_code}"] += 1
    assert "Traceback" not in result.stderr
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert not out.exists(), "a refused input left a run directory behind"
    else:
        assert (out / "metrics.json").exists()
