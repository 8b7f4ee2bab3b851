"""What a trained model remembers, where it fails, and whether it only repeats the past.

    rnnlab train --data drop --out runs/drop && rnnlab explain --run runs/drop

Three plain functions return data that the CLI prints and the HTML report draws:

- `memory_profile(forecaster, series, split)`: mean |d prediction / d input k steps back|
  over the test windows, normalised to sum 1, and the effective memory (the fewest most
  recent steps that hold 90% of that sensitivity); with outside features, also per input
  channel (the target and each feature by name) and lag;
- `failure_anatomy(predictions)`: the largest jumps in the test part, the error after
  each against the error elsewhere, and the steps the model needs to recover;
- `lag_check(predictions, verdict)`: does the model mostly repeat the last value, and does
  it beat next = last on a random walk (more likely leakage than skill)?
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError
from .metrics import verdict as paired_verdict
from .windows import Windows, as_tensor

# Share of the input sensitivity that the effective memory must hold.
MEMORY_COVERAGE = 0.9
# A curve whose shares vary by less than this (standard deviation over mean) looks at
# every lag alike.
FLAT_SPREAD = 0.2
# Below this total sensitivity (all lags' |d prediction / d input| together, in model
# units) the prediction is nearly a constant: its shares are noise and get no reading.
WEAK_SENSITIVITY = 0.05
# A lag stands out (a peak) when it is a local maximum over this many times the median
# share; a seasonal model peaks at the last lag and at each season back.
PEAK_FACTOR = 2.0
# ... and hold at least this share of the highest lag's: 1% beside 94% at lag 1 is noise.
PEAK_SHARE = 0.1
MAX_PEAKS = 5
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
    most recent input).

    A model with outside features also has ``channels``, the names of its inputs (the
    target first, then each feature as the model reads it), and ``by_channel``, the
    sensitivity per channel and lag, normalised so that the whole array sums to 1;
    ``sensitivity`` is then its sum over the channels (how far back the model looks at
    any input), so effective memory, peak lag and the memory curves read alike for every
    model. A model without features has no channels and ``by_channel`` None.
    """

    model: str
    sensitivity: np.ndarray  # (seq_len,), sums to 1
    effective_memory: int
    n_windows: int
    coverage: float = MEMORY_COVERAGE
    # mean over windows of sum_k |d prediction / d x(t-k)|, in model units (nan: unknown)
    strength: float = math.nan
    channels: tuple[str, ...] = ()  # with features: the target's name, then the features'
    by_channel: np.ndarray | None = None  # (channels, seq_len), sums to 1; row 0 the target

    @property
    def seq_len(self) -> int:
        return len(self.sensitivity)

    @property
    def peak_lag(self) -> int:
        """The lag the prediction is most sensitive to."""
        return int(np.argmax(self.sensitivity)) + 1

    @property
    def flat(self) -> bool:
        """Every lag counts about alike: the shares vary by under `FLAT_SPREAD` of their
        mean. The effective memory of a flat curve is long only because nothing is looked
        at in particular."""
        return bool(self.sensitivity.std() < FLAT_SPREAD * self.sensitivity.mean())

    @property
    def weak(self) -> bool:
        """The prediction hardly moves with any input: the shares are not worth reading."""
        return bool(self.strength < WEAK_SENSITIVITY)

    @property
    def peaks(self) -> list[int]:
        """The lags that stand out, in order: each at least as large as its neighbours and
        over PEAK_FACTOR times the median share (a seasonal series: 1, 12 and 24)."""
        s = self.sensitivity
        if len(s) < 3:
            return []
        padded = np.r_[-np.inf, s, -np.inf]
        local = (s >= padded[:-2]) & (s >= padded[2:]) & (s > PEAK_FACTOR * np.median(s)) \
            & (s >= PEAK_SHARE * s.max())
        return [int(k) + 1 for k in np.flatnonzero(local)]

    @property
    def u_shaped(self) -> bool:
        """Both the newest and the oldest lags matter more than those in between, and
        nothing in between stands out (a season in between is peaks, not a U)."""
        s = self.sensitivity
        if len(s) < 5:
            return False
        middle = s[len(s) // 4: len(s) - len(s) // 4].min()
        inner = [k for k in self.peaks if 1 < k < len(s)]
        return bool(s[0] > 1.5 * middle and s[-1] > 1.5 * middle and not inner)

    @property
    def channel_share(self) -> np.ndarray | None:
        """Each channel's share of the sensitivity (sums to 1); None without features."""
        return None if self.by_channel is None else self.by_channel.sum(axis=1)

    def channel_peak(self, channel: int) -> int:
        """The lag channel `channel` (0 = the target) counts most at."""
        return int(np.argmax(self.by_channel[channel])) + 1

    def to_dict(self) -> dict:
        plain = {"model": self.model, "seq_len": self.seq_len,
                 "effective_memory": self.effective_memory, "coverage": self.coverage,
                 "peak_lag": self.peak_lag, "flat": self.flat, "n_windows": self.n_windows,
                 "strength": float(self.strength), "weak": self.weak,
                 "sensitivity": [round(float(v), 6) for v in self.sensitivity]}
        if self.by_channel is not None:  # a model without features keeps the keys above
            plain["channels"] = list(self.channels)
            plain["channel_share"] = [round(float(v), 6) for v in self.channel_share]
            plain["channel_peak_lag"] = [self.channel_peak(i)
                                         for i in range(len(self.channels))]
            plain["by_channel"] = [[round(float(v), 6) for v in row]
                                   for row in self.by_channel]
        return plain

    @classmethod
    def from_dict(cls, raw: dict) -> MemoryProfile:
        """Rebuild a profile from `to_dict()` output (e.g. a compare run's record)."""
        by_channel = raw.get("by_channel")
        return cls(raw["model"], np.asarray(raw["sensitivity"], dtype=np.float64),
                   int(raw["effective_memory"]), int(raw["n_windows"]),
                   float(raw.get("coverage", MEMORY_COVERAGE)),
                   float(raw.get("strength", math.nan)),
                   tuple(str(c) for c in raw.get("channels", ())),
                   None if by_channel is None else np.asarray(by_channel, dtype=np.float64))

    def channel_lines(self) -> list[str]:
        """One sentence per input channel, the target first: its share of the sensitivity
        and the lag it counts most at. None for a model without features or a weak
        prediction (its shares are noise)."""
        if self.by_channel is None or self.weak:
            return []
        lines = []
        for i, name in enumerate(self.channels):
            who = f"{name} (the target)" if i == 0 else name
            lines.append(f"{who}: {_percent(self.channel_share[i])} of the sensitivity, "
                         f"peak at lag {self.channel_peak(i)}")
        return lines

    def describe(self) -> str:
        if self.weak:
            return (f"{self.model}: the prediction barely moves with its inputs (a unit change "
                    f"in every input moves it by {self.strength:.2g} units): it forecasts "
                    "close to a constant, so there is no lag to read")
        top = np.argsort(self.sensitivity)[::-1][:3] + 1
        shares = ", ".join(f"lag {k} {100 * self.sensitivity[k - 1]:.0f}%" for k in top)
        text = (f"{self.model}: effective memory {self.effective_memory} of {self.seq_len} "
                f"steps ({100 * self.coverage:.0f}% of the input sensitivity lies in the last "
                f"{self.effective_memory}); largest: {shares}")
        if self.by_channel is not None:
            text += (f"; the target {self.channels[0]} holds "
                     f"{_percent(self.channel_share[0])} of the sensitivity, its "
                     f"{len(self.channels) - 1} feature(s) "
                     f"{_percent(1 - self.channel_share[0])}")
        peaks = self.peaks
        if self.flat:
            text += "; the curve is flat: no lag stands out"
        elif self.u_shaped:
            text += ("; the curve is U-shaped: the newest and the oldest lags count most, "
                     "those in between least")
        elif len(peaks) > 1:
            shown = [str(k) for k in peaks[:MAX_PEAKS]]
            if len(peaks) > MAX_PEAKS:
                shown.append(f"{len(peaks) - MAX_PEAKS} more")
            text += f"; it peaks at lags {', '.join(shown[:-1])} and {shown[-1]}"
        return text


def _percent(share: float) -> str:
    """A share as a percentage, small ones with one significant digit rather than 0%.

    >>> _percent(0.0432), _percent(0.0031), _percent(0.99995)
    ('4%', '0.3%', '100%')
    """
    value = 100 * float(share)
    return f"{value:.0f}%" if value >= 1 or value == 0 else f"{value:.1g}%"


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


def _next_value(net, x):
    """The net's prediction of the next value: its first output when it has one per step
    ahead (a direct multi-step net)."""
    out = net(x)
    return out[:, 0] if out.dim() == 2 else out


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

    A model with outside features reads `series` as a DataFrame (the target first, then
    its feature columns, as in fit) and gets the sensitivity per channel and lag as well
    (`MemoryProfile.by_channel`). Each channel's gradient is per unit of that channel in
    model units: the target's scaler for the target, a training-part standard deviation
    (after any log) for each feature, so the shares compare like with like only as far as
    those units do.

    Examples
    --------
    >>> from rnnlab import Forecaster, load_series
    >>> series = load_series("sine")
    >>> f = Forecaster(model="linear", seq_len=10, progress=False).fit(series[:800])
    >>> memory_profile(f, series).seq_len
    10
    """
    import torch  # heavy: only when a probe runs

    forecaster._check_fitted()
    if getattr(forecaster, "feature_scaler_", None) is not None:
        return _feature_profile(forecaster, series, split, coverage)
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
            prediction = _next_value(net, (raw - raw[:, -1:]).unsqueeze(-1)) + raw[:, -1]
        else:
            prediction = _next_value(net, raw.unsqueeze(-1))
        # Windows do not interact, so the gradient of the sum holds each window's own.
        (grad,) = torch.autograd.grad(prediction.sum(), raw)
        total += grad.abs().sum(0).double().cpu()
    per_lag = total.numpy()[::-1].copy()  # lag 1 = the most recent input
    if per_lag.sum() == 0:
        sensitivity = np.full(seq_len, 1.0 / seq_len)
    else:
        sensitivity = per_lag / per_lag.sum()
    strength = float(per_lag.sum()) / max(len(windows), 1)
    return MemoryProfile(forecaster.model, sensitivity, effective_memory(sensitivity, coverage),
                         len(windows), coverage, strength)


def _feature_profile(forecaster, series, split, coverage: float) -> MemoryProfile:
    """`memory_profile` of a model with features: the gradient per channel and lag."""
    import torch

    net, scaler, seq_len = forecaster.model_, forecaster.scaler_, forecaster.seq_len
    frame = forecaster._frame(series)
    start = seq_len if split is None else max(seq_len, split.n_fit)
    if len(frame) <= start:
        raise DataError(f"{frame.columns[0]} has {len(frame)} values; the memory probe "
                        f"needs windows after position {start}")
    channels = (str(frame.columns[0]), *forecaster.feature_scaler_.names)
    device = next(net.parameters()).device
    z = as_tensor(forecaster._units(forecaster._inputs(frame)), device)  # (n, channels)
    windows = Windows(z, seq_len, start, len(frame), relative=False)
    net.eval()
    total = torch.zeros(len(channels), seq_len, dtype=torch.float64)
    for chunk in windows.chunks(4096):
        raw = windows.inputs[chunk].detach().clone().requires_grad_(True)  # (batch, C, seq_len)
        x = raw.transpose(1, 2)  # (batch, seq_len, channels)
        if scaler.relative:
            # As Windows.batch: only the target channel is made relative to its last value.
            last = x[:, -1:, :1]
            x = torch.cat([x[..., :1] - last, x[..., 1:]], dim=-1)
            prediction = _next_value(net, x) + last[:, 0, 0]
        else:
            prediction = _next_value(net, x)
        (grad,) = torch.autograd.grad(prediction.sum(), raw)
        total += grad.abs().sum(0).double().cpu()
    per_lag = total.numpy()[:, ::-1].copy()  # (channels, seq_len), lag 1 first
    if per_lag.sum() == 0:
        by_channel = np.full(per_lag.shape, 1.0 / per_lag.size)
    else:
        by_channel = per_lag / per_lag.sum()
    sensitivity = by_channel.sum(axis=0)
    strength = float(per_lag.sum()) / max(len(windows), 1)
    return MemoryProfile(forecaster.model, sensitivity, effective_memory(sensitivity, coverage),
                         len(windows), coverage, strength, channels, by_channel)


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
        # The one rule of every reading (rnnlab.metrics.verdict), against naive alone here.
        found = paired_verdict(actual, model, {"naive": last})
        lines.append(f"RMSE {model_rmse:.4g} vs naive {naive_rmse:.4g}: "
                     f"{100 * abs(gain):.1f}% {'better' if gain > 0 else 'worse'} than "
                     f"next = last, a {found.outcome} by rnnlab's rule (Diebold-Mariano "
                     f"p = {found.p_value:.2g})")
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


def global_memory_profile(forecaster, panel: dict, coverage: float = MEMORY_COVERAGE
                          ) -> MemoryProfile:
    """`memory_profile` of a panel's global net: the sensitivity of its first-step median
    to each lag of the context, summed over the last window of every series it forecasts
    (each normalised as the net reads it).

    Examples
    --------
    >>> from rnnlab import load_series
    >>> from rnnlab.global_forecaster import GlobalForecaster
    >>> panel = {"a": load_series("sine")[:300], "b": load_series("noise")[:300]}
    >>> g = GlobalForecaster(horizon=5, epochs=1, ensemble=1, progress=False).fit(panel)
    >>> global_memory_profile(g, panel).seq_len == g.global_.context
    True
    """
    import torch

    from .globalnet import QUANTILES, GlobalWindows

    model = forecaster.global_
    if model is None:
        raise DataError("this panel run has no global net (--candidates left it out); "
                        "there is no memory to probe")
    names = [name for name in forecaster.names_ if name in panel]
    spaces = [model.space(model.index[name], panel[name].to_numpy(np.float64))
              for name in names]
    starts = np.concatenate([[0], np.cumsum([len(u) for u in spaces])])
    u = torch.as_tensor(np.concatenate(spaces), dtype=torch.float32)
    rows = [model.index[name] for name in names]
    ends = np.array([len(v) for v in spaces])
    windows = GlobalWindows(u, starts, model.prep.logged[rows], model.prep.floor[rows],
                            np.arange(len(names)), ends, ends, model.context, model.horizon)
    x, _, _ = windows.normalised(slice(None))
    x = x.detach().clone().requires_grad_(True)
    middle = QUANTILES.index(0.5)
    total = torch.zeros(model.context, dtype=torch.float64)
    for net in model.nets:
        (grad,) = torch.autograd.grad(net.eval()(x)[:, 0, middle].sum(), x)
        total += grad[..., 0].abs().sum(0).double()
    per_lag = total.numpy()[::-1].copy()
    sensitivity = per_lag / per_lag.sum() if per_lag.sum() > 0 else \
        np.full(model.context, 1.0 / model.context)
    strength = float(per_lag.sum()) / max(len(names) * len(model.nets), 1)
    return MemoryProfile(model.nets[0].name, sensitivity,
                         effective_memory(sensitivity, coverage), len(names), coverage,
                         strength)
