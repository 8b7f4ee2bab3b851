"""The study, end to end, as one command and one self-contained report.html.

Each section answers a learner's question with numbers, plots and a reading computed from
them: is the series predictable at all, do RNN / LSTM / GRU beat tomorrow = today, would a
longer window help, does an LSTM fix short memory, do clipping / hidden size / the LR
schedule matter, and what happens after an abrupt drop.

    rnnlab demo --out runs/demo            # about 10 minutes on 2 cores
    rnnlab demo --out runs/quick --quick   # under a minute, same sections, tiny settings
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .data import DELAY_LAG
from .experiment import base_config, compare_tasks, results_frame, summarize, sweep_tasks
from .report import (
    MEANINGFUL,
    HtmlReport,
    add_compare,
    add_failures,
    add_memory_curves,
    add_sweep,
    relative,
)
from .tasks import Task, run_tasks, stage_records

DATASETS = ("sine", "noise", "complex", "stock:A", "stock:GOOG", "drop")
MODELS = ("rnn", "lstm", "gru")
MEMORY_OVERRIDES = {"linear_skip": False, "seq_len": 35, "hidden_size": 32, "num_layers": 1,
                    "batch_size": 128, "lr": 6e-3, "lr_schedule": "none", "patience": 20,
                    "epochs": 30}


@dataclass
class Plan:
    """How much work each section does; `quick` shrinks all of it."""

    seeds: int = 3
    overrides: dict = field(default_factory=dict)  # applied to every run
    seq_lens: tuple = (10, 30, 100)
    seq_len_data: tuple = ("stock:A", "sine")
    # Training options are tried on pure recurrent nets (no linear skip), where the
    # optimiser does all the work, on two series; the reading names where each matters.
    option_data: tuple = ("sine", "stock:A")
    option_grid: dict = field(default_factory=lambda: {
        "clip_grad_norm": [1.0, 0.0], "lr_schedule": ["plateau", "none"],
        "hidden_size": [8, 32, 128]})
    option_seeds: int = 2
    # The delay task: pure recurrent nets (no linear part to lean on), a window a little
    # longer than the lag, one layer of 32. The nets learn the last step within an epoch
    # and then sit on that plateau for 5-25 epochs before they find the lag: a constant LR
    # (the plateau schedule would halve it there) and patience 20 outlast it, and 30
    # epochs bound a fit to 5-25 CPU s (benchmarks/memory_task.py).
    memory_overrides: dict = field(default_factory=lambda: dict(MEMORY_OVERRIDES))

    @classmethod
    def quick(cls) -> Plan:
        tiny = {"epochs": 3, "hidden_size": 8, "num_layers": 1, "patience": 2}
        return cls(seeds=1, overrides=tiny, seq_lens=(10, 30), seq_len_data=("stock:A",),
                   option_data=("sine",), option_grid={"clip_grad_norm": [1.0, 0.0]},
                   option_seeds=1,
                   memory_overrides={**MEMORY_OVERRIDES, **tiny})


def stages(plan: Plan) -> dict[str, list[Task]]:
    """Every run of the study, grouped by the section that reads it."""
    base = base_config(plan.overrides)
    found = {"compare": compare_tasks(list(DATASETS), list(MODELS), plan.seeds, base),
             "seq_len": sweep_tasks(list(plan.seq_len_data), "lstm",
                                    {"seq_len": list(plan.seq_lens)}, plan.seeds,
                                    plan.overrides)}
    pure = {**plan.overrides, "linear_skip": False}
    for name, values in plan.option_grid.items():
        found[f"option_{name}"] = sweep_tasks(list(plan.option_data), "rnn", {name: values},
                                              plan.option_seeds, pure)
    memory = base_config({**plan.overrides, **plan.memory_overrides})
    found["memory"] = compare_tasks(["delay"], list(MODELS), 1, memory)
    found["drop"] = sweep_tasks(["drop"], "lstm", {"scaler": ["auto", "window"]}, 1,
                                plan.overrides)
    return found


def run_demo(out: str | Path, quick: bool = False, jobs: int | None = None,
             progress: bool | None = None, command: str = "") -> Path:
    """Run the whole study into `out` (resuming finished runs) and write report.html.

    Returns the path of the report.
    """
    from .checkpoint import write_json
    from .folders import check_out, claim, locked, remove_temps
    from .runs import versions

    started = time.perf_counter()
    out = Path(out)
    plan = Plan.quick() if quick else Plan()
    check_out(out)
    with locked(out):
        claim(out, "demo", "demo folder")
        for folder in (out, out / "runs"):  # half-written files of a killed demo
            if folder.is_dir():
                remove_temps(folder)
        write_json(out / "config.json", {"quick": quick, "plan": plan.__dict__,
                                         "command": command, "versions": versions()})
        inspections = inspect_all(list(DATASETS) + ["random_walk", "delay"], out)
        groups = stages(plan)
        everything = [task for tasks in groups.values() for task in tasks]
        records = run_tasks(everything, out / "runs", jobs, progress)
        staged = {name: stage_records(tasks, records) for name, tasks in groups.items()}
        report = build_report(out, plan, staged, inspections, quick,
                              time.perf_counter() - started)
        path = out / "report.html"
        report.write(path)
    return path


def inspect_all(datasets: list[str], out: Path) -> dict:
    from .config import DataConfig
    from .diagnostics import inspect, plot_acf_pacf
    from .experiment import load

    found = {}
    for dataset in datasets:
        series = load(DataConfig(source=dataset))
        inspection = inspect(series)
        plot_acf_pacf(inspection, out / f"acf_{_safe(dataset)}.png")
        found[dataset] = inspection
    return found


def _safe(name: str) -> str:
    return name.replace(":", "-")


# --- the report ---------------------------------------------------------------------------


def build_report(out: Path, plan: Plan, staged: dict[str, list[dict]], inspections: dict,
                 quick: bool, seconds: float) -> HtmlReport:
    compare_results = results_frame(staged["compare"])
    compare_summary = summarize(compare_results, ["dataset", "model"])
    report = HtmlReport(
        "rnnlab: recurrent networks against honest baselines",
        f"{'quick run (tiny settings): ' if quick else ''}{len(DATASETS)} series, "
        f"{', '.join(MODELS)}, {plan.seeds} seed(s) each; every score is on the last 20% of "
        f"its series, which training never saw; {seconds / 60:.1f} minutes on this machine",
    )
    add_headline(report, compare_summary, inspections)
    add_predictability(report, out, inspections)
    add_compare(report, out, staged["compare"], compare_results, compare_summary,
                prefix="compare_", title="RNN, LSTM and GRU against the baselines")
    add_memory_curves(report, out, staged["compare"], prefix="compare_")
    add_seq_len(report, out, staged["seq_len"])
    add_memory_task(report, out, staged["memory"])
    add_options(report, out, plan, staged)
    add_drop(report, out, staged["drop"])
    add_lag_checks(report, staged["compare"], inspections)
    add_failures(report, results_frame([r for rs in staged.values() for r in rs]))
    return report


def add_headline(report: HtmlReport, summary: pd.DataFrame, inspections: dict) -> None:
    parts = report.section("Headline")
    rows = []
    for dataset in DATASETS:
        cells = summary[summary["dataset"] == dataset].set_index("model")
        models = [m for m in MODELS if m in cells.index]
        if not models:
            continue
        best = min(models, key=lambda m: cells.loc[m, "rmse_mean"])
        rmse = cells.loc[best, "rmse_mean"]
        baselines = {b: cells.loc[b, "rmse_mean"] for b in BASELINES}
        best_base = min(baselines, key=baselines.get)
        rows.append({
            "series": dataset,
            "verdict": inspections[dataset].verdict if dataset in inspections else "",
            "best model": best,
            "RMSE": _pm(rmse, cells.loc[best, "rmse_std"]),
            "naive": baselines["naive"], "mean": baselines["mean"],
            "seasonal naive": baselines["seasonal_naive"],
            "vs best baseline": f"{relative(rmse, baselines[best_base])} than {best_base}",
            "vs tomorrow = today": relative(rmse, baselines["naive"]),
            "gain": 1 - rmse / baselines[best_base],
        })
    table = pd.DataFrame(rows).drop(columns="gain", errors="ignore")
    parts.append(report.text("Test RMSE of the best recurrent model per series (mean ± std "
                             "over seeds) beside the three baselines."))
    parts.append(report.table(table))
    won = [r["series"] for r in rows if r["gain"] > MEANINGFUL]
    tied = [f"{r['series']} ({r['vs best baseline']})" for r in rows
            if abs(r["gain"]) <= MEANINGFUL]
    lost = [f"{r['series']} ({r['vs best baseline']})" for r in rows
            if r["gain"] < -MEANINGFUL]
    said = [f"The best recurrent model beats every baseline by more than "
            f"{100 * MEANINGFUL:.0f}% on {', '.join(won) or 'no series'}"]
    if tied:
        said.append(f"it only ties with the best baseline on {', '.join(tied)}")
    said.append(f"it loses on {', '.join(lost) or 'no series'}")
    parts.append(report.reading("; ".join(said) + "."))


BASELINES = ("naive", "mean", "seasonal_naive")


def _pm(mean: float, std: float) -> str:
    return f"{mean:.4g} ± {std:.2g}" if std > 0 else f"{mean:.4g}"


def add_predictability(report: HtmlReport, out: Path, inspections: dict) -> None:
    parts = report.section("Is each series predictable at all?")
    table = pd.DataFrame([{
        "series": name, "verdict": ins.verdict,
        "period": ins.period if ins.period else "",
        "suggested seq_len": ins.suggested_seq_len,
        "Ljung-Box p": ins.tests["ljung_box"].p_value if "ljung_box" in ins.tests else "",
        "ADF p": ins.tests["adf"].p_value if "adf" in ins.tests else "",
        "KPSS p": ins.tests["kpss"].p_value if "kpss" in ins.tests else "",
    } for name, ins in inspections.items()])
    parts.append(report.text("Statistical tests on each whole series (statsmodels): "
                             "Ljung-Box for white noise, ADF for a unit root, KPSS for "
                             "stationarity, and the periodogram for a dominant period."))
    parts.append(report.table(table, digits=3))
    for name, ins in inspections.items():
        parts.append(report.reading(f"{name}: {ins.verdict}: {ins.evidence}"))
    for name in ("noise", "stock:A", "sine"):
        path = out / f"acf_{_safe(name)}.png"
        if path.exists():
            parts.append(report.heading(f"Autocorrelation of {name}"))
            parts.append(report.image(path, f"ACF and PACF of {name}"))


def add_seq_len(report: HtmlReport, out: Path, records: list[dict]) -> None:
    results = results_frame(records)
    summary = summarize(results, ["dataset", "seq_len", "model"])
    settings = {"grid": {"seq_len": sorted({r["seq_len"] for r in records})}}
    add_sweep(report, out, results, summary, settings, prefix="seq_len_",
              title="Would a longer window (seq_len) help?")


def add_memory_task(report: HtmlReport, out: Path, records: list[dict]) -> None:
    from .explain import MemoryProfile, plot_memory_curves

    parts = report.section("Does an LSTM fix the RNN's short memory?")
    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        parts.append(report.reading("the long-memory runs did not finish"))
        return
    lag = DELAY_LAG
    parts.append(report.text(
        f"The delay task: x(t) = 0.3 x(t-1) + 0.6 x(t-{lag}) + e(t) with e white noise. Most "
        f"of what can be predicted sits {lag} steps back; the last step holds a smaller, easy "
        f"part. The best forecast that remembers fewer than {lag} steps has about 0.81 x the "
        f"mean baseline's RMSE, one that reaches back {lag} steps about 0.65 x. Pure "
        "recurrent nets (no linear part) must carry the far value through the recurrence."))
    rows, profiles, found, missed = [], {}, [], []
    for r in ok:
        profile = MemoryProfile.from_dict(r["memory"])
        profiles[r["model"]] = profile
        rows.append({"model": r["model"], "RMSE": r["rmse"], "mean baseline": r["mean_rmse"],
                     "RMSE / mean": r["rmse"] / r["mean_rmse"],
                     "peak lag": profile.peak_lag, "effective memory": r["effective_memory"],
                     f"share at lag {lag}": profile.sensitivity[lag - 1]})
        mine = (f"{r['model']} (peak at lag {profile.peak_lag}, "
                f"{r['rmse'] / r['mean_rmse']:.2f} x the mean)")
        (found if profile.peak_lag == lag else missed).append(mine)
    parts.append(report.table(pd.DataFrame(rows)))
    path = out / "memory_delay.png"
    plot_memory_curves(profiles, path, title=f"delay task: sensitivity by lag (the answer is "
                                             f"at lag {lag})")
    parts.append(report.image(path, "memory curves on the delay task"))
    said = []
    if found:
        said.append(f"{_join(found)} found the value {lag} steps back")
    if missed:
        said.append(f"{_join(missed)} did not")
    peaks = {r["model"]: profiles[r["model"]].peak_lag for r in ok}
    if peaks.get("lstm") == lag and peaks.get("rnn", lag) != lag:
        said.append("so on this task the LSTM does fix the vanilla RNN's short memory")
    elif peaks.get("rnn") == lag and peaks.get("lstm", lag) != lag:
        said.append("so on this run the vanilla RNN remembered further than the LSTM")
    parts.append(report.reading("; ".join(said) + "."))


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def add_options(report: HtmlReport, out: Path, plan: Plan, staged: dict) -> None:
    parts = report.section("Do clipping, hidden size and the LR schedule matter?")
    parts.append(report.text(
        "Vanilla RNN without the linear part (the optimiser does all the work), trained with "
        "each setting on " + ", ".join(plan.option_data) + f", {plan.option_seeds} seed(s)."))
    effects = []
    for name in plan.option_grid:
        records = staged[f"option_{name}"]
        results = results_frame(records)
        summary = summarize(results, ["dataset", name, "model"])
        settings = {"grid": {name: plan.option_grid[name]}}
        add_sweep(report, out, results, summary, settings, prefix=f"option_{name}_",
                  parts=parts)
        for dataset in plan.option_data:
            rows = summary[(summary["dataset"] == dataset) & summary[name].notna()]
            if len(rows) > 1:
                effects.append((name, dataset, option_effect(rows)))
    if effects:
        lines = []
        for name in plan.option_grid:
            mine = [e for e in effects if e[0] == name]
            if mine:
                top = max(mine, key=lambda e: e[2])
                if top[2] < MEANINGFUL:
                    lines.append(f"{name} makes no measurable difference on "
                                 f"{', '.join(plan.option_data)} (under "
                                 f"{100 * MEANINGFUL:.0f}% of the RMSE or within two seed "
                                 "standard deviations)")
                else:
                    lines.append(f"{name} matters most on {top[1]}, where it moves RMSE by "
                                 f"{100 * top[2]:.1f}% between its best and worst setting")
        parts.insert(1, report.reading("In short: " + "; ".join(lines) + "."))


def option_effect(rows: pd.DataFrame) -> float:
    """How far a setting moves the RMSE, as a share of its best value; 0 when the gap
    between the best and worst setting is within two seed standard deviations."""
    gap = rows["rmse_mean"].max() - rows["rmse_mean"].min()
    noise = rows["rmse_std"].fillna(0).max()
    return float(gap / rows["rmse_mean"].min()) if gap > 2 * noise else 0.0


def add_drop(report: HtmlReport, out: Path, records: list[dict]) -> None:
    from .explain import failure_anatomy, plot_episodes

    parts = report.section("What happens after an abrupt drop?")
    parts.append(report.text(
        "The drop series is seasonal (period 50) and falls by 4 at step 880, inside the "
        "test part. The same LSTM is trained with the automatic scaler (the training part "
        "looks stationary, so it picks standard scaling) and with per-window normalisation."))
    for record in (r for r in records if r["status"] == "ok"):
        pred = record["predictions"]
        frame = pd.DataFrame({k: pred[k] for k in ("actual", "model", "naive")},
                             index=pd.Index(pred["index"], name="t"))
        anatomy = failure_anatomy(frame, n_jumps=1)
        parts.append(report.heading(f"scaler {record['scaler']} (used: "
                                    f"{record['scaler_used']})"))
        path = out / f"drop_{record['scaler']}.png"
        plot_episodes(frame, anatomy, path)
        parts.append(report.image(path, f"drop episode, scaler {record['scaler']}"))
        parts.append(report.reading(
            f"test RMSE {record['rmse']:.3g} (naive {record['naive_rmse']:.3g}). "
            + " ".join(anatomy.lines)))


def add_lag_checks(report: HtmlReport, records: list[dict], inspections: dict) -> None:
    from .explain import lag_check

    parts = report.section("Is the model just repeating the last value?")
    rows, warnings = [], []
    first = min((r["seed"] for r in records), default=0)
    for record in records:
        if record["status"] != "ok" or record["seed"] != first:
            continue
        pred = record["predictions"]
        frame = pd.DataFrame({k: pred[k] for k in ("actual", "model", "naive")})
        verdict = inspections.get(record["dataset"])
        check = lag_check(frame, verdict.verdict if verdict else None)
        rows.append({"series": record["dataset"], "model": record["model"],
                     "corr(pred, last)": check.corr_last,
                     "corr(pred, target)": check.corr_target,
                     "moves / target moves": check.move_share,
                     "repeats last value": "yes" if check.repeats_last else "no",
                     "gain over naive": f"{100 * check.gain_over_naive:.1f}%"})
        if check.leakage_warning:
            warnings.append(f"{record['dataset']} {record['model']}: " + " ".join(check.lines))
    parts.append(report.table(pd.DataFrame(rows), digits=3))
    repeaters = sorted({r["series"] for r in rows if r["repeats last value"] == "yes"})
    text = ("the models mostly repeat the last value on " + ", ".join(repeaters)
            if repeaters else "no model merely repeats its last input")
    parts.append(report.reading(text + (". " + " ".join(warnings) if warnings else
                                        "; no suspiciously good score on a random walk.")))
