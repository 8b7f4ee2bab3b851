"""Pretrain the net that ships inside rnnlab (`rnnlab.pretrained`), reproducibly, on CPU.

The corpus (every part seeded; nothing read from a test part or a hidden benchmark):

- synthetic series (`synthetic`): compositions of a trend (none, linear, damped,
  piecewise, exponential), zero to two seasons (periods 4 to 168, a few harmonics or a
  free shape, additive or multiplicative), level shifts, outliers, an AR(1) or random-walk
  noise with Gaussian or heavy tails, some made positive or counts, some intermittent
  (demand of random size on random steps); and samples of Gaussian processes whose
  kernel is a random sum or product of linear, RBF, periodic, rational-quadratic and
  white-noise kernels (as Chronos' KernelSynth draws them);
- the training parts of the panels of ../shared/data/panels: each series without its
  last H (24 tourism, 12 hospital and car parts), as `benchmarks/panels.py` holds out;
- the first 80% of every other public series here: the S&P 500 files (closes and
  volumes), rnnlab's built-in series (sine, noise, complex, random_walk, drop, delay) and
  statsmodels' sunspots, co2, elnino, nile, macrodata's columns,
  interest_inflation and danish_data. The last 20% is where `benchmarks/zero_shot.py`
  scores them.

Each training window: a group drawn by its weight (GROUPS), a series of it uniformly (a
long series gives no more windows than a short one), an origin uniformly over it, and
sometimes a shorter history (the net must forecast from 12 values as from 384). A
seasonal series enters twice: with its season taken out (the period the fit would use)
and without (the pool's member without a season sees it so). The loss is the pinball loss
of the quantile heads on the next OUTPUT values, in the window's normalised units.

    nice -n 10 .venv/bin/python benchmarks/pretrain.py --threads 2 --steps 40000 \\
        --out src/rnnlab/weights/pretrained.npz
    ... --exclude tourism --out runs/pretrain/no-tourism.npz   # leave one panel out

It writes the weights (numbers only) and, beside them, a JSON report: the corpus, the
settings, the losses, the time, the load average and the file's SHA-256 (paste it into
`rnnlab.pretrained.WEIGHTS_SHA256` for the shipped file).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from rnnlab import pretrained as P  # noqa: E402

SHARED = HERE.parents[1] / "shared" / "data"
PANELS = {"tourism": ("tourism_monthly.csv", 24), "hospital": ("hospital_monthly.csv", 12),
          "car_parts": ("car_parts_monthly.csv", 12)}
# The share of training windows each group gives (renormalised over the groups kept).
GROUPS = {"composed": 0.40, "kernels": 0.15, "tourism": 0.08, "hospital": 0.07,
          "car_parts": 0.07, "sandp": 0.13, "public": 0.10}
# The share of public series each series keeps for the corpus (the rest is for scoring).
KEEP = 0.8
# Periods a synthetic season takes (and any of 3..100 beside them).
PERIODS = (4, 5, 6, 7, 12, 12, 12, 24, 24, 52, 168)


# --- synthetic series ---------------------------------------------------------------


def season_shape(rng, period: int) -> np.ndarray:
    """One period of a season, mean 0, unit spread: a few harmonics, or a free shape."""
    phase = np.arange(period) / period
    if rng.random() < 0.6 or period < 4:
        k = rng.integers(1, min(4, max(period // 2, 1)) + 1)
        shape = sum(rng.normal() * np.sin(2 * np.pi * (j + 1) * phase + rng.uniform(0, 6.3))
                    / (j + 1) ** rng.uniform(0, 1.5) for j in range(k))
    else:
        shape = rng.normal(size=period)
        if rng.random() < 0.5:  # smoother shapes
            tripled = np.r_[shape, shape, shape]
            shape = np.convolve(tripled, np.ones(3) / 3, "same")[period:2 * period]
    shape = np.asarray(shape, np.float64) - np.mean(shape)
    return shape / (np.std(shape) or 1.0)


def ar_noise(rng, n: int) -> np.ndarray:
    from scipy.signal import lfilter

    dof = rng.choice([3.0, 5.0, np.inf])
    eps = rng.standard_t(dof, n) if np.isfinite(dof) else rng.normal(size=n)
    if rng.random() < 0.2:  # heteroscedastic: a slowly moving spread
        eps *= np.exp(0.5 * np.cumsum(rng.normal(0, 0.05, n)))
    phi = rng.uniform(-0.4, 0.97) if rng.random() < 0.7 else 0.0
    return lfilter([1.0], [1.0, -phi], eps)


def composed(rng, n: int) -> tuple[np.ndarray, int]:
    """A composed series and its shortest season's period (1 without one)."""
    t = np.arange(n, dtype=np.float64)
    y = ar_noise(rng, n)
    if rng.random() < 0.3:  # a stochastic level: a random walk
        y += np.cumsum(rng.normal(0, rng.uniform(0.1, 1.5), n))
    kind = rng.choice(["none", "linear", "damped", "piecewise", "curve"],
                      p=[0.3, 0.25, 0.15, 0.2, 0.1])
    slope = rng.normal(0, 0.1) * rng.choice([0.1, 1.0, 5.0])
    if kind == "linear":
        y += slope * t
    elif kind == "damped":
        y += slope * (1 - 0.99 ** t) / 0.01
    elif kind == "piecewise":
        knots = np.sort(rng.integers(0, n, rng.integers(1, 4)))
        slopes = rng.normal(0, abs(slope) + 0.02, len(knots) + 1)
        y += np.cumsum(slopes[np.searchsorted(knots, t.astype(int))])
    elif kind == "curve":
        y += slope * n * (t / n) ** rng.uniform(1.5, 3)
    periods = []
    for _ in range(rng.choice([0, 1, 2], p=[0.3, 0.5, 0.2])):
        p = int(rng.choice(PERIODS)) if rng.random() < 0.8 else int(rng.integers(3, 101))
        if p < n // 2:
            periods.append(p)
            amp = np.exp(rng.uniform(np.log(0.3), np.log(20)))
            drift = np.exp(np.cumsum(rng.normal(0, 0.003, n))) if rng.random() < 0.3 else 1.0
            y += amp * drift * season_shape(rng, p)[t.astype(int) % p]
    if rng.random() < 0.2:  # level shifts
        for at in rng.integers(n // 10, n, rng.integers(1, 4)):
            y[at:] += rng.normal(0, 10)
    if rng.random() < 0.1:  # outliers
        at = rng.integers(0, n, rng.integers(1, 5))
        y[at] += rng.normal(0, 10, len(at))
    y = (y - y.mean()) / (y.std() or 1.0)
    form = rng.random()
    if form < 0.35:  # multiplicative: trend and season in proportion to the level
        y = np.exp(rng.uniform(0.05, 0.8) * y + rng.uniform(-2, 6))
    elif form < 0.55:
        y = y - y.min() + rng.uniform(0.05, 3)
    elif form < 0.65:  # counts around a moving rate
        y = rng.poisson(np.exp(np.clip(rng.uniform(0.1, 0.6) * y + rng.uniform(0.5, 4), -5, 8)))
    elif form < 0.75:  # intermittent demand
        prob = 1 / (1 + np.exp(-(0.7 * y + rng.uniform(-3, 0))))
        size = rng.gamma(rng.uniform(0.5, 3), rng.uniform(1, 20), n)
        y = np.where(rng.random(n) < prob, np.ceil(size), 0.0)
        periods = []
    return np.asarray(y, np.float64), (min(periods) if periods else 1)


def kernel_sample(rng, n: int) -> tuple[np.ndarray, int]:
    """A Gaussian process sample whose kernel is a random composition of a bank's."""
    t = np.linspace(0, 1, n)
    d = t[:, None] - t[None, :]
    periods = []

    def one():
        kind = rng.choice(["linear", "rbf", "periodic", "rq", "white", "const"],
                          p=[0.15, 0.25, 0.3, 0.15, 0.1, 0.05])
        if kind == "linear":
            c = rng.uniform(-0.5, 1.5)
            return (t[:, None] - c) * (t[None, :] - c)
        if kind == "rbf":
            ell = np.exp(rng.uniform(np.log(0.02), np.log(1.0)))
            return np.exp(-0.5 * (d / ell) ** 2)
        if kind == "periodic":
            p = int(rng.choice(PERIODS)) if rng.random() < 0.8 else int(rng.integers(3, 101))
            p = min(p, max(n // 3, 2))
            periods.append(p)
            ell = rng.uniform(0.5, 2.0)
            return np.exp(-2 * np.sin(np.pi * np.abs(d) * n / p) ** 2 / ell ** 2)
        if kind == "rq":
            ell, alpha = np.exp(rng.uniform(np.log(0.05), np.log(1))), rng.uniform(0.1, 5)
            return (1 + d ** 2 / (2 * alpha * ell ** 2)) ** -alpha
        if kind == "white":
            return np.eye(n) * rng.uniform(0.01, 0.3)
        return np.full((n, n), rng.uniform(0.1, 2))

    k = one()
    for _ in range(rng.integers(0, 4)):
        k = k + one() if rng.random() < 0.6 else k * one()
    k += 1e-6 * np.eye(n)
    try:
        chol = np.linalg.cholesky(k)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(k)
        chol = vecs * np.sqrt(np.clip(vals, 0, None))
    y = chol @ rng.normal(size=n) + 0.01 * rng.normal(size=n)
    y = (y - y.mean()) / (y.std() or 1.0)
    if rng.random() < 0.3:
        y = np.exp(rng.uniform(0.05, 0.6) * y + rng.uniform(0, 5))
    return y, (min(periods) if periods else 1)


def synthetic(seed: int, n_composed: int, n_kernels: int) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    out = {"composed": [], "kernels": []}
    for k in range(n_composed):
        n = int(np.exp(rng.uniform(np.log(40), np.log(1500))))
        values, period = composed(rng, n)
        out["composed"].append((f"composed{k}", values, period))
    for k in range(n_kernels):
        n = int(np.exp(rng.uniform(np.log(40), np.log(512))))
        values, period = kernel_sample(rng, n)
        out["kernels"].append((f"kernel{k}", values, period))
    return out


# --- public series ------------------------------------------------------------------


def panel_parts(name: str) -> list:
    """Each series of a panel without its last H: (id, values, period 12)."""
    file, horizon = PANELS[name]
    frame = pd.read_csv(SHARED / "panels" / file)
    frame["value"] = frame["value"].fillna(0.0)
    return [(f"{name}:{sid}", g["value"].to_numpy(np.float64)[:-horizon], 12)
            for sid, g in frame.groupby("id", sort=False) if len(g) > horizon]


def sandp_parts() -> list:
    out = []
    for path in sorted((SHARED / "sandp500" / "individual_stocks_5yr").glob("*_data.csv")):
        frame = pd.read_csv(path)
        for column in ("close", "volume"):
            values = frame[column].dropna().to_numpy(np.float64)
            keep = values[:int(len(values) * KEEP)]
            if len(keep) > P.MIN_CONTEXT + 1:
                out.append((f"{path.name.split('_')[0]}:{column}", keep, 5))
    return out


def public_parts() -> list:
    import statsmodels.api as sm

    from rnnlab.data import load_series
    from rnnlab.diagnostics import repeated_season

    out = []
    for name in ("sine", "noise", "complex", "random_walk", "drop", "delay", "sunspots",
                 "co2", "elnino", "nile"):
        values = load_series(name).to_numpy(np.float64)
        keep = values[:int(len(values) * KEEP)]
        period = {"co2": 12, "elnino": 12}.get(name) or repeated_season(keep)[0] or 1
        out.append((name, keep, int(period)))
    macro = sm.datasets.macrodata.load_pandas().data
    frames = [(macro.drop(columns=["year", "quarter"]), 4),
              (sm.datasets.interest_inflation.load_pandas().data.drop(columns=["year", "quarter"],
                                                                       errors="ignore"), 4),
              (sm.datasets.danish_data.load_pandas().data, 4)]
    for frame, period in frames:
        for column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").dropna().to_numpy(np.float64)
            keep = values[:int(len(values) * KEEP)]
            if len(keep) > 2 * P.MIN_CONTEXT:
                out.append((f"statsmodels:{column}", keep, period))
    return out


def corpus(seed: int, n_composed: int, n_kernels: int, exclude: list[str]) -> dict[str, list]:
    groups = synthetic(seed, n_composed, n_kernels)
    for name in PANELS:
        groups[name] = panel_parts(name)
    groups["sandp"] = sandp_parts()
    groups["public"] = public_parts()
    return {k: v for k, v in groups.items() if k not in exclude and v}


# --- windows -----------------------------------------------------------------------


class Bank:
    """Every corpus series in the net's space, end to end in one array: per entry
    (a series, with or without its season taken out) its start, length, floor and group."""

    def __init__(self, groups: dict[str, list]):
        parts, starts, lengths, floors, group_of = [], [], [], [], []
        self.names = list(groups)
        at = 0
        for g, name in enumerate(self.names):
            for _, values, period in groups[name]:
                values = np.asarray(values, np.float64)
                if not np.isfinite(values).all() or len(values) <= P.MIN_CONTEXT:
                    continue
                fit = values[:max(int(len(values) * KEEP), P.MIN_CONTEXT)]
                forms = [P.fit_transform(fit, period)]
                if len(forms[0].season) > 1:  # seasonal: also as the seasonless member sees it
                    forms.append(P.fit_transform(fit, 1))
                for form in forms:
                    parts.append(form.space(values))
                    starts.append(at)
                    lengths.append(len(values))
                    floors.append(form.floor)
                    group_of.append(g)
                    at += len(values)
        self.u = np.concatenate(parts)
        self.starts, self.lengths = np.array(starts), np.array(lengths)
        self.floors, self.group = np.array(floors), np.array(group_of)
        self.members = [np.flatnonzero(self.group == g) for g in range(len(self.names))]

    def sample(self, rng, size: int, weights: np.ndarray):
        """A batch: x (size, CONTEXT, 2) float32 and targets (size, OUTPUT) float32."""
        groups = rng.choice(len(weights), size, p=weights)
        entry = np.array([rng.choice(self.members[g]) for g in groups])
        start, length = self.starts[entry], self.lengths[entry]
        origin = start + P.MIN_CONTEXT + (rng.random(size) * (length - P.MIN_CONTEXT)).astype(int)
        first = start.copy()
        short = rng.random(size) < 0.3  # a shorter history, as short series have
        visible = np.exp(rng.uniform(np.log(P.MIN_CONTEXT), np.log(P.CONTEXT), size)).astype(int)
        first[short] = np.maximum(start[short], origin[short] - visible[short])
        raw, pad = P.gather(self.u, origin, first)
        x, level, scale = P.normalise(raw, pad, self.floors[entry])
        ahead = origin[:, None] + np.arange(P.OUTPUT)
        known = ahead < (start + length)[:, None]
        y = (self.u[np.minimum(ahead, len(self.u) - 1)] - level[:, None]) / scale[:, None]
        y = np.where(known, np.clip(y, -P.CLIP, P.CLIP), np.nan)
        return x, y.astype(np.float32)


# --- training ----------------------------------------------------------------------


def train(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    load_start = os.getloadavg()
    groups = corpus(args.seed, args.composed, args.kernels, args.exclude)
    bank = Bank(groups)
    weights = np.array([GROUPS[name] for name in bank.names])
    weights /= weights.sum()
    summary = {name: {"series": len(groups[name]),
                      "values": int(sum(len(v) for _, v, _ in groups[name])),
                      "weight": round(float(w), 4)}
               for name, w in zip(bank.names, weights, strict=True)}
    prep_s = time.perf_counter() - started
    print(f"corpus in {prep_s:.0f} s: {json.dumps(summary)}", flush=True)
    rng = np.random.default_rng(args.seed + 1)
    val = [bank.sample(np.random.default_rng(10_000 + k), args.batch_size, weights)
           for k in range(8)]
    net = P.build_net(args.hidden_size, args.num_layers)
    optimiser = torch.optim.Adam(net.parameters(), lr=args.lr)
    history = []
    out = Path(args.out)
    train_started = time.perf_counter()
    running = None
    for step in range(1, args.steps + 1):
        # cosine decay after a short warm-up
        lr = args.lr * min(1.0, step / 500) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for group in optimiser.param_groups:
            group["lr"] = lr
        x, y = bank.sample(rng, args.batch_size, weights)
        loss = net.loss(torch.from_numpy(x), torch.from_numpy(y))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)  # rare huge windows
        optimiser.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % args.every == 0 or step == args.steps:
            with torch.no_grad():
                v = float(np.mean([net.loss(torch.from_numpy(a), torch.from_numpy(b)).item()
                                   for a, b in val]))
            seconds = time.perf_counter() - train_started
            history.append({"step": step, "train": round(running, 5), "val": round(v, 5),
                            "seconds": round(seconds, 1)})
            print(f"step {step}: train {running:.4f} val {v:.4f} ({seconds:.0f} s, "
                  f"{step * args.batch_size / seconds:.0f} windows/s, load "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
            save(net, args, out, history, summary, prep_s, load_start, started)


def save(net, args, out: Path, history, summary, prep_s, load_start, started) -> None:
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    digest = P.save_weights(out, state, args.hidden_size, args.num_layers)
    report = {"sha256": digest, "bytes": out.stat().st_size,
              "parameters": int(sum(v.size for k, v in state.items() if k != "quantiles")),
              "settings": {k: v for k, v in vars(args).items()},
              "corpus": summary, "corpus_seconds": round(prep_s, 1),
              "train_seconds": history[-1]["seconds"] if history else 0.0,
              "wall_seconds": round(time.perf_counter() - started, 1),
              "load_average_start": [round(x, 2) for x in load_start],
              "load_average_end": [round(x, 2) for x in os.getloadavg()],
              "history": history}
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/pretrain/pretrained.npz")
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--composed", type=int, default=24_000, help="composed series")
    parser.add_argument("--kernels", type=int, default=6_000, help="Gaussian-process series")
    parser.add_argument("--exclude", action="append", default=[], choices=list(GROUPS),
                        help="leave a group out (repeatable), e.g. tourism")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--every", type=int, default=500, help="steps between reports")
    train(parser.parse_args())


if __name__ == "__main__":
    main()
