"""Many series at once: load a panel, split each series by time, and score a panel's
forecasts on each series beside the baselines (the forecaster itself is
`rnnlab.global_forecaster.GlobalForecaster`).

A panel is a folder of per-series CSVs (one ticker per file, as in the S&P 500 set) or one
long CSV with a series-id column. Each series is read and validated by `rnnlab.data`;
series that cannot be used are skipped and listed, never fatal.

    rnnlab train --data ../shared/data/sandp500/individual_stocks_5yr --global --out runs/sp
    rnnlab train --data all_stocks.csv --id-column Name --global --out runs/sp
"""

from __future__ import annotations

import logging
import math
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .baselines import BASELINES
from .data import TICKER_COLUMN, pick_date_column, read_csv, read_wide_csv
from .errors import ConfigError, DataError
from .metrics import (
    METRICS,
    mae,
    mase,
    naive2_paths,
    owa,
    rmse,
    score,
    seasonal_indices,
    smape,
    verdict,
    verdict_of_losses,
)
from .windows import MIN_TRAIN_WINDOWS, MIN_VAL_WINDOWS, Split

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
    """Read many series: a folder of CSVs (one series each), one long CSV with an id
    column, or one wide CSV with a date column and a column per series.

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
    try:
        folder = path.is_dir()
    except OSError:  # a name the system cannot look at: read_csv says why in one line
        folder = False
    if folder:
        if id_column is not None:
            raise ConfigError(f"--id-column {id_column!r} is for one long CSV, but "
                              f"'{path}' is a folder of per-series files; drop --id-column")
        with _few_notes(path):
            series, skipped = _read_folder(path, options)
    elif path.is_file():
        with _few_notes(path):
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


# The reader's notes (gaps filled, empty rows dropped) shown per panel; the rest counted.
SHOWN_NOTES = 3


@contextmanager
def _few_notes(path: Path):
    """Let the first SHOWN_NOTES of the one-series reader's notes through, then count the
    rest into one line: 200 series with a trailing empty row are one note, not 200."""
    logger = logging.getLogger("rnnlab")
    held: list[logging.LogRecord] = []

    def first_few(record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        held.append(record)
        return len(held) <= SHOWN_NOTES

    logger.addFilter(first_few)
    try:
        yield
    finally:
        logger.removeFilter(first_few)
        if len(held) > SHOWN_NOTES:
            logger.info("'%s': %d more notes like these while reading its series",
                        path, len(held) - SHOWN_NOTES)


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
            return _read_wide(path, header, options)
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


def _read_wide(path: Path, header: list[str], options: dict) -> tuple[dict, dict]:
    """One CSV with a column per series beside its dates, read once
    (`rnnlab.data.read_wide_csv`): each column with the one-series reader's checks and its
    own leading and trailing gaps dropped."""
    date = pick_date_column(path, header, options["date_column"])
    columns = [c for c in header if c != date]
    try:  # a column of text is a series id, not a series
        head = pd.read_csv(path, usecols=columns, nrows=200)
        numeric = all(pd.api.types.is_numeric_dtype(head[c]) for c in columns)
    except (pd.errors.ParserError, UnicodeError, ValueError):
        numeric = False
    if date is None or len(columns) < 2 or not numeric:
        raise DataError(f"'{path}' is one file; a global model needs a series-id column or a "
                        f"date column beside one column per series (columns are "
                        f"{', '.join(header[:20])}); pass --id-column NAME")
    series, skipped = read_wide_csv(path, date, options["max_fill"], options["date_format"])
    return {name: s.rename(name) for name, s in series.items()}, skipped


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
            window = f"seq_len {seq_len} needs" if seq_len > 1 else "it needs"
            skipped[name] = (f"{name} has {where}: {window} "
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


# --- scoring: per series beside the baselines, then across series ---------------------


def score_panel(forecaster, panel: dict[str, pd.Series],
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



# --- scoring H steps ahead from every test origin -------------------------------------

PATH_METRICS = ("rmse", "mae", "mase", "smape")


def score_panel_paths(forecaster, panel: dict[str, pd.Series], split: PanelSplit,
                      horizon: int) -> tuple[pd.DataFrame, dict]:
    """Forecast `horizon` steps ahead from every origin of each series' test part (all
    its targets inside it) beside naive, mean, seasonal naive and M4's Naive2 on the same
    origins, all fitted on the part before the test.

    Returns one row per series (overall metrics of each forecaster, M4's MASE with period
    m and OWA against Naive2, the verdicts against naive and seasonal naive from the
    per-origin mean squared errors) and per-step metrics {who: {metric: (n_series, H)}}.
    m is the seasonal naive's period found on the training part, 1 when none.
    """
    names = [name for name in forecaster.names_
             if name in split.sizes and split.sizes[name].n_test >= horizon]
    origins = {name: np.arange(split.sizes[name].n_fit, len(panel[name]) - horizon + 1)
               for name in names}
    model_paths = forecaster.paths_parts(panel, origins, horizon)
    rows, per_step = [], {}
    for name in names:
        values = panel[name].to_numpy(np.float64)
        fit_part = values[: split.sizes[name].n_fit]
        o = origins[name]
        targets = values[o[:, None] + np.arange(horizon)]  # (n_origins, horizon)
        paths, period = {"model": model_paths[name]}, None
        for baseline_name, cls in BASELINES.items():
            baseline = cls().fit(panel[name].iloc[: len(fit_part)])
            paths[baseline_name] = baseline.paths_from(values, o, horizon)
            if baseline_name == "seasonal_naive" and baseline.period_found_:
                # M4's m is the period itself (24 for hourly), not a longer season
                period = baseline.base_period_
        m = period or 1
        indices = seasonal_indices(fit_part, m)
        paths["naive2"] = naive2_paths(values, o, horizon, indices)
        row = {"series": name, "n_test": split.sizes[name].n_test, "origins": len(o),
               "seasonal_period": period, "m4_period": m,
               "naive2_seasonal": bool((indices != 1).any())}
        for who, path in paths.items():
            steps = per_step.setdefault(who, {metric: [] for metric in PATH_METRICS})
            for metric in PATH_METRICS:
                steps[metric].append([_path_score(metric, targets[:, h], path[:, h], fit_part)
                                      for h in range(horizon)])
                row[f"{who}_{metric}"] = _path_score(metric, targets.ravel(), path.ravel(),
                                                     fit_part)
        for who in paths:
            row[f"{who}_mase_m4"] = mase(targets.ravel(), paths[who].ravel(), fit_part, m)
        row.update(interval_scores(forecaster, name, targets, paths["model"], fit_part, m))
        row["owa"] = owa(row["model_smape"], row["model_mase_m4"], row["naive2_smape"],
                         row["naive2_mase_m4"]) \
            if row["naive2_smape"] > 0 and row["naive2_mase_m4"] > 0 else math.nan
        losses = {who: ((targets - path) ** 2).mean(1) for who, path in paths.items()}
        for other in ("naive", "seasonal_naive"):
            found = verdict_of_losses(losses["model"], {other: losses[other]},
                                      targets.shape[1])
            row[f"rmse_ratio_{other}"] = found.ratio
            row[f"vs_{other}"] = found.outcome
        best = verdict_of_losses(losses["model"], {k: losses[k] for k in BASELINES},
                                 targets.shape[1])
        row["verdict"], row["verdict_against"] = best.outcome, best.against
        rows.append(row)
    return pd.DataFrame(rows), {who: {metric: np.array(v) for metric, v in steps.items()}
                                for who, steps in per_step.items()}


def interval_scores(forecaster, name: str, targets: np.ndarray, paths: np.ndarray,
                    fit_part: np.ndarray, m: int) -> dict:
    """The model's interval on the test origins, scored as M4 and GIFT-Eval score them:
    MSIS (the width plus 2 / alpha times each miss, over the in-sample seasonal naive
    error), the share of targets inside, and the mean scaled quantile loss of its lower
    bound, point and upper bound (the pinball loss at alpha / 2, 0.5 and 1 - alpha / 2,
    over the same scale). Empty where the model has no interval."""
    one = getattr(forecaster, "series_forecaster", None)
    model = one(name) if one is not None else forecaster
    level = float(getattr(model, "interval", 0) or 0)
    widths = model.interval_widths(targets.shape[1]) if level > 0 else None
    lag = m if len(fit_part) > m else 1
    scale = float(np.mean(np.abs(fit_part[lag:] - fit_part[:-lag]))) if len(fit_part) > lag \
        else math.nan
    if widths is None or not scale > 0:
        return {}
    lower, upper = paths - widths, paths + widths
    if len(fit_part) and fit_part.min() >= 0:
        lower = np.maximum(lower, 0.0)
    alpha = 1 - level
    msis = np.mean(upper - lower + 2 / alpha * np.maximum(lower - targets, 0)
                   + 2 / alpha * np.maximum(targets - upper, 0)) / scale

    def pinball(q: float, bound: np.ndarray) -> float:
        error = targets - bound
        return float(np.mean(np.maximum(q * error, (q - 1) * error)))

    quantile_loss = np.mean([pinball(alpha / 2, lower), pinball(0.5, paths),
                             pinball(1 - alpha / 2, upper)]) / scale
    return {"model_msis": float(msis), "model_sql": float(quantile_loss),
            "model_coverage": float(np.mean((targets >= lower) & (targets <= upper))),
            "interval_level": level}


def _path_score(metric: str, y_true: np.ndarray, y_pred: np.ndarray, fit_part) -> float:
    if metric == "mase":
        return mase(y_true, y_pred, fit_part)
    return {"rmse": rmse, "mae": mae, "smape": smape}[metric](y_true, y_pred)


def aggregate_paths(per_series: pd.DataFrame, per_step: dict, horizon: int,
                    strategy: str = "recursive") -> dict:
    """Across series, `horizon` steps ahead: mean and median of each metric per step and
    overall, the share of series where the model ties or beats naive and seasonal naive
    (verdicts on per-origin mean squared errors), and M4's sMAPE, MASE and OWA.

    M4's OWA is that of the mean sMAPE and mean MASE over series against Naive2's;
    ``owa_per_series`` summarises each series' own OWA.
    """
    out: dict = {"horizon": horizon, "strategy": strategy, "n_series": len(per_series),
                 "origins": int(per_series["origins"].sum()) if len(per_series) else 0}
    if per_series.empty:
        return out
    out["per_step"] = {who: {metric: {"mean": _step_stat(np.nanmean, steps[metric]),
                                      "median": _step_stat(np.nanmedian, steps[metric])}
                             for metric in PATH_METRICS}
                       for who, steps in per_step.items()}
    out["overall"] = {who: {metric: _summary(per_series[f"{who}_{metric}"])
                            for metric in PATH_METRICS} for who in per_step}
    for other in ("naive", "seasonal_naive"):
        out[f"rmse_ratio_{other}"] = _summary(per_series[f"rmse_ratio_{other}"])
        outcome = per_series[f"vs_{other}"]
        out[f"share_ties_or_beats_{other}"] = float(outcome.isin(["win", "tie"]).mean())
        out[f"share_beats_{other}"] = float((outcome == "win").mean())
    out["verdicts"] = {k: int(v) for k, v in per_series["verdict"].value_counts().items()}
    m4 = {who: {"smape": _summary(per_series[f"{who}_smape"]),
                "mase": _summary(per_series[f"{who}_mase_m4"])} for who in ("model", "naive2")}
    means = [m4[who][metric]["mean"] for who in ("model", "naive2") for metric in ("smape", "mase")]
    m4["owa"] = owa(*means) if None not in means and means[2] and means[3] else None
    m4["owa_per_series"] = _summary(per_series["owa"])
    m4["share_seasonal"] = float(per_series["naive2_seasonal"].mean())
    if "model_msis" in per_series:
        m4["interval"] = {"level": float(per_series["interval_level"].iloc[0]),
                          **{key: _summary(per_series[f"model_{key}"])
                             for key in ("msis", "coverage", "sql")}}
    out["m4"] = m4
    return out


def _summary(column: pd.Series) -> dict:
    return {"mean": _nan_stat(np.nanmean, column), "median": _nan_stat(np.nanmedian, column)}


def _step_stat(stat, table: np.ndarray) -> list:
    """A statistic over series (rows) for each step (columns), None where nothing is finite."""
    return [_nan_stat(stat, pd.Series(table[:, h])) for h in range(table.shape[1])]
