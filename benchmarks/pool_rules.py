"""The rule that picks or combines the pool's candidates, measured against its alternatives.

For every series of a set, each candidate of the default pool (`rnnlab.forecaster`'s
stages: the folds, the statistical candidates, the net) is scored on the folds and then
fitted again on all the data before the last H values, which it forecasts. The rules
below turn the same fold losses into weights; each is scored the M4 way on those last H
values (MASE with the set's m, sMAPE, OWA against Naive2), so every rule sees exactly the
same candidates and the same targets.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/pool_rules.py --set tourism --collect
    .venv/bin/python benchmarks/pool_rules.py --set tourism          # the table, from cache
    ... --set hospital --limit 300, --set car_parts, --set m4_protocol, --set cuts

Sets: the three panels of ../shared/data/panels (`panels.py`), the M4-protocol stand-ins
(`m4_protocol.py`) and the 6 cuts of 16 real series (`refit_cuts.py`).
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from rnnlab.metrics import mase, naive2, smape  # noqa: E402


def series_set(name: str, limit: int | None) -> list[tuple[str, int, int, pd.Series]]:
    """(id, H, m, the series up to and including its last H values)."""
    if name in ("tourism", "hospital", "car_parts"):
        from panels import PANELS, load

        _, horizon, m = PANELS[name]
        items = [(str(s.name), horizon, m, s) for s in load(name)]
    elif name == "m4_protocol":
        from m4_protocol import series_set as m4

        items = [(f"{g}:{s.name}", h, m, s) for g, h, m, s in m4()]
    elif name == "cuts":
        from refit_cuts import CUTS
        from refit_cuts import series_set as cuts

        items = []
        for sid, horizon, m, s in cuts():
            ends = np.unique(np.linspace(int(len(s) * 0.75), len(s), CUTS).astype(int))
            items += [(f"{sid}@{end}", horizon, m, s.iloc[:end]) for end in ends]
    else:
        raise SystemExit(f"unknown set {name}")
    if limit:
        step = max(1, len(items) // limit)
        items = items[::step][:limit]
    return items


def collect_one(item: tuple) -> dict | None:
    """Every candidate's fold losses and final forecast for one series."""
    import torch

    from rnnlab.choose import fold_losses, loss_scale, make_folds, plausible
    from rnnlab.forecaster import (
        Forecaster,
        check_inputs,
        fit_nets,
        fit_pool,
        floor_paths,
        resolve_seq_len,
    )

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    sid, horizon, m, series = item
    started = time.perf_counter()
    fit_part = series.iloc[:-horizon]
    f = Forecaster(horizon=horizon, progress=False)
    try:
        s, _ = check_inputs(f, fit_part)
        values = s.to_numpy(np.float64)
        folds = make_folds(len(values), horizon, int(round(len(values) * f.val_fraction)))
        resolve_seq_len([f], values[:folds.start])
        fit = fit_pool(f, s, None, folds)
        nets = fit_nets([f], fit)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        return {"id": sid, "error": f"{type(exc).__name__}: {exc}"[:200]}
    candidates, paths = list(fit.candidates), list(fit.paths)
    if nets[0] is not None and nets[0].history.best_epoch > 0:
        candidates.append(nets[0])
        paths.append(floor_paths(nets[0].paths(fit.values, folds.origins, horizon), fit.floor))
    stack = np.stack(paths)
    scale = loss_scale(values[:folds.start], fit.seasons[0] if fit.seasons else None)
    losses = fold_losses(stack, fit.targets, scale)
    usable = plausible(stack, values, folds.origins)
    floor = 0.0 if values.min() >= 0 else None
    finals = []
    for c in candidates:
        if c.family != "net":
            form = (c.trend_, c.damped_, c.season_) if c.family == "ets" else None
            try:
                c.fit(values, form) if form else c.fit(values)
            except Exception:  # noqa: BLE001
                finals.append(np.full(horizon, np.nan))
                continue
        finals.append(floor_paths(c.paths(values, np.array([len(values)]), horizon)[0], floor))
    finals = np.array(finals)
    end_ok = plausible(finals[:, None, :], values, np.array([len(values)]))
    test = series.to_numpy(np.float64)[-horizon:]
    return {"id": sid, "m": m, "families": [c.family for c in candidates],
            "names": [c.name for c in candidates], "losses": losses, "usable": usable,
            "end_ok": end_ok, "finals": finals, "test": test, "train": values,
            "horizon": horizon, "seconds": time.perf_counter() - started}


# --- rules: (losses, families, usable, horizon) -> weights ---------------------------


def family_best(losses, families, usable):
    mean = np.where(usable, losses.mean(1), np.inf)
    best = {}
    for i, fam in enumerate(families):
        if usable[i] and (fam not in best or mean[i] < mean[best[fam]]):
            best[fam] = i
    return mean, best


def rule_best(losses, families, usable, horizon):
    mean = np.where(usable, losses.mean(1), np.inf)
    w = np.zeros(len(losses))
    w[int(np.argmin(mean))] = 1
    return w


def rule_factor(factor, median=False):
    def rule(losses, families, usable, horizon):
        mean, best = family_best(losses, families, usable)
        top = min(mean[i] for i in best.values())
        kept = [i for i in best.values() if mean[i] <= factor * top]
        if median:
            return ("median", kept)
        w = np.zeros(len(losses))
        w[kept] = 1 / len(kept)
        return w
    return rule


def rule_top(k, median=False):
    def rule(losses, families, usable, horizon):
        mean, best = family_best(losses, families, usable)
        kept = sorted(best.values(), key=lambda i: mean[i])[:k]
        w = np.zeros(len(losses))
        w[kept] = 1 / len(kept)
        return ("median", kept) if median else w
    return rule


def rule_se(z=1.0):
    """Families not worse than the best by more than z Newey-West standard errors of
    their paired per-origin loss differences (H - 1 lags), averaged."""
    def rule(losses, families, usable, horizon):
        mean, best = family_best(losses, families, usable)
        top = min(best.values(), key=lambda i: mean[i])
        kept = [i for i in best.values()
                if i == top or (losses[i] - losses[top]).mean() <= z * nw_se(
                    losses[i] - losses[top], horizon)]
        w = np.zeros(len(losses))
        w[kept] = 1 / len(kept)
        return w
    return rule


def nw_se(d, horizon):
    n = len(d)
    if n < 2:
        return math.inf
    c = d - d.mean()
    lags = min(n - 1, max(int(n ** (1 / 3)), horizon - 1))
    var = c @ c / n
    for k in range(1, lags + 1):
        var += 2 * (1 - k / (lags + 1)) * (c[k:] @ c[:-k]) / n
    var = max(var, c @ c / n / n)
    return math.sqrt(var / n)


def rule_inverse(k):
    def rule(losses, families, usable, horizon):
        mean, best = family_best(losses, families, usable)
        kept = sorted(best.values(), key=lambda i: mean[i])[:k]
        w = np.zeros(len(losses))
        inv = np.array([1 / max(mean[i], 1e-12) for i in kept])
        w[kept] = inv / inv.sum()
        return w
    return rule


BASELINE_FAMILIES = ("naive", "seasonal_naive", "mean")


def rule_earn(combine="all", factor=None, with_baseline=False):
    """Model families join only where they win against the best baseline family on the
    folds by the one rule (1% margin and a Diebold-Mariano p < 0.05 on the per-origin
    losses, H - 1 lags); the winners are averaged, else the best baseline forecasts."""
    from rnnlab.metrics import SIGNIFICANCE, TIE_MARGIN, diebold_mariano

    def rule(losses, families, usable, horizon):
        mean, best = family_best(losses, families, usable)
        bases = [i for f, i in best.items() if f in BASELINE_FAMILIES]
        base = min(bases, key=lambda i: mean[i]) if bases else None
        winners = []
        for f, i in best.items():
            if f in BASELINE_FAMILIES:
                continue
            if base is None:
                winners.append(i)
                continue
            p = diebold_mariano(losses[i], losses[base], horizon)
            if mean[i] < (1 - TIE_MARGIN) * mean[base] and p < SIGNIFICANCE:
                winners.append(i)
        w = np.zeros(len(losses))
        if not winners:
            w[base] = 1
            return w
        winners.sort(key=lambda i: mean[i])
        if factor:
            winners = [i for i in winners if mean[i] <= factor * mean[winners[0]]]
        if combine != "all":
            winners = winners[:combine]
        if with_baseline:
            winners.append(base)
        w[winners] = 1 / len(winners)
        return w
    return rule


RULES = {
    "f1.2median": rule_factor(1.2, True), "f1.5median": rule_factor(1.5, True),
    "f2median": rule_factor(2.0, True), "f3median": rule_factor(3.0, True),
    "earn_all": rule_earn(), "earn_f1.5": rule_earn(factor=1.5),
    "earn_f1.2": rule_earn(factor=1.2), "earn_top3": rule_earn(3),
    "earn_all_base": rule_earn(with_baseline=True),
    "best": rule_best, "factor1.1": rule_factor(1.1), "factor1.2": rule_factor(1.2),
    "factor1.5": rule_factor(1.5), "top2": rule_top(2), "top3": rule_top(3),
    "top4": rule_top(4), "top3median": rule_top(3, True), "top5median": rule_top(5, True),
    "se_nw": rule_se(1.0), "se_nw2": rule_se(2.0),
    "inverse3": rule_inverse(3), "top5": rule_top(5), "top6": rule_top(6),
    "all": rule_top(99), "allmedian": rule_top(99, True), "factor2": rule_factor(2.0),
    "factor3": rule_factor(3.0), "inverse5": rule_inverse(5), "inverse_all": rule_inverse(99),
}


def rule_only(family):
    """The family's best member on the folds alone (a diagnostic, not a rule)."""
    def rule(losses, families, usable, horizon):
        mean, best = family_best(losses, families, usable)
        w = np.zeros(len(losses))
        if family in best:
            w[best[family]] = 1
        else:
            w[int(np.argmin(mean))] = 1
        return w
    return rule


ONLY = {f"only:{f}": rule_only(f) for f in ("naive", "seasonal_naive", "linear", "ets",
                                            "theta", "net", "intermittent")}


def evaluate(rows: list[dict], rules: dict) -> pd.DataFrame:
    out = []
    for name, rule in rules.items():
        scores = []
        for r in rows:
            usable = r["usable"] & r["end_ok"] & np.isfinite(r["finals"]).all(1)
            if not usable.any():
                usable = np.isfinite(r["finals"]).all(1)
            w = rule(r["losses"], r["families"], usable, r["horizon"])
            if isinstance(w, tuple):
                forecast = np.median(r["finals"][w[1]], axis=0)
            else:
                forecast = w @ np.nan_to_num(r["finals"])
            train, test, m = r["train"], r["test"], r["m"]
            n2 = naive2(train, len(test), m)
            scores.append((mase(test, forecast, train, m), smape(test, forecast),
                           mase(test, n2, train, m), smape(test, n2)))
        s = pd.DataFrame(scores, columns=["mase", "smape", "mase_n2", "smape_n2"])
        s = s.replace([np.inf, -np.inf], np.nan)
        owa = 0.5 * (s.smape.mean() / s.smape_n2.mean() + s.mase.mean() / s.mase_n2.mean())
        out.append({"rule": name, "MASE": s.mase.mean(), "sMAPE": s.smape.mean(), "OWA": owa})
    return pd.DataFrame(out)


def drop(row: dict, words: list[str]) -> dict:
    """`row` without the candidates whose name holds one of `words`."""
    keep = [i for i, name in enumerate(row["names"]) if not any(w in name for w in words)]
    out = dict(row)
    for key in ("losses", "usable", "end_ok", "finals"):
        out[key] = row[key][keep]
    for key in ("families", "names"):
        out[key] = [row[key][i] for i in keep]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--collect", action="store_true", help="fit and cache the pool")
    parser.add_argument("--cache", default="runs/pool_rules")
    parser.add_argument("--drop", action="append", default=[],
                        help="leave out candidates whose name holds this (an ablation)")
    args = parser.parse_args()
    cache = Path(args.cache) / f"{args.set}{'-' + str(args.limit) if args.limit else ''}.pkl"
    if args.collect or not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        items = series_set(args.set, args.limit)
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"{len(items)} series", file=sys.stderr)
        with Pool(2) as pool:
            rows = pool.map(collect_one, items, chunksize=1)
        cache.write_bytes(pickle.dumps(rows))
    rows = pickle.loads(cache.read_bytes())
    errors = [r for r in rows if r is None or "error" in r]
    rows = [drop(r, args.drop) for r in rows if r is not None and "error" not in r]
    print(f"{len(rows)} series ({len(errors)} failed"
          + (f", e.g. {errors[0]['id']}: {errors[0]['error']}" if errors else "") + ")")
    groups = sorted({r["id"].split(":")[0] for r in rows}) if ":" in rows[0]["id"] else [None]
    for group in groups:
        part = [r for r in rows if group is None or r["id"].startswith(group + ":")]
        table = evaluate(part, {**RULES, **ONLY})
        print(f"-- {group or args.set}: {len(part)} series")
        print(table.round(4).to_string(index=False))
    families = pd.Series([f for r in rows for f in dict.fromkeys(r["families"])]).value_counts()
    print("families present:", families.to_dict())


if __name__ == "__main__":
    main()
