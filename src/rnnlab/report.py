"""Results a person wants to read: text tables, plain-language readings computed from
the numbers, and the self-contained HTML report (figures come from `rnnlab.plots`).

    rnnlab compare --data sine,stock:A --out runs/c   # writes runs/c/report.html
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import re
from pathlib import Path

import pandas as pd

from .checkpoint import atomic_write, write_json, write_text
from .config import DataConfig, param_names
from .data import load_data
from .diagnostics import Inspection
from .errors import ConfigError, RnnlabError
from .explain import MemoryProfile
from .folders import own_folder
from .metrics import METRICS, TIE_MARGIN
from .plots import (
    horizon_errors,
    plot_acf_pacf,
    plot_memory_curves,
    plot_overlay,
    plot_periodogram,
    plot_rmse_bars,
    plot_sweep,
)
from .windows import train_window

# A change smaller than this share of the RMSE is not worth a setting, whatever the seeds;
# a model within it of a baseline only ties with it (the one rule of rnnlab.metrics).
MEANINGFUL = TIE_MARGIN


def metrics_table(metrics: dict[str, dict], model_label: str = "model") -> str:
    """The model and each baseline side by side, one row each, as aligned text."""
    frame = pd.DataFrame(metrics).T[list(METRICS)]
    frame.index = [model_label if name == "model" else name for name in frame.index]
    return frame.to_string(float_format=lambda v: f"{v:.4g}", na_rep="n/a")


BASELINE_WORDS = {"naive": "next = last", "mean": "the training mean",
                  "seasonal_naive": "seasonal naive"}


def outcome_words(outcome: str, ratio: float, p_value: float) -> str:
    """The rule's result in words: 'a tie: 0.1% better, within 1%' and the like."""
    gap = relative(ratio, 1.0) if math.isfinite(ratio) else "worse than exact"
    if not math.isfinite(p_value) and outcome == "tie" and abs(ratio - 1) > TIE_MARGIN:
        # `diebold_mariano` declines: fewer than two paths that do not overlap.
        return f"a tie: {gap}, but with {TOO_FEW} the gap cannot be told from chance"
    if not math.isfinite(p_value):
        rule = "within" if outcome == "tie" else "more than"
        return f"a {outcome}: {gap} ({rule} {100 * TIE_MARGIN:.0f}%; no predictions to test)"
    if outcome == "tie":
        why = (f"within {100 * TIE_MARGIN:.0f}%" if abs(ratio - 1) <= TIE_MARGIN
               else f"Diebold-Mariano {_p(p_value)}, not distinguishable from chance")
        return f"a tie: {gap} ({why})"
    return f"a {outcome}: {gap} (Diebold-Mariano {_p(p_value)})"


# Why the paired test gave no p-value many steps ahead (`rnnlab.metrics.diebold_mariano`).
TOO_FEW = ("too few origins for the paired test (fewer than two paths of the horizon's "
           "length that do not overlap)")


def _p(p: float) -> str:
    """'p < 0.001' or 'p = 0.123': the operator belongs to the number."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def versus_naive(metrics: dict[str, dict], model_label: str = "model") -> str:
    """One sentence: win, tie or loss against the best baseline, by the one rule, and how
    the model stands against next = last and the mean."""
    model = metrics["model"]["rmse"]
    if not math.isfinite(model):
        return f"{model_label} produced no finite predictions"
    found = metrics.get("verdict")
    others = {name: m["rmse"] for name, m in metrics.items() if name not in ("model", "verdict")}
    if found is None:  # scored without predictions at hand: the margin alone decides
        against = min(others, key=others.get)
        ratio = model / others[against] if others[against] > 0 else (
            1.0 if model == 0 else math.inf)
        found = {"outcome": "win" if ratio < 1 - TIE_MARGIN else "loss" if ratio > 1 + TIE_MARGIN
                 else "tie", "against": against, "ratio": ratio, "p_value": math.nan}
    against = found["against"]
    words = outcome_words(found["outcome"], found["ratio"], found["p_value"]).split(": ", 1)[1]
    if found["outcome"] == "win":
        head = (f"{model_label} beats every baseline; against the best of them, "
                f"{BASELINE_WORDS[against]}, it is {words}")
    else:
        verb = "ties with" if found["outcome"] == "tie" else "loses to"
        head = (f"{model_label} {verb} {BASELINE_WORDS[against]}, the best baseline here: "
                f"{words}")
    if others["naive"] == 0:
        return f"{head}; next = last is exact on this test part (naive RMSE 0)"
    return (f"{head}; it is {relative(model, others['naive'])} than next = last "
            f"(naive RMSE {others['naive']:.4g}) and {relative(model, others['mean'])} than "
            "the training mean")


def relative(value: float, reference: float) -> str:
    """'12.3% worse' or '4.0% better': `value` as an error against `reference`; against an
    exact reference (an error of 0), 'worse than exact' or 'as exact'."""
    if not math.isfinite(reference) or not math.isfinite(value):
        return "not comparable"
    if reference == 0:
        return "as exact" if value == 0 else "worse than exact"
    change = 100 * (value / reference - 1)
    return f"{abs(change):.1f}% {'worse' if change > 0 else 'better'}"


# --- the self-contained HTML report ----------------------------------------------------

CSS = """
body{font:15px/1.5 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d232a;
max-width:1100px;margin:0 auto;padding:24px 32px;background:#fbfbfa}
h1{font-size:26px;margin:0 0 4px} h2{font-size:20px;margin:36px 0 8px;padding-top:12px;
border-top:2px solid #e3e3e0} h3{font-size:16px;margin:20px 0 6px}
p.meta{color:#5f6b76;margin:0 0 18px} p.reading{background:#eef4fa;border-left:4px solid #3b7dd8;
padding:8px 12px;margin:10px 0} nav ol{columns:2;padding-left:20px;margin:8px 0 0}
table{border-collapse:collapse;margin:10px 0;font-size:13.5px;background:#fff}
th,td{border:1px solid #dcdcd8;padding:4px 9px;text-align:right} th{background:#f1f1ee}
td:first-child,th:first-child{text-align:left} tr.baseline td{color:#6b7480;font-style:italic}
img{max-width:100%;border:1px solid #e3e3e0;background:#fff;margin:8px 0}
code{background:#f1f1ee;padding:1px 4px;border-radius:3px}
details.terms{margin:0 0 12px;font-size:14px} details.terms dt{font-weight:600;float:left;
clear:left;width:130px} details.terms dd{margin:0 0 4px 140px;color:#3d4650}
"""


class HtmlReport:
    """One HTML file with every table and image inside it: no external files, no network."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title, self.subtitle = title, subtitle
        self.sections: list[tuple[str, str, list[str]]] = []

    @staticmethod
    def anchor(title: str) -> str:
        """The id a section of this title gets, for links to it."""
        return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")

    def section(self, title: str, anchor: str | None = None) -> list[str]:
        """Start a section; returns the list its parts are appended to."""
        anchor = anchor or self.anchor(title)
        parts: list[str] = []
        self.sections.append((title, anchor, parts))
        return parts

    @staticmethod
    def heading(text: str) -> str:
        return f"<h3>{html.escape(text)}</h3>"

    @staticmethod
    def reading(text: str) -> str:
        return f'<p class="reading">{html.escape(words(text))}</p>'

    @staticmethod
    def text(text: str) -> str:
        return f"<p>{html.escape(text)}</p>"

    @staticmethod
    def table(frame: pd.DataFrame, baseline_rows: set[int] | None = None,
              digits: int = 4) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
        rows = []
        for i, (_, row) in enumerate(frame.iterrows()):
            cells = "".join(f"<td>{html.escape(_cell(words(v), digits))}</td>" for v in row)
            klass = ' class="baseline"' if baseline_rows and i in baseline_rows else ""
            rows.append(f"<tr{klass}>{cells}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"

    @staticmethod
    def link(anchor: str, text: str) -> str:
        """A paragraph linking to the section with `anchor` on the same page."""
        return f'<p><a href="#{html.escape(anchor)}">{html.escape(text)}</a></p>'

    @staticmethod
    def image(path: str | Path, alt: str) -> str:
        if not Path(path).is_file():  # a figure matplotlib could not draw
            return f"<p>(figure not drawn: {html.escape(alt)})</p>"
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

    def render(self) -> str:
        toc = "".join(f'<li><a href="#{a}">{html.escape(t)}</a></li>'
                      for t, a, _ in self.sections)
        body = "".join(f'<section id="{a}"><h2>{i}. {html.escape(t)}</h2>{"".join(parts)}'
                       "</section>" for i, (t, a, parts) in enumerate(self.sections, 1))
        used = [term for term in GLOSSARY if re.search(rf"\b{re.escape(term)}\b", body)]
        terms = "".join(f"<dt>{html.escape(t)}</dt><dd>{html.escape(GLOSSARY[t])}</dd>"
                        for t in used)
        glossary = (f'<details class="terms"><summary>Terms used in this report</summary>'
                    f"<dl>{terms}</dl></details>" if used else "")
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head><body>"
                f"<h1>{html.escape(self.title)}</h1><p class=\"meta\">"
                f"{html.escape(self.subtitle)}</p>{glossary}<nav><ol>{toc}</ol></nav>{body}"
                "</body></html>")

    def write(self, path: str | Path) -> None:
        write_text(path, self.render())


def _cell(value, digits: int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.{digits}g}"
    return str(value)


# --- compare and sweep outputs ----------------------------------------------------------


def write_lab_outputs(out: Path, settings: dict, records: list[dict], results: pd.DataFrame,
                      summary: pd.DataFrame, by: list[str]) -> None:
    """Tables (CSV, JSON), plots and report.html of a compare or sweep."""
    atomic_write(out / "results.csv", lambda fh: fh.write(results.to_csv(index=False).encode()))
    write_json(out / "results.json", results.to_dict(orient="records"))
    atomic_write(out / "summary.csv", lambda fh: fh.write(summary.to_csv(index=False).encode()))
    write_json(out / "summary.json", summary.to_dict(orient="records"))
    report = HtmlReport(f"rnnlab {settings['kind']}", _subtitle(settings))
    if settings["kind"] == "compare":
        add_compare(report, out, records, results, summary, prefix="")
        add_memory_curves(report, out, records)
        if any("multi_step" in r for r in records):
            add_compare_horizons(report, out, records)
    else:
        add_sweep(report, out, results, summary, settings, prefix="")
        if any("multi_step" in r for r in records):
            # One curve per setting; the strategy labels its own curves.
            params = [p for p in by if p not in ("dataset", "model", "strategy")]
            add_compare_horizons(report, out, [
                {**r, "model": " ".join([r["model"], *(f"{p}={r.get(p)}" for p in params)])}
                for r in records])
    add_failures(report, results)
    report.write(out / "report.html")


def _subtitle(settings: dict) -> str:
    cfg = settings["config"]
    linear = "on" if cfg["model"]["linear_skip"] else "off"
    window = cfg["model"]["seq_len"] or "auto (two seasons where one is found)"
    return (f"seeds {settings['seeds']}; seq_len {window}, hidden "
            f"{cfg['model']['hidden_size']} x {cfg['model']['num_layers']}, scaler "
            f"{cfg['model']['scaler']}, linear part {linear}; every score "
            "is on the last 20% of each series, which training never saw")


def add_failures(report: HtmlReport, results: pd.DataFrame) -> None:
    failed = results[results["status"] != "ok"] if "status" in results else results.iloc[:0]
    if failed.empty:
        return
    parts = report.section("Failed runs")
    parts.append(report.reading(f"{len(failed)} run(s) failed; the others are unaffected."))
    cols = [c for c in ("dataset", "model", "seed", "error") if c in failed]
    parts.append(report.table(failed[cols]))


def summary_table(summary: pd.DataFrame, dataset: str, key: str = "model") -> tuple:
    """Rows of one dataset as text cells (mean ± std), baselines last and marked."""
    rows = summary[summary["dataset"] == dataset]
    columns = {}
    if key != "model":
        columns[key] = [_value(v) for v in rows[key]]
    columns["model"] = rows["model"].astype(str).tolist()
    columns["runs"] = rows["runs"].tolist()
    for metric in ("rmse", "mae", "mase"):
        columns[metric.upper()] = [mean_pm_std(m, s) for m, s in zip(rows[f"{metric}_mean"],
                                                             rows[f"{metric}_std"], strict=True)]
    table = pd.DataFrame(columns)
    baselines = {i for i, name in enumerate(table["model"]) if name in BASELINE_LABELS}
    return table, baselines


BASELINE_LABELS = ("naive", "mean", "seasonal_naive")


def _value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mean_pm_std(mean: float, std: float) -> str:
    """'0.0898 ± 0.00027'; a spread below the printed precision is rounding, not shown."""
    if std and std > 1e-4 * abs(mean):
        return f"{mean:.4g} ± {std:.2g}"
    return f"{mean:.4g}"


def cell_outcome(rows: pd.DataFrame, model: str, against: str) -> tuple[str, float, float]:
    """(outcome, RMSE ratio, p-value) of one summary row against `against`, by the one rule:
    the summary's paired test where it has one (`summarize(..., records)`), else the margin."""
    ratio = rows.loc[model, "rmse_mean"] / rows.loc[against, "rmse_mean"]
    if "outcome" in rows and isinstance(rows.loc[model, "outcome"], str):
        return rows.loc[model, "outcome"], float(rows.loc[model, "ratio"]), float(
            rows.loc[model, "p_value"])
    outcome = "win" if ratio < 1 - TIE_MARGIN else "loss" if ratio > 1 + TIE_MARGIN else "tie"
    return outcome, ratio, math.nan


def compare_reading(summary: pd.DataFrame, dataset: str) -> str:
    """What the numbers say about one dataset, computed, in plain words: win, tie or loss
    of the best model against the best baseline by the one rule (`rnnlab.metrics.verdict`)."""
    rows = summary[summary["dataset"] == dataset].set_index("model")
    base = {b: rows.loc[b, "rmse_mean"] for b in ("naive", "mean", "seasonal_naive")
            if b in rows.index}
    models = [m for m in rows.index if m not in base]
    if not models:
        return f"no model finished on {dataset}."
    best = min(models, key=lambda m: rows.loc[m, "rmse_mean"])
    rmse = rows.loc[best, "rmse_mean"]
    best_base = min(base, key=base.get)
    outcome, ratio, p_value = cell_outcome(rows, best, best_base)
    test = f" (Diebold-Mariano {_p(p_value)})" if math.isfinite(p_value) else ""
    if outcome == "win":
        first = (f"on {dataset} the best model, {best} (RMSE {rmse:.4g}), beats every baseline"
                 f"{test}: it is {relative(rmse, base['naive'])} than next = last and "
                 f"{relative(rmse, base['mean'])} than the training mean")
    elif outcome == "tie":
        name = BASELINE_WORDS[best_base]
        why = (f"within {100 * TIE_MARGIN:.0f}%" if abs(ratio - 1) <= TIE_MARGIN else
               f"a gap the paired test cannot tell from chance{test}")
        first = (f"no model beats {name} on {dataset} by a meaningful margin: the best, "
                 f"{best} (RMSE {rmse:.4g}), is {relative(rmse, base[best_base])} than it, "
                 f"{why}: a tie")
        if best_base == "mean":
            first += "; the series has no structure the models could learn"
        elif best_base == "naive":
            first += "; the models add nothing to repeating the last value"
    elif best_base == "mean":
        first = (f"no model beats the training mean on {dataset} (best: {best}, RMSE "
                 f"{rmse:.4g} vs {base['mean']:.4g}{test}): the series has no structure the "
                 "models could learn")
    else:
        first = (f"on {dataset} no model beats the {best_base} baseline: the best model, "
                 f"{best}, is {relative(rmse, base[best_base])} than it ({rmse:.4g} vs "
                 f"{base[best_base]:.4g}{test})")
        if best_base != "naive":
            first += f" and {relative(rmse, base['naive'])} than next = last"
    sentences = [first]
    if len(models) > 1:
        worst = max(models, key=lambda m: rows.loc[m, "rmse_mean"])
        gap = rows.loc[worst, "rmse_mean"] - rmse
        noise = max(rows.loc[m, "rmse_std"] for m in models)
        if noise > 0 and gap <= 2 * noise:
            sentences.append(f"{', '.join(models)} are within two seed standard deviations of "
                             f"each other (gap {gap:.2g}, largest std {noise:.2g}): the cell "
                             "type makes no measurable difference here")
        elif gap > 0:
            sentences.append(f"{worst} is the weakest model, "
                             f"{relative(rows.loc[worst, 'rmse_mean'], rmse)} than {best}")
        elif gap == 0 and _net_left_out(rows, models):
            sentences.append(f"{', '.join(models)} score the same: no run's forecast used "
                             "its recurrent net (the pool chose other candidates on the "
                             "folds), so the cell type cannot matter here")
        elif gap == 0:
            sentences.append(f"{', '.join(models)} score the same: the cell type makes no "
                             "difference here")
    ahead = _compare_ahead(rows, models)
    return "; ".join(sentences) + "." + (f" {ahead}" if ahead else "")


def _net_left_out(rows: pd.DataFrame, models: list[str]) -> bool:
    """Whether no run of any of `models` forecast with its net (`net_chosen` 0)."""
    return "net_chosen" in rows and all(rows.loc[m, "net_chosen"] == 0 for m in models)


def _compare_ahead(rows: pd.DataFrame, models: list[str]) -> str:
    """The many-steps-ahead verdict of the best model over all H steps, in a sentence, or
    "" where the cell was scored one step ahead only."""
    if "outcome_h" not in rows or "rmse_h_mean" not in rows:
        return ""
    scored = [m for m in models if isinstance(rows.loc[m, "outcome_h"], str)]
    if not scored:
        return ""
    best = min(scored, key=lambda m: rows.loc[m, "rmse_h_mean"])
    against = rows.loc[best, "against_h"]
    name = BASELINE_WORDS.get(against, against)
    words = outcome_words(rows.loc[best, "outcome_h"], float(rows.loc[best, "ratio_h"]),
                          float(rows.loc[best, "p_value_h"]))
    return (f"Many steps ahead (RMSE over all steps from every test origin) {best} scores "
            f"{rows.loc[best, 'rmse_h_mean']:.4g} against {rows.loc[against, 'rmse_h_mean']:.4g}"
            f" for {name}, the best baseline there: {words}.")


def add_compare(report: HtmlReport, out: Path, records: list[dict], results: pd.DataFrame,
                summary: pd.DataFrame, prefix: str = "", title: str = "Models vs baselines"
                ) -> list[str]:
    parts = report.section(title)
    if summary.empty:
        parts.append(report.reading("no run finished"))
        return parts
    bars = out / f"{prefix}rmse_bars.png"
    plot_rmse_bars(summary, bars)
    parts.append(report.text("Test RMSE per dataset, mean ± standard deviation over seeds; "
                             "gray bars are the baselines."))
    parts.append(report.image(bars, "test RMSE by model and dataset"))
    for dataset in summary["dataset"].unique():
        parts.append(report.heading(dataset))
        table, baselines = summary_table(summary, dataset)
        parts.append(report.table(table, baselines))
        parts.append(report.reading(compare_reading(summary, dataset)))
        overlay = out / f"{prefix}predictions_{_file_safe(dataset)}.png"
        if plot_overlay(records, dataset, overlay):
            parts.append(report.image(overlay, f"test predictions on {dataset}"))
    return parts


def add_memory_curves(report: HtmlReport, out: Path, records: list[dict],
                      prefix: str = "") -> None:
    """Each dataset's memory curves of every model (first seed) side by side."""
    parts = report.section("What the models look at (memory curves)")
    parts.append(report.text(
        "Share of mean |d prediction / d x(t-k)| per lag k over the test windows (first "
        "seed). Default models include the frozen linear part, so the curves show what the "
        "whole model uses."))
    first = min((r["seed"] for r in records), default=0)
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        profiles = {}
        for record in records:
            if record["dataset"] == dataset and record["status"] == "ok" and \
                    record["seed"] == first and "memory" in record:
                profiles[record["model"]] = MemoryProfile.from_dict(record["memory"])
        if profiles:
            path = out / f"{prefix}memory_{_file_safe(dataset)}.png"
            plot_memory_curves(profiles, path, title=f"{dataset}: sensitivity by lag")
            parts.append(report.heading(dataset))
            parts.append(report.image(path, f"memory curves on {dataset}"))
            parts.append(report.reading(sentences((p.describe() for p in profiles.values()),
                                                  capitalise=False)))


def sentences(parts, capitalise: bool = True) -> str:
    """Readings as sentences: each ended with a full stop (and capitalised, unless it
    starts with a name such as a model's), then joined, so separate findings never run
    together.

    >>> sentences(["test RMSE 0.43 (naive 0.42).", "before the jump: RMSE 0.15"])
    'Test RMSE 0.43 (naive 0.42). Before the jump: RMSE 0.15.'
    """
    done = []
    for part in parts:
        part = str(part).strip()
        if part:
            part = part[0].upper() + part[1:] if capitalise else part
            done.append(part if part[-1] in ".!?" else part + ".")
    return " ".join(done)


# The identifiers rnnlab's tables hold, in the words a reader expects (item labels keep
# their names elsewhere: `--data random_walk` is still spelt so).
LABEL_WORDS = {"seasonal_naive": "seasonal naive", "white_noise": "white noise",
               "random_walk": "random walk"}
# One-line glosses of the terms a report may use, each shown once under its title when
# the page uses it.
GLOSSARY = {
    "RMSE": "root mean squared error of the forecasts, in the series' units; lower is better",
    "MAE": "mean absolute error, in the series' units",
    "MASE": "mean absolute error divided by that of next = last on the training part: "
            "below 1 beats it",
    "sMAPE": "symmetric mean absolute percentage error, 0 to 200",
    "OWA": "M4's overall weighted average: the mean of sMAPE and MASE, each as a ratio to "
           "Naive2's; below 1 beats Naive2",
    "Naive2": "next = last after removing the season (M4's benchmark)",
    "Diebold-Mariano": "a paired test of whether two forecasts' errors on the same targets "
                       "differ by more than chance; p below 0.05 counts",
    "Ljung-Box": "a test of whether any autocorrelation is there at all; a large p means "
                 "the series looks like white noise",
    "ADF": "augmented Dickey-Fuller test; a large p means the level wanders like a random "
           "walk (a unit root)",
    "KPSS": "a test of the opposite question: a small p means the level is not stable",
    "periodogram": "the strength of each cycle length in the series; its peak gives the "
                   "season",
}


def words(value):
    """A table cell or reading with rnnlab's identifiers in plain words (`LABEL_WORDS`)."""
    if not isinstance(value, str):
        return value
    return LABEL_WORDS.get(value, re.sub(r"\bseasonal_naive\b", "seasonal naive", value))


def setting_default(param: str, source: str, data_options: dict | None = None):
    """The value of `param` that `rnnlab train` uses on `source` by default: the config's
    default, or for seq_len the window chosen on that series' training part
    (`rnnlab.windows.train_window`; sine gets 126, not 30). None when it cannot be told
    (an unknown name, or data that does not load).

    >>> setting_default("hidden_size", "sine"), setting_default("seq_len", "sine")
    (32, 126)
    """
    section = param_names().get(param)
    if section is None:
        return None
    value = getattr(section(), param)
    if param != "seq_len" or value is not None:
        return value
    fields = {f.name for f in dataclasses.fields(DataConfig)}
    given = {k: v for k, v in (data_options or {}).items() if k in fields and v is not None}
    try:
        config = DataConfig(**{**given, "source": source})
        return train_window(load_data(config), config.val_fraction,
                            config.test_fraction).seq_len
    except RnnlabError:
        return None


def sweep_reading(summary: pd.DataFrame, dataset: str, param: str, default) -> str:
    """The test RMSE per value of `param` on `dataset`, read against `default`, the value
    train uses there (`setting_default`)."""
    rows = summary[(summary["dataset"] == dataset) & summary[param].notna()]
    rows = rows[~rows["model"].isin(["naive", "mean", "seasonal_naive"])]
    if rows.empty:
        return f"no run of the {param} sweep finished on {dataset}"
    curve = rows.groupby(param)["rmse_mean"].min()
    best_value = curve.idxmin()
    naive = summary[(summary["dataset"] == dataset) & (summary["model"] == "naive")]
    reference = default if default in curve.index else curve.index[0]
    text = f"on {dataset}, test RMSE by {param}: " + _sweep_curve(
        curve, rows.groupby(param)["rmse_std"].max().max(), reference, param,
        reference == default)
    if default is not None and reference != default:
        text += (f" (the default {param} on {dataset}, {_value(default)}, was not in the "
                 f"sweep; add it to compare with what train uses)")
    best_row = rows[rows[param] == best_value].sort_values("rmse_mean").iloc[0]
    if isinstance(best_row.get("outcome"), str):
        text += (f"; against the best baseline ({BASELINE_WORDS[best_row['against']]}) the "
                 "best setting is " + outcome_words(best_row["outcome"], best_row["ratio"],
                                                     best_row["p_value"]))
    elif not naive.empty:
        naive_rmse = naive["rmse_mean"].iloc[0]
        text += (f"; the best setting is {relative(curve[best_value], naive_rmse)} than "
                 f"next = last ({naive_rmse:.4g})")
    text += "."
    if "rmse_h_mean" in rows and rows["rmse_h_mean"].notna().any():
        scored = rows[rows["rmse_h_mean"].notna()]
        ahead = scored.groupby(param)["rmse_h_mean"].min()
        spread = scored.groupby(param)["rmse_h_std"].max().max() \
            if "rmse_h_std" in scored else 0.0
        there = reference if reference in ahead.index else ahead.index[0]
        text += (" Many steps ahead (RMSE over all steps from every test origin), by "
                 f"{param}: " + _sweep_curve(ahead, spread, there, param, there == default))
        best = scored[scored[param] == ahead.idxmin()].sort_values("rmse_h_mean").iloc[0]
        if isinstance(best.get("outcome_h"), str):
            name = BASELINE_WORDS.get(best["against_h"], best["against_h"])
            text += (f"; against the best baseline there ({name}) the best setting is " +
                     outcome_words(best["outcome_h"], float(best["ratio_h"]),
                                   float(best["p_value_h"])))
        text += "."
    return text


def _sweep_curve(curve: pd.Series, spread: float, reference, param: str,
                 is_default: bool = True) -> str:
    """The RMSE per value of `param`, and whether moving off `reference` measurably helps:
    by more than two seed standard deviations (`spread`, the largest) and MEANINGFUL.
    `reference` is called the default only where it is the one train uses."""
    best_value = curve.idxmin()
    text = ", ".join(f"{_value(v)}{' (default)' if is_default and v == reference else ''}: "
                     f"{curve[v]:.4g}" for v in curve.index)
    gain = curve[reference] - curve[best_value]
    spread = 0.0 if not math.isfinite(spread) else spread
    if best_value == reference or gain <= 0:
        which = "the default" if is_default else "the first value tried,"
        return text + f"; {which} {param} = {_value(reference)} is already the best"
    if gain <= 2 * spread or gain <= MEANINGFUL * curve[reference]:
        why = (f"within two seed standard deviations ({spread:.2g})" if gain <= 2 * spread
               else f"under {100 * MEANINGFUL:.0f}% of the RMSE")
        return text + (f"; {param} = {_value(best_value)} is best, but its gain over "
                       f"{_value(reference)} ({gain:.2g}) is {why}: changing {param} does "
                       "not measurably help")
    return text + (f"; changing {param} from {_value(reference)} to {_value(best_value)} "
                   f"helps: {relative(curve[best_value], curve[reference])} RMSE")


def add_sweep(report: HtmlReport, out: Path, results: pd.DataFrame, summary: pd.DataFrame,
              settings: dict, prefix: str = "", title: str = "Sweep",
              parts: list[str] | None = None) -> list[str]:
    parts = report.section(title) if parts is None else parts
    if summary.empty:
        parts.append(report.reading("no run finished"))
        return parts
    params = [p for p in settings["grid"] if p != "model"] or ["model"]
    data_options = (settings.get("config") or {}).get("data") or {}
    for dataset in summary["dataset"].unique():
        for param in params:
            path = out / f"{prefix}sweep_{_file_safe(dataset)}_{param}.png"
            plot_sweep(summary, dataset, param, path)
            parts.append(report.heading(f"{dataset}: {param}"))
            parts.append(report.image(path, f"RMSE against {param} on {dataset}"))
            table, baselines = summary_table(summary, dataset, key=param)
            parts.append(report.table(table, baselines))
            parts.append(report.reading(sweep_reading(
                summary, dataset, param, setting_default(param, dataset, data_options))))
    return parts


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(name).name if "/" in name else name)


def write_inspection(inspection: Inspection, out: str | Path) -> list[str]:
    """Write inspection.json, acf_pacf.png and periodogram.png into `out`; their names."""
    with own_folder(Path(out), "inspect", "inspect folder") as out:
        write_json(out / "inspection.json", inspection.to_dict())
        plot_acf_pacf(inspection, out / "acf_pacf.png")
        plot_periodogram(inspection, out / "periodogram.png")
    return ["inspection.json", "acf_pacf.png", "periodogram.png"]


# --- many steps ahead ------------------------------------------------------------------
# Everything below reads the "multi_step" part of metrics.json: the horizon, the strategy,
# the number of test origins, the interval's level (0 = none), the seasonal period, and
# per step ("per_step") and over all steps ("overall") the scores of the model and of each
# baseline on the same origins and targets, with the verdict of the one rule.

# Coverage more than this far from the nominal level (5 points of 80%, say) is a miss.
COVERAGE_TOLERANCE = 0.05


def horizon_reading(multi_step: dict, model_name: str = "model") -> str:
    """The multi-step scores in plain sentences: the verdict against the best baseline,
    how the error grows with the step, and the interval's coverage against its level.

    >>> horizon_reading(multi_step, "lstm")  # doctest: +SKIP
    '10 steps ahead from each of 240 test origins, lstm (direct) scores RMSE 0.41 ...'
    """
    h, overall, per_step = multi_step["horizon"], multi_step["overall"], multi_step["per_step"]
    label = model_name
    where = f"{h} step{'s' if h != 1 else ''} ahead"
    if multi_step.get("origins"):
        where += f" from each of {multi_step['origins']} test origins"
    rmse = overall["model"]["rmse"]
    if not math.isfinite(rmse):
        return f"{where}, {label} produced no finite forecasts."
    found = _horizon_verdict(overall, multi_step.get("verdict"))
    against = found["against"]
    name = BASELINE_WORDS.get(against, against)
    period = multi_step.get("seasonal_period")
    named = f"{name} (period {period})" if against == "seasonal_naive" and period else name
    words = outcome_words(found["outcome"], found["ratio"], found["p_value"])
    first = (f"{where}, {label} scores RMSE {rmse:.4g} against {overall[against]['rmse']:.4g} "
             f"for {named}, the best baseline: {words.replace(': ', ', ', 1)}")
    if h > 1:
        first += "; " + _growth(per_step["model"]["rmse"], per_step[against]["rmse"], name)
    sentences = [first + "."]
    coverage = overall["model"].get("coverage")
    level = multi_step.get("interval") or 0.0
    if level > 0 and coverage is not None and math.isfinite(coverage):
        sentences.append(_coverage_reading(level, coverage, overall["model"].get("width"),
                                           per_step["model"].get("coverage") or []))
    return " ".join(sentences)


def choice_lines(candidates: list[dict]) -> list[str]:
    """Three sentences on the pool (`rnnlab.forecaster.Forecaster.candidates_`): what
    forecasts, why, and where the recurrent net stood.

    >>> rows = [{"name": "ets(A,N,A) 12", "family": "ets", "loss": 0.61, "weight": 0.5,
    ...          "note": ""}, {"name": "theta 12", "family": "theta", "loss": 0.64,
    ...          "weight": 0.5, "note": ""}, {"name": "naive", "family": "naive",
    ...          "loss": 1.4, "weight": 0.0, "note": ""}, {"name": "lstm", "family": "net",
    ...          "loss": 0.9, "weight": 0.0, "note": ""}]
    >>> for line in choice_lines(rows):
    ...     print(line[:55].rstrip())
    The forecast is the mean of ets(A,N,A) 12 and theta 12,
    On the rolling origins their loss (mean absolute error
    The recurrent net lstm was not chosen: its fold loss is
    """
    used = [row for row in candidates if row["weight"] > 0]
    scored = [row for row in candidates if row.get("loss") is not None]
    names = _listed([row["name"] for row in used])
    how = {1: "", 2: "the mean of "}.get(len(used), "the median of ")
    first = f"The forecast is {how}{names}, chosen from {len(scored)} candidates."
    rest = sorted((row for row in scored if row["weight"] == 0), key=lambda row: row["loss"])
    second = ("On the rolling origins " + ("their" if len(used) > 1 else "its") + " loss (mean "
              "absolute error over naive's in-sample error) was "
              + _listed([f"{row['loss']:.3g}" for row in used]))
    second += (f"; the best left out, {rest[0]['name']}, scored {rest[0]['loss']:.3g}."
               if rest else ".")
    best = min(row["loss"] for row in scored)
    nets = [row for row in candidates if row["family"] == "net"]
    if not nets:  # none trained here: the shipped pretrained net's best member stands in
        nets = sorted((row for row in candidates if row["family"] == "pretrained"),
                      key=lambda row: (-row["weight"], row.get("loss") is None,
                                       row.get("loss") or 0.0))
    if not nets:
        third = "No recurrent net was among the candidates."
    elif nets[0].get("loss") is None:
        third = f"The recurrent net {nets[0]['name']} was left out: {nets[0]['note']}."
    else:
        ratio = (f"{nets[0]['loss'] / best:.3g}x the best" if best > 0 else
                 "the best's" if nets[0]["loss"] == best else f"{nets[0]['loss']:.3g}, the "
                 "best 0")
        third = (f"The recurrent net {nets[0]['name']} is in it: its fold loss is {ratio}."
                 if nets[0]["weight"] > 0 else
                 f"The recurrent net {nets[0]['name']} was not chosen: its fold loss is "
                 f"{ratio}.")
    return [first, second, third]


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def _ratio_p(found: dict) -> str:
    """'RMSE 0.97x, p = 0.21': a verdict's ratio and p-value, as the readings give them."""
    if not math.isfinite(found["p_value"]):
        return f"RMSE {found['ratio']:.3g}x, too few windows for the paired test"
    return f"RMSE {found['ratio']:.3g}x, {_p(found['p_value'])}"


def _horizon_verdict(overall: dict, found: dict | None) -> dict:
    """The stored verdict; without one, the margin alone against the lowest baseline RMSE
    (as `versus_naive` does for runs scored without predictions at hand)."""
    if found is not None:
        return found
    model = overall["model"]["rmse"]
    others = {name: m["rmse"] for name, m in overall.items() if name != "model"}
    against = min(others, key=others.get)
    ratio = model / others[against] if others[against] > 0 else (
        1.0 if model == 0 else math.inf)
    outcome = "win" if ratio < 1 - TIE_MARGIN else "loss" if ratio > 1 + TIE_MARGIN else "tie"
    return {"outcome": outcome, "against": against, "ratio": ratio, "p_value": math.nan}


def _growth(model: list[float], baseline: list[float], name: str) -> str:
    """How the model's error changes from step 1 to step H, and at which steps it is under
    the best baseline's."""
    h, first, last = len(model), model[0], model[-1]
    if abs(last - first) <= TIE_MARGIN * max(abs(first), abs(last)):
        text = f"its error stays at about {first:.4g} from step 1 to step {h}"
    else:
        text = (f"its error {'grows' if last > first else 'falls'} from {first:.4g} at step 1 "
                f"to {last:.4g} at step {h}")
    below = [k for k, (m, b) in enumerate(zip(model, baseline, strict=True), 1) if m < b]
    if len(below) == h:
        return text + f", under that of {name} at every step"
    if not below:
        return text + f", above that of {name} at every step"
    return text + f", under that of {name} at {_steps(below)} of {h}"


def _coverage_reading(level: float, coverage: float, width: float | None,
                      per_step: list[float]) -> str:
    h = len(per_step)
    steps = (f" ({_share(per_step[0])} at step 1, {_share(per_step[-1])} at step {h})"
             if h > 1 else "")
    text = (f"The {_level(level)} interval covered {_share(coverage)} of the test values"
            f"{steps}: {coverage_words(coverage, level)}")
    if coverage_words(coverage, level).startswith("close"):
        misses = []
        for words in ("too narrow", "too wide"):
            off = [k for k, c in enumerate(per_step, 1)
                   if coverage_words(c, level).startswith(words)]
            if off:
                misses.append(f"{words} at {_steps(off)}")
        if misses:
            text += ", though " + " and ".join(misses)
    if width is not None and math.isfinite(width):
        text += f"; its mean width is {width:.4g} in the series' units"
    return text + "."


def poor_steps(by_step: list[float], level: float, narrow_only: bool = False) -> str:
    """Where the interval's coverage at a step is more than COVERAGE_TOLERANCE off its
    level, in words ("57% at step 10, too narrow"); "" where every step is close. With
    `narrow_only`, only the steps it covered too little (a band too wide is cautious).

    >>> poor_steps([0.81, 0.78, 0.57], 0.8)
    '57% at step 3 (too narrow)'
    """
    said = []
    for step, covered in enumerate(by_step, 1):
        words = coverage_words(covered, level)
        if not words.startswith("close" if not narrow_only else ("close", "too wide")):
            said.append(f"{100 * covered:.0f}% at step {step} ({words.split(' for ')[0]})")
    if len(said) > 3:
        said = [*said[:2], f"{len(said) - 2} more steps"]
    return ", ".join(said)


def coverage_words(coverage: float, level: float) -> str:
    """'close to the nominal 80%', or 'too narrow' / 'too wide' for it when the empirical
    coverage is more than `COVERAGE_TOLERANCE` away from the level.

    >>> coverage_words(0.78, 0.8)
    'close to the nominal 80%'
    >>> coverage_words(0.72, 0.8)
    'too narrow for the nominal 80% (more than 5 points short)'
    """
    # In whole points, rounded: 75% of 80% is 5 points short (close), not 5.000000001.
    gap = round(100 * (coverage - level), 6)
    if gap < -100 * COVERAGE_TOLERANCE:
        return (f"too narrow for the nominal {_level(level)} (more than "
                f"{100 * COVERAGE_TOLERANCE:.0f} points short)")
    if gap > 100 * COVERAGE_TOLERANCE:
        return (f"too wide for the nominal {_level(level)} (more than "
                f"{100 * COVERAGE_TOLERANCE:.0f} points over)")
    return f"close to the nominal {_level(level)}"


def _share(value: float) -> str:
    return f"{100 * value:.0f}%"


def _level(value: float) -> str:
    """0.8 -> '80%', 0.975 -> '97.5%'."""
    return f"{round(100 * value, 1):g}%"


def _steps(steps: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> 'steps 1-3, 7 and 9-10'; [4] -> 'step 4'."""
    runs: list[list[int]] = []
    for k in steps:
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    names = [f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"step{'s' if len(steps) > 1 else ''} {joined}"


def horizon_steps(horizon: int) -> list[int]:
    """The steps a table shows: all of them up to 6, else 1, 2, 5, 10, 20, 50 ... and H.

    >>> horizon_steps(48)
    [1, 2, 5, 10, 20, 48]
    """
    if horizon <= 6:
        return list(range(1, horizon + 1))
    shown, scale = [], 1
    while scale < horizon:
        shown += [k * scale for k in (1, 2, 5) if k * scale < horizon]
        scale *= 10
    return shown + [horizon]


def horizon_frame(multi_step: dict, model_name: str = "model",
                  steps: list[int] | None = None) -> tuple[pd.DataFrame, set[int]]:
    """The per-step scores as text cells: RMSE and MASE of the model and each baseline at
    `steps` and over all steps, then the model's coverage; and the baseline rows."""
    h = multi_step["horizon"]
    steps = horizon_steps(h) if steps is None else list(steps)
    outside = [k for k in steps if not (isinstance(k, int) and 1 <= k <= h)]
    if outside or not steps:
        raise ConfigError(f"steps {outside or steps} are not steps of the horizon {h}; pass "
                          f"whole steps from 1 to {h}")
    per_step, overall = multi_step["per_step"], multi_step["overall"]
    names = ["model"] + [n for n in per_step if n != "model"]
    rows, baselines = [], set()
    for metric in ("rmse", "mase"):
        for name in names:
            if metric not in per_step[name]:
                continue
            if name != "model":
                baselines.add(len(rows))
            values = [per_step[name][metric][k - 1] for k in steps]
            values.append(overall.get(name, {}).get(metric, math.nan))
            label = model_name if name == "model" else name
            rows.append([f"{metric.upper()} {label}"] + [_number(v) for v in values])
    level = multi_step.get("interval") or 0.0
    if level > 0 and "coverage" in per_step["model"]:
        covered = [per_step["model"]["coverage"][k - 1] for k in steps]
        covered.append(overall["model"].get("coverage", math.nan))
        rows.append([f"coverage ({_level(level)})"] + [_share(c) if math.isfinite(c) else
                                                       "n/a" for c in covered])
        width = overall["model"].get("width")
        if width is not None:
            rows.append(["mean width"] + [""] * len(steps) + [_number(width)])
    return pd.DataFrame(rows, columns=[""] + [f"step {k}" for k in steps] + ["all"]), \
        baselines


def _number(value) -> str:
    return f"{value:.4g}" if value is not None and math.isfinite(value) else "n/a"


def horizon_table(multi_step: dict, model_name: str = "model",
                  steps: list[int] | None = None) -> str:
    """The per-step scores as an aligned text table, for the terminal.

    >>> print(horizon_table(multi_step, "lstm"))  # doctest: +SKIP
                    step 1  step 2  step 5  step 10     all
    RMSE lstm       0.1200  ...
    """
    frame, _ = horizon_frame(multi_step, model_name, steps)
    cells = [list(frame.columns)] + frame.to_numpy().tolist()
    widths = [max(len(row[i]) for row in cells) for i in range(len(frame.columns))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        for row in cells)


def horizon_curves(multi_step: dict, model_name: str = "model", metric: str = "rmse"
                   ) -> dict[str, list[float]]:
    """{label: per-step `metric`} of the model and of every baseline that has it, for
    `rnnlab.plots.horizon_errors`."""
    return {model_name if name == "model" else name: list(scores[metric])
            for name, scores in multi_step["per_step"].items() if metric in scores}


def add_horizon_section(report: HtmlReport, out: Path, metrics: dict, prefix: str = ""
                        ) -> list[str] | None:
    """The section 'Many steps ahead' of a run (its metrics.json as `metrics`): the error
    against the step plot, the per-step table and the reading. Nothing for a run scored
    one step ahead only (no "multi_step" in its metrics)."""
    if "multi_step" not in metrics:
        return None
    multi_step, name = metrics["multi_step"], metrics.get("model", "model")
    level = multi_step.get("interval") or 0.0
    parts = report.section("Many steps ahead")
    parts.append(report.text(
        f"Forecasts 1 to {multi_step['horizon']} steps ahead from every origin in the test "
        "part, scored beside the baselines on the same origins and targets."))
    path = Path(out) / f"{prefix}horizon_errors.png"
    coverage = horizon_curves(multi_step, name, "coverage") if level > 0 else {}
    series = f"{metrics['series']}: " if metrics.get("series") else ""
    horizon_errors(horizon_curves(multi_step, name), path,
                   title=f"{series}error against the step ahead",
                   coverage=coverage or None, level=level or None,
                   tolerance=COVERAGE_TOLERANCE)
    parts.append(report.image(path, "test RMSE against the step ahead"))
    frame, baselines = horizon_frame(multi_step, name)
    parts.append(report.table(frame, baselines))
    parts.append(report.reading(horizon_reading(multi_step, name)))
    return parts


def compare_horizon_curves(records: list[dict], metric: str = "rmse"
                           ) -> dict[str, list[float]]:
    """Per-step `metric` of several runs on one series (records with "model" and
    "multi_step", one per model and seed), averaged over seeds per model; each baseline
    once, from the first run (every seed scores it on the same origins). A model trained
    with more than one strategy gets a curve per strategy, 'lstm (direct)' and the like."""
    runs = [r for r in records if "multi_step" in r and r.get("status", "ok") == "ok"]
    if not runs:
        return {}
    horizons = {r["multi_step"]["horizon"] for r in runs}
    if len(horizons) > 1:
        raise ConfigError(f"the runs have horizons {sorted(horizons)}; their curves share "
                          "one axis only at one horizon: compare runs of the same --horizon")
    strategies = {r["multi_step"].get("strategy") for r in runs}
    groups: dict[str, list[list[float]]] = {}
    for r in runs:
        label = r["model"] if len(strategies) == 1 else \
            f"{r['model']} ({r['multi_step'].get('strategy')})"
        scores = r["multi_step"]["per_step"]["model"]
        if metric in scores:
            groups.setdefault(label, []).append(scores[metric])
    curves = {label: [sum(step) / len(step) for step in zip(*seeds, strict=True)]
              for label, seeds in groups.items()}
    first = runs[0]["multi_step"]["per_step"]
    curves.update({name: list(s[metric]) for name, s in first.items()
                   if name != "model" and metric in s})
    return curves


def add_compare_horizons(report: HtmlReport, out: Path, records: list[dict],
                         prefix: str = "", parts: list[str] | None = None) -> list[str]:
    """Per dataset, the error against the step ahead of every model (mean over seeds)
    beside the baselines, for the runs of a compare scored many steps ahead; in a new
    section "Many steps ahead", or appended to `parts` (a section already begun)."""
    if parts is None:
        parts = report.section("Many steps ahead")
    parts.append(report.text("Test RMSE at each step ahead from every origin in the test "
                             "part, mean over seeds; gray dashed lines are the baselines."))
    for dataset in dict.fromkeys(r["dataset"] for r in records if "multi_step" in r):
        mine = [r for r in records if r["dataset"] == dataset]
        curves = compare_horizon_curves(mine)
        if not curves:
            continue
        level = next(r["multi_step"].get("interval") or 0.0 for r in mine
                     if "multi_step" in r)
        coverage = compare_horizon_curves(mine, "coverage") if level > 0 else {}
        path = out / f"{prefix}horizon_{_file_safe(dataset)}.png"
        horizon_errors(curves, path, title=f"{dataset}: error against the step ahead",
                       coverage=coverage or None, level=level or None,
                   tolerance=COVERAGE_TOLERANCE)
        parts.append(report.heading(dataset))
        parts.append(report.image(path, f"test RMSE against the step ahead on {dataset}"))
    return parts
