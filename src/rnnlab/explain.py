"""What a trained model remembers, where it fails, and whether it only repeats the past.

    rnnlab train --data drop --out runs/drop && rnnlab explain --run runs/drop

Three plain functions return data that the CLI prints and the HTML report draws:

- `memory_profile(forecaster, series, split)`: mean |d prediction / d input k steps back|
  over the test windows, normalised to sum 1, and the effective memory (the fewest most
  recent steps that hold 90% of that sensitivity);
- `failure_anatomy(predictions)`: the largest jumps in the test part, the error after
  each against the error elsewhere, and the steps the model needs to recover;
- `lag_check(predictions, verdict)`: does the model mostly repeat the last value, and does
  it beat tomorrow = today on a random walk (more likely leakage than skill)?
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, RnnlabError

# Share of the input sensitivity that the effective memory must hold.
MEMORY_COVERAGE = 0.9
# Steps after a jump that count as its episode.
EPISODE_STEPS = 20
# Jumps below this many robust standard deviations of the changes are ordinary noise;
# only the largest jump is reported then, marked as ordinary.
LARGE_JUMP = 4.0
# Recovery is read from the mean |error| over this many steps, so one lucky step is not a
# recovery and one noisy step is not a relapse.
RECOVERY_SPAN = 5
# Back to normal: that mean is at most this many times the model's normal median |error|.
RECOVERY_FACTOR = 2.0
# The lag check calls a model a repeater when it moves less than this share as far from
# the last value as the targets do, and correlates more with the last value than with them.
REPEAT_SHARE = 0.5
# Beating naive by more than this on a random walk is more likely leakage than skill.
LEAKAGE_MARGIN = 0.05


# --- memory ---------------------------------------------------------------------------


@dataclass
class MemoryProfile:
    """Normalised input sensitivity per lag; ``sensitivity[k - 1]`` is lag k (k = 1 is the
    most recent input)."""

    model: str
    sensitivity: np.ndarray  # (seq_len,), sums to 1
    effective_memory: int
    n_windows: int
    coverage: float = MEMORY_COVERAGE

    @property
    def seq_len(self) -> int:
        return len(self.sensitivity)

    @property
    def peak_lag(self) -> int:
        """The lag the prediction is most sensitive to."""
        return int(np.argmax(self.sensitivity)) + 1

    @property
    def flat(self) -> bool:
        """No lag stands out: the peak is under twice the uniform share. The effective
        memory of a flat curve is long only because nothing is looked at in particular."""
        return bool(self.sensitivity.max() < 2.0 / self.seq_len)

    def to_dict(self) -> dict:
        return {"model": self.model, "seq_len": self.seq_len,
                "effective_memory": self.effective_memory, "coverage": self.coverage,
                "peak_lag": self.peak_lag, "flat": self.flat, "n_windows": self.n_windows,
                "sensitivity": [round(float(v), 6) for v in self.sensitivity]}

    @classmethod
    def from_dict(cls, raw: dict) -> MemoryProfile:
        """Rebuild a profile from `to_dict()` output (e.g. a compare run's record)."""
        return cls(raw["model"], np.asarray(raw["sensitivity"], dtype=np.float64),
                   int(raw["effective_memory"]), int(raw["n_windows"]),
                   float(raw.get("coverage", MEMORY_COVERAGE)))

    def describe(self) -> str:
        top = np.argsort(self.sensitivity)[::-1][:3] + 1
        shares = ", ".join(f"lag {k} {100 * self.sensitivity[k - 1]:.0f}%" for k in top)
        text = (f"{self.model}: effective memory {self.effective_memory} of {self.seq_len} "
                f"steps ({100 * self.coverage:.0f}% of the input sensitivity lies in the last "
                f"{self.effective_memory}); largest: {shares}")
        if self.flat:
            text += "; the curve is flat: no lag stands out"
        return text


def effective_memory(sensitivity: np.ndarray, coverage: float = MEMORY_COVERAGE) -> int:
    """Fewest most recent lags whose normalised sensitivity sums to at least `coverage`.

    Examples
    --------
    >>> effective_memory(np.array([0.5, 0.3, 0.15, 0.05]))
    3
    """
    total = np.cumsum(np.asarray(sensitivity, dtype=np.float64))
    # A hair of tolerance: shares that sum to exactly 0.9 in decimals do not in binary.
    return int(np.searchsorted(total, coverage * total[-1] - 1e-9) + 1)


def memory_profile(forecaster, series: pd.Series, split=None,
                   coverage: float = MEMORY_COVERAGE) -> MemoryProfile:
    """Mean |d prediction / d x_(t-k)| over windows, per lag k, normalised to sum 1.

    Parameters
    ----------
    forecaster : a fitted `rnnlab.Forecaster`.
    series : the series the forecaster was backtested on (or any series, in its units).
    split : a `rnnlab.windows.Split`; its test part's windows are probed. None probes
        every window of `series`.

    The gradient runs through the model's own scaler, per-window normalisation included,
    so it is the sensitivity to the actual values the model sees.

    Examples
    --------
    >>> from rnnlab import Forecaster, load_series
    >>> series = load_series("sine")
    >>> f = Forecaster(model="linear", seq_len=10, progress=False).fit(series[:800])
    >>> memory_profile(f, series).seq_len
    10
    """
    import torch

    from .windows import Windows, as_tensor

    forecaster._check_fitted()
    net, scaler, seq_len = forecaster.model_, forecaster.scaler_, forecaster.seq_len
    values = np.asarray(series, dtype=np.float64)
    start = seq_len if split is None else max(seq_len, split.n_fit)
    if len(values) <= start:
        raise DataError(f"{getattr(series, 'name', 'series')} has {len(values)} values; the "
                        f"memory probe needs windows after position {start}")
    device = next(net.parameters()).device
    z = as_tensor(scaler.to_units(values), device)  # (n,)
    # Raw windows: the relative shift of Windows.batch is redone below under autograd.
    windows = Windows(z, seq_len, start, len(values), relative=False)
    net.eval()
    total = torch.zeros(seq_len, dtype=torch.float64)
    for chunk in windows.chunks(4096):
        raw = windows.inputs[chunk].detach().clone().requires_grad_(True)  # (batch, seq_len)
        if scaler.relative:
            # As Windows.batch: the net sees the window minus its last value and predicts
            # the change, which is added back.
            prediction = net((raw - raw[:, -1:]).unsqueeze(-1)) + raw[:, -1]
        else:
            prediction = net(raw.unsqueeze(-1))
        # Windows do not interact, so the gradient of the sum holds each window's own.
        (grad,) = torch.autograd.grad(prediction.sum(), raw)
        total += grad.abs().sum(0).double().cpu()
    per_lag = total.numpy()[::-1].copy()  # lag 1 = the most recent input
    if per_lag.sum() == 0:
        sensitivity = np.full(seq_len, 1.0 / seq_len)
    else:
        sensitivity = per_lag / per_lag.sum()
    return MemoryProfile(forecaster.model, sensitivity, effective_memory(sensitivity, coverage),
                         len(windows), coverage)


def plot_memory_curves(profiles: dict[str, MemoryProfile], path: str | Path,
                       title: str = "") -> None:
    """Sensitivity against lag for several models side by side, effective memory marked."""
    from .report import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, profile) in enumerate(profiles.items()):
        color = colors[i % len(colors)]
        lags = np.arange(1, profile.seq_len + 1)
        ax.plot(lags, profile.sensitivity, marker="o", ms=3, lw=1.4, color=color,
                label=f"{label} (effective memory {profile.effective_memory})")
        ax.axvline(profile.effective_memory, color=color, ls=":", lw=1)
    ax.set_xlabel("lag k (steps back; 1 = the last input)")
    ax.set_ylabel("share of mean |d prediction / d x(t-k)|")
    ax.set_title(title or "what the model looks at")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    _save(fig, path)


def compare_memory(series: pd.Series, split, forecasters: dict) -> dict[str, dict]:
    """Backtest each (unfitted) forecaster on the same split and probe its memory.

    Returns {label: {"profile": MemoryProfile, "metrics": {...}}}, with the metrics of the
    model and the baselines on the test part as `rnnlab.experiment.backtest` scores them;
    `plot_memory_curves({k: v["profile"] ...}, path)` draws them side by side.

    Examples
    --------
    >>> from rnnlab import Forecaster
    >>> from rnnlab.data import delay
    >>> from rnnlab.windows import split_sizes
    >>> series = delay()
    >>> split = split_sizes(len(series), 30, 0.1, 0.2)
    >>> nets = {name: Forecaster(model=name, linear_skip=False, epochs=2, progress=False)
    ...         for name in ("rnn", "lstm")}
    >>> found = compare_memory(series, split, nets)
    >>> found["lstm"]["profile"].seq_len
    30
    """
    from .experiment import backtest

    found = {}
    for label, forecaster in forecasters.items():
        result = backtest(series, forecaster, split)
        found[label] = {"profile": memory_profile(result.forecaster, series, split),
                        "metrics": result.metrics}
    return found


# --- failure anatomy ------------------------------------------------------------------


@dataclass
class Episode:
    """What happened after one jump of the actual values."""

    position: int  # index in the test part of the first value after the jump
    at: str  # its date or time step
    jump: float  # actual[position] - actual[position - 1]
    jump_size: float  # |jump| in robust standard deviations of the test part's changes
    steps: int  # length of the episode (up to EPISODE_STEPS, less at the end)
    rmse_after: float  # model's RMSE over the episode
    naive_rmse_after: float
    bias_after: float  # mean (model - actual) over the episode
    undershoot: float  # share of the jump the model fails to follow (<0: overshoot)
    peak_error: float  # largest |model - actual| in the episode
    recovery_steps: int | None  # steps after the jump until errors are normal; None: never
    steps_left: int  # test steps from the jump to the end
    rmse_to_end: float  # model's RMSE from the jump to the end of the test part


@dataclass
class Anatomy:
    """The largest jumps of a test part and the model's error around them."""

    episodes: list[Episode]
    rmse_before: float  # model's RMSE before the first reported jump (nan if none)
    naive_rmse_before: float
    rmse_elsewhere: float  # model's RMSE on the test steps outside every episode
    naive_rmse_elsewhere: float
    normal_abs_error: float  # median |error| before the first jump (the model's calm level)
    episode_steps: int = EPISODE_STEPS
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        plain = asdict(self)
        return {k: _plain(v) for k, v in plain.items()}


def _plain(value):
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def _check_predictions(predictions: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(predictions, pd.DataFrame):
        raise DataError("predictions must be a DataFrame with columns "
                        f"{', '.join(columns)} (as in a run's predictions.csv)")
    missing = [c for c in columns if c not in predictions.columns]
    if missing:
        raise DataError(
            f"predictions lack column(s) {', '.join(missing)}; columns are "
            f"{', '.join(map(str, predictions.columns))}; pass the test-part frame of "
            "rnnlab.experiment.backtest or a run's predictions.csv")
    if len(predictions) < 2:
        raise DataError(f"predictions have {len(predictions)} rows; at least 2 are needed")
    return predictions


def _label(index: pd.Index, position: int) -> str:
    value = index[position]
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    return f"{value:g}" if isinstance(value, (int, float, np.number)) else str(value)


def failure_anatomy(predictions: pd.DataFrame, n_jumps: int = 3,
                    episode_steps: int = EPISODE_STEPS) -> Anatomy:
    """Error after the largest jumps of the actual values against the error elsewhere.

    Parameters
    ----------
    predictions : the test part, one row per step, with columns ``actual``, ``model`` and
        ``naive`` (a run's predictions.csv, or `Backtest.predictions`).
    n_jumps : how many of the largest jumps to report (at least `episode_steps` apart).
    episode_steps : steps after a jump that count as its episode.

    A model has recovered at the first step after the jump from which the mean |error| over
    the next RECOVERY_SPAN steps is within RECOVERY_FACTOR times its normal level, the
    median |error| before the first jump (or outside every episode when the jump comes
    early). `recovery_steps` is None when that never happens in the test part.

    Examples
    --------
    >>> actual = np.r_[np.zeros(50), np.ones(50)] * 4
    >>> model = np.r_[np.zeros(51), np.linspace(0, 4, 10), np.full(39, 4.0)]
    >>> frame = pd.DataFrame({"actual": actual, "model": model, "naive": np.r_[0, actual[:-1]]})
    >>> failure_anatomy(frame, n_jumps=1).episodes[0].position
    50
    """
    frame = _check_predictions(predictions, ("actual", "model", "naive"))
    actual = frame["actual"].to_numpy(np.float64)
    error = frame["model"].to_numpy(np.float64) - actual
    naive_error = frame["naive"].to_numpy(np.float64) - actual
    n = len(actual)
    changes = np.diff(actual)
    typical = 1.4826 * np.median(np.abs(changes - np.median(changes)))
    if typical == 0:
        typical = float(np.std(changes)) or 1.0

    # Greedy: biggest jumps first, each at least an episode away from those already taken;
    # the largest always, the others only when they stand out from ordinary changes.
    positions: list[int] = []
    for i in np.argsort(-np.abs(changes), kind="stable"):
        at = int(i) + 1
        if positions and (len(positions) == n_jumps
                          or abs(changes[i]) < LARGE_JUMP * typical):
            break
        if all(abs(at - p) >= episode_steps for p in positions):
            positions.append(at)
    in_episode = np.zeros(n, dtype=bool)
    for at in positions:
        in_episode[at:at + episode_steps] = True

    abs_error = np.abs(error)
    first = min(positions) if positions else n
    calm = abs_error[:first] if first >= 2 * RECOVERY_SPAN else abs_error[~in_episode]
    normal = float(np.median(calm)) if len(calm) else float(np.median(abs_error))

    episodes = []
    for at in positions:
        stop = min(n, at + episode_steps)
        jump = float(changes[at - 1])
        bias = float(np.mean(error[at:stop]))
        episodes.append(Episode(
            position=at, at=_label(frame.index, at), jump=jump,
            jump_size=abs(jump) / typical, steps=stop - at,
            rmse_after=_rmse(error[at:stop]), naive_rmse_after=_rmse(naive_error[at:stop]),
            bias_after=bias, undershoot=bias / -jump if jump else math.nan,
            peak_error=float(abs_error[at:stop].max()),
            recovery_steps=_recovery(abs_error[at:], normal), steps_left=n - at,
            rmse_to_end=_rmse(error[at:])))
    anatomy = Anatomy(episodes, _rmse(error[:first]), _rmse(naive_error[:first]),
                      _rmse(error[~in_episode]), _rmse(naive_error[~in_episode]),
                      normal, episode_steps)
    anatomy.lines = _anatomy_lines(anatomy)
    return anatomy


def _rmse(error: np.ndarray) -> float:
    return float(np.sqrt(np.mean(error**2))) if len(error) else math.nan


def _recovery(abs_error_after: np.ndarray, normal: float) -> int | None:
    """Steps from the jump until the mean |error| over RECOVERY_SPAN steps is normal."""
    threshold = RECOVERY_FACTOR * normal
    span = min(RECOVERY_SPAN, len(abs_error_after))
    means = np.convolve(abs_error_after, np.ones(span) / span, mode="valid")
    hits = np.flatnonzero(means <= threshold)
    return int(hits[0]) if len(hits) else None


def _anatomy_lines(anatomy: Anatomy) -> list[str]:
    lines = []
    if math.isfinite(anatomy.rmse_before):
        lines.append(f"before the first jump: RMSE {anatomy.rmse_before:.4g} (naive "
                     f"{anatomy.naive_rmse_before:.4g})")
    lines.append(f"outside the {anatomy.episode_steps}-step episodes after the jumps: RMSE "
                 f"{anatomy.rmse_elsewhere:.4g} (naive {anatomy.naive_rmse_elsewhere:.4g})")
    for e in anatomy.episodes:
        kind = "drop" if e.jump < 0 else "rise"
        if abs(e.undershoot) < 0.1:
            follow = "follows it"
        elif e.undershoot > 0:
            side = "above" if e.jump < 0 else "below"
            follow = (f"stays {side} the actual by {abs(e.bias_after):.3g} on average: it "
                      f"misses {100 * e.undershoot:.0f}% of the {kind} (undershoot)")
        else:
            side = "below" if e.jump < 0 else "above"
            follow = (f"goes {side} the actual by {abs(e.bias_after):.3g} on average "
                      f"(overshoot, {100 * -e.undershoot:.0f}% of the {kind})")
        if e.recovery_steps is None:
            recovery = (f"does not recover within the test part ({e.steps_left} steps after "
                        f"the jump; RMSE {e.rmse_to_end:.4g} from the jump to the end)")
        elif e.recovery_steps == 0:
            recovery = "errors stay at their normal level"
        else:
            recovery = (f"recovers after {e.recovery_steps} step"
                        + ("s" if e.recovery_steps > 1 else ""))
        ordinary = "" if e.jump_size >= LARGE_JUMP else ", an ordinary change"
        lines.append(
            f"{kind} of {e.jump:+.3g} at {e.at} ({e.jump_size:.1f}x a typical change"
            f"{ordinary}): RMSE {e.rmse_after:.4g} over the next {e.steps} steps (naive "
            f"{e.naive_rmse_after:.4g}); the model {follow}; {recovery}")
    return lines


def plot_episodes(predictions: pd.DataFrame, anatomy: Anatomy, path: str | Path,
                  worst: int = 3, title: str = "") -> None:
    """Actual, model and naive around the worst episodes (highest RMSE after the jump)."""
    from .report import _pyplot, _save

    plt = _pyplot()
    episodes = sorted(anatomy.episodes, key=lambda e: -e.rmse_after)[:worst]
    fig, axes = plt.subplots(1, max(1, len(episodes)), figsize=(4.5 * max(1, len(episodes)),
                                                                  3.8),
                             layout="constrained", squeeze=False)
    steps = anatomy.episode_steps
    for ax, e in zip(axes[0], episodes, strict=False):
        lo, hi = max(0, e.position - steps), min(len(predictions), e.position + 2 * steps)
        part = predictions.iloc[lo:hi]
        x = np.arange(lo, hi) - e.position
        ax.plot(x, part["actual"], color="black", lw=1.4, label="actual")
        ax.plot(x, part["naive"], color="tab:gray", lw=1, ls="--", label="naive")
        ax.plot(x, part["model"], color="tab:red", lw=1.2, label="model")
        ax.axvline(0, color="tab:blue", ls=":", lw=1)
        if e.recovery_steps:
            ax.axvline(e.recovery_steps, color="tab:green", ls=":", lw=1, label="recovered")
        ax.set_title(f"jump {e.jump:+.3g} at {e.at}", fontsize=10)
        ax.set_xlabel("steps after the jump")
        ax.grid(alpha=0.3)
    if not episodes:
        axes[0][0].text(0.5, 0.5, "no jumps in the test part", ha="center",
                        transform=axes[0][0].transAxes)
    axes[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle(title or "worst episodes after a jump")
    _save(fig, path)


# --- lag check ------------------------------------------------------------------------


@dataclass
class LagCheck:
    """Is the model a shifted copy of its last input, and is its skill believable?"""

    corr_last: float  # corr(prediction, last input)
    corr_target: float  # corr(prediction, target)
    move_share: float  # rms(prediction - last) / rms(target - last)
    repeats_last: bool
    model_rmse: float
    naive_rmse: float
    gain_over_naive: float  # 1 - model_rmse / naive_rmse
    verdict: str | None
    leakage_warning: bool
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return _plain(asdict(self))


def lag_check(predictions: pd.DataFrame, verdict: str | None = None) -> LagCheck:
    """Flag predictions that mostly repeat the last value, and skill that is too good.

    Parameters
    ----------
    predictions : test-part frame with ``actual``, ``model`` and ``naive`` (the last input).
    verdict : `rnnlab.inspect(series).verdict`; on a ``random_walk`` a model more than 5%
        better than naive is flagged as more likely leakage than skill.

    Examples
    --------
    >>> y = np.cumsum(np.random.default_rng(0).standard_normal(200))
    >>> frame = pd.DataFrame({"actual": y[1:], "model": y[:-1], "naive": y[:-1]})
    >>> lag_check(frame).repeats_last
    True
    """
    frame = _check_predictions(predictions, ("actual", "model", "naive"))
    actual = frame["actual"].to_numpy(np.float64)
    model = frame["model"].to_numpy(np.float64)
    last = frame["naive"].to_numpy(np.float64)
    corr_last, corr_target = _corr(model, last), _corr(model, actual)
    target_move = _rmse(actual - last)
    move_share = _rmse(model - last) / target_move if target_move > 0 else math.nan
    repeats = bool(move_share < REPEAT_SHARE and corr_last >= corr_target)
    model_rmse, naive_rmse = _rmse(model - actual), _rmse(last - actual)
    gain = 1 - model_rmse / naive_rmse if naive_rmse > 0 else math.nan
    leakage = bool(verdict == "random_walk" and gain > LEAKAGE_MARGIN)

    numbers = (f"correlation with the last input {corr_last:.3f} vs with the target "
               f"{corr_target:.3f}; it moves {100 * move_share:.0f}% as far from the last "
               "value as the target does")
    if repeats:
        lines = [f"the model mostly repeats the last value ({numbers})"]
    else:
        lines = [f"the model does not just repeat the last value ({numbers})"]
    if math.isfinite(gain):
        lines.append(f"RMSE {model_rmse:.4g} vs naive {naive_rmse:.4g}: "
                     f"{100 * abs(gain):.1f}% {'better' if gain > 0 else 'worse'} than "
                     "tomorrow = today")
    if leakage:
        lines.append(f"warning: the model beats naive by {100 * gain:.1f}% on a series the "
                     "inspector calls a random walk: more likely leakage than skill; check "
                     "that nothing computed from the test part reaches the inputs")
    return LagCheck(corr_last, corr_target, move_share, repeats, model_rmse, naive_rmse, gain,
                    verdict, leakage, lines)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


# --- a run directory ------------------------------------------------------------------


def explain_run(run_dir: str | Path, out: str | Path | None = None, plots: bool = True
                ) -> dict:
    """Inspect the series, probe the memory, dissect the failures and check for lag of a
    run written by `rnnlab train`; write explain.json (and PNGs) into `out` (default the
    run directory). Returns what explain.json holds."""
    from .checkpoint import write_json
    from .config import RunConfig
    from .diagnostics import inspect
    from .experiment import load
    from .forecaster import Forecaster
    from .runs import MODEL_FILE, read_run_config
    from .windows import split_sizes

    run_dir = Path(run_dir)
    needed = ("config.json", MODEL_FILE, "predictions.csv")
    missing = [name for name in needed if not (run_dir / name).exists()]
    if not run_dir.is_dir() or missing:
        what = "not found" if not run_dir.is_dir() else f"lacks {', '.join(missing)}"
        raise RnnlabError(f"run directory '{run_dir}' {what}; explain needs a finished run "
                          f"of rnnlab train --out {run_dir}")
    raw = read_run_config(run_dir)  # a regular file holding an object, or one-line refusal
    config = RunConfig.from_dict({k: raw[k] for k in ("data", "model", "training") if k in raw})
    series = load(config.data)
    forecaster = Forecaster.load(run_dir / MODEL_FILE)
    split = split_sizes(len(series), forecaster.seq_len, config.data.val_fraction,
                        config.data.test_fraction, name=str(series.name))
    predictions = pd.read_csv(run_dir / "predictions.csv")
    if len(predictions) != split.n_test:
        raise RnnlabError(
            f"'{run_dir / 'predictions.csv'}' has {len(predictions)} rows but the test part of "
            f"{series.name} has {split.n_test}; the data changed since training; retrain")
    predictions.index = series.index[split.n_fit:]

    inspection = inspect(series)
    profile = memory_profile(forecaster, series, split)
    anatomy = failure_anatomy(predictions)
    lags = lag_check(predictions, inspection.verdict)
    result = {
        "run": str(run_dir),
        "series": str(series.name),
        "model": forecaster.model,
        "scaler": forecaster.scaler_.kind,
        "linear_skip": forecaster.linear_skip,
        "inspection": {k: v for k, v in inspection.to_dict().items()
                       if k not in ("acf", "pacf")},
        "memory": {**profile.to_dict(), "text": profile.describe()},
        "anatomy": anatomy.to_dict(),
        "lag_check": lags.to_dict(),
        "files": ["explain.json"],
    }
    out = Path(out) if out is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)
    if plots:
        label = f"{series.name}: {forecaster.model}"
        plot_memory_curves({forecaster.model: profile}, out / "memory.png",
                           title=f"{label}, input sensitivity per lag (test windows)")
        plot_episodes(predictions, anatomy, out / "episodes.png",
                      title=f"{label}, worst episodes after a jump")
        result["files"] += ["memory.png", "episodes.png"]
    write_json(out / "explain.json", result)
    return result
