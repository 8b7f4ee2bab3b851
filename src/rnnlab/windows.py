"""Split by time, fit the scaler on the training part, then cut windows as tensor views.

The order is what makes leakage impossible: nothing here ever reads a value after the
part it is building, except the look-back rows that validation and test windows borrow
from before their part.

    rnnlab train --data sine --scaler window --seq-len 30 --out runs/sine
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import DEFAULT_SEQ_LEN, DataConfig, check_choice
from .diagnostics import adf_pvalue, find_period, longer_season
from .errors import DataError
from .threads import on_one_blas_thread

if TYPE_CHECKING:  # torch loads on first use, so `rnnlab forecast` can run without it
    import torch

# Each part needs at least this many targets for a loss or a score to mean anything.
MIN_TRAIN_WINDOWS = 16
MIN_VAL_WINDOWS = 4


@dataclass(frozen=True)
class Split:
    """Sizes of the three chronological parts: train, then validation, then test."""

    n_train: int
    n_val: int
    n_test: int

    @property
    def n_fit(self) -> int:
        return self.n_train + self.n_val


def split_sizes(n: int, seq_len: int, val_fraction: float, test_fraction: float,
                name: str = "series") -> Split:
    """Chronological part sizes, or a DataError saying how many rows are needed.

    Examples
    --------
    >>> split_sizes(1000, 30, 0.1, 0.2)
    Split(n_train=700, n_val=100, n_test=200)
    """
    split = _split(n, val_fraction, test_fraction)
    if seq_len >= n and seq_len >= 2**53:
        # Beyond float precision (10**400 is no float): seq_len + 16 rows is still a
        # true lower bound, and the window is longer than the series anyway.
        needed = seq_len + MIN_TRAIN_WINDOWS
    else:
        needed = min_length(seq_len, val_fraction, test_fraction)
    if n < needed:
        raise DataError(
            f"{name} has {n} rows, too short for seq_len {_count(seq_len)} with a "
            f"{_percent(1 - val_fraction - test_fraction)}/{_percent(val_fraction)}/"
            f"{_percent(test_fraction)} split: it needs at least {_count(needed)} rows "
            f"({MIN_TRAIN_WINDOWS} training windows after the first {_count(seq_len)} rows); "
            "use a shorter --seq-len or a longer series"
        )
    return split


def _split(n: int, val_fraction: float, test_fraction: float) -> Split:
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    return Split(n - n_val - n_test, n_val, n_test)


def _count(k: int) -> str:
    """k in digits, or as 1.23e+400 when its digits would swamp a one-line message."""
    digits = str(abs(k))
    if len(digits) <= 15:
        return str(k)
    return f"{'-' if k < 0 else ''}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"


def _percent(x: float) -> str:
    return f"{100 * x:.0f}"


def min_length(seq_len: int, val_fraction: float, test_fraction: float) -> int:
    """Fewest rows that leave enough windows in every part.

    Closed-form up to a short scan: a seq_len of a billion must answer at once, not count
    up to it. The validation and test sizes only grow with n, so their thresholds are found
    by bisection; the training size can fall by one row as n grows (two roundings up at
    once), so the last step scans the few rows where it first reaches its need.

    Examples
    --------
    >>> min_length(30, 0.1, 0.2)
    65
    """
    need = seq_len + MIN_TRAIN_WINDOWS
    start = need
    if val_fraction > 0:
        start = max(start, _first_reaching(val_fraction, MIN_VAL_WINDOWS))
    if test_fraction > 0:
        start = max(start, _first_reaching(test_fraction, 1))
    # n_train >= n (1 - f) - 1, so below this no n has enough training rows (less 2 for
    # float rounding); from `start` on, the scan ends within about 2 / (1 - f) <= 20 rows.
    keep = 1 - val_fraction - test_fraction
    n = max(start, int((need - 1) / keep) - 2)
    while _split(n, val_fraction, test_fraction).n_train < need:
        n += 1
    return n


def _first_reaching(fraction: float, count: int) -> int:
    """Smallest n with round(n * fraction) >= count (non-decreasing in n: bisection)."""
    lo, hi = 0, int((count + 1) / fraction) + 2
    while lo < hi:
        mid = (lo + hi) // 2
        if int(round(mid * fraction)) >= count:
            hi = mid
        else:
            lo = mid + 1
    return lo


# --- window length --------------------------------------------------------------------


@dataclass(frozen=True)
class WindowChoice:
    """The window length a fit uses, the period found on its training part, and why."""

    seq_len: int
    period: int | None
    reason: str  # one line for the printed summary, starting "seq_len N"
    # Where the window spans a longer season: the steps the recurrent body reads
    recurrent_len: int | None = None


@on_one_blas_thread
def choose_seq_len(train: np.ndarray, longest: int, given: int | None = None
                   ) -> WindowChoice:
    """`given` when set; else two seasons of the period found in `train`, at least
    DEFAULT_SEQ_LEN, and at most `longest` (the longest window the series allows). Where
    a multiple of the period repeats clearly better (`rnnlab.diagnostics.longer_season`:
    a week of hourly data under its daily period) and fits in half the training part,
    the window spans that longer season once.

    Only `train`, the training part, is read: the validation and test parts cannot move
    the choice. The seasonal naive baseline finds its period on the same part
    (`rnnlab.baselines.SeasonalNaiveForecaster` with ``val_size``), so both use one period.
    Two seasons let the window compare this season with the last one. A series too short
    for the default gets the longest window it allows.

    Examples
    --------
    >>> hours = np.arange(700)
    >>> choose_seq_len(np.sin(2 * np.pi * hours / 24), 600).seq_len
    48
    """
    period = find_period(np.asarray(train, dtype=np.float64))
    found = f"the period {period} found on the training part"
    if given is not None:
        note = f"; the training part has the period {period}" if period else ""
        return WindowChoice(int(given), period, f"seq_len {given} (set by --seq-len{note})")
    want = max(DEFAULT_SEQ_LEN, 2 * period) if period else DEFAULT_SEQ_LEN
    season = longer_season(train, period, min(longest, len(train) // 2))
    if season and season > want:
        return WindowChoice(season, period, f"seq_len {season}: a season of {season} steps "
                            f"({season // period} x {found}) repeats clearly better than "
                            f"the period itself; the network reads its last {want} "
                            f"(--seq-len, --recurrent-len set them)", want)
    if want > longest >= 1:
        need = (f"two seasons of {found} need {2 * period}" if period and 2 * period > longest
                else f"the default {DEFAULT_SEQ_LEN} does not fit")
        return WindowChoice(longest, period, f"seq_len {longest}: the longest window the "
                            f"series allows; {need} (--seq-len sets it)")
    if period and 2 * period >= DEFAULT_SEQ_LEN:
        text = f"seq_len {want}: two seasons of {found} (--seq-len sets it)"
    elif season:
        text = (f"seq_len {want} (default; it spans the season of {season} steps, "
                f"{season // period} x {found}; --seq-len sets it)")
    elif period:
        text = (f"seq_len {want} (default; it spans two seasons of {found}; --seq-len "
                "sets it)")
    else:
        # Also where not even one window fits: the length check then says what it needs.
        text = (f"seq_len {want} (default; no season found on the training part; "
                "--seq-len sets it)")
    return WindowChoice(want, period, text)


def seq_len_for_split(values: np.ndarray, val_fraction: float, test_fraction: float,
                      given: int | None = None) -> WindowChoice:
    """`choose_seq_len` for a whole series that `split_sizes` will split: its training part
    and the longest window its length allows.

    Examples
    --------
    >>> seq_len_for_split(np.random.default_rng(0).normal(size=1000), 0.1, 0.2).seq_len
    30
    """
    n = len(values)
    n_train = _split(n, val_fraction, test_fraction).n_train
    return choose_seq_len(values[:n_train], longest_seq_len(n, val_fraction, test_fraction),
                          given)


def train_window(series, val_fraction: float = DataConfig.val_fraction,
                 test_fraction: float = DataConfig.test_fraction) -> WindowChoice:
    """The window `rnnlab train` chooses by default for `series` split into these parts:
    the one number `rnnlab inspect` reports.

    Examples
    --------
    >>> t = np.arange(1000)
    >>> train_window(np.sin(2 * np.pi * t / 40)).seq_len
    80
    """
    values = np.asarray(series, dtype=np.float64)
    # On the values over their largest size: the period is the same, and 1e200s do not
    # overflow their squares.
    peak = float(np.max(np.abs(values))) if len(values) else 0.0
    return seq_len_for_split(values / peak if peak > 0 else values, val_fraction,
                             test_fraction)


def longest_seq_len(n: int, val_fraction: float, test_fraction: float) -> int:
    """The longest seq_len that `split_sizes` accepts for n rows; 0 when none does.

    Examples
    --------
    >>> longest_seq_len(1000, 0.1, 0.2), min_length(684, 0.1, 0.2) <= 1000
    (684, True)
    """
    if min_length(1, val_fraction, test_fraction) > n:
        return 0
    lo, hi = 1, n  # min_length only grows with seq_len: bisect for the last one that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if min_length(mid, val_fraction, test_fraction) <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- scaling --------------------------------------------------------------------------

# What `fit_scaler` resolves a scaler to ("auto" picks one of them).
FITTED_KINDS = ("window", "standard", "minmax")
# A scaler fitted on values within ±1e100 (rnnlab.base.MAX_MAGNITUDE) has its center and
# scale within this.
SCALE_BOUND = 1e100


@dataclass(frozen=True)
class Scaler:
    """Maps values to model units: z = (x - center) / scale.

    With ``relative=True`` (per-window normalisation) every window is then shifted by its
    own last value, so the model sees and predicts changes; a price that leaves the
    training range still looks like the prices it trained on.
    """

    kind: str
    center: float
    scale: float
    relative: bool

    def to_units(self, values: np.ndarray) -> np.ndarray:
        return (values - self.center) / self.scale

    def from_units(self, z: np.ndarray) -> np.ndarray:
        return z * self.scale + self.center

    def state_dict(self) -> dict:
        return {"kind": self.kind, "center": self.center, "scale": self.scale,
                "relative": self.relative}

    @classmethod
    def from_state(cls, state: dict) -> Scaler:
        """The scaler `state_dict` saved, or ValueError when no fitted scaler has it."""
        kind, center, scale = str(state["kind"]), float(state["center"]), float(state["scale"])
        relative = state["relative"]
        if kind not in FITTED_KINDS or not isinstance(relative, bool) or \
                relative != (kind == "window"):
            raise ValueError(f"scaler kind {kind!r} with relative {relative!r} is none of "
                             f"{', '.join(FITTED_KINDS)} (relative only for window)")
        if not (math.isfinite(center) and math.isfinite(scale) and scale > 0 and
                max(abs(center), scale) <= SCALE_BOUND):
            raise ValueError(f"scaler center {center} and scale {scale} must be finite, the "
                             f"scale above 0, both within ±{SCALE_BOUND:.0e}")
        return cls(kind, center, scale, relative)


def check_varies(train: np.ndarray, name: str = "series") -> None:
    """Refuse a training part that never changes: nothing to learn, no scale to use."""
    if np.ptp(train) == 0:
        raise DataError(
            f"{name} is constant ({train[0]:g}) over its training part: there is nothing to "
            "learn and no scale to normalise by; use a series that varies"
        )


def fit_scaler(kind: str, train: np.ndarray, name: str = "series") -> Scaler:
    """Fit a scaler on the training part only.

    ``auto`` picks ``window`` when an ADF test cannot reject a unit root in the training
    part (p > 0.05: trending or random-walk data such as prices) and ``standard``
    otherwise. `Forecaster` uses that only without a validation part; with one it
    chooses on validation errors (`rnnlab.forecaster.choose_scaler`).

    Examples
    --------
    >>> fit_scaler("minmax", np.array([0.0, 2.0, 4.0]))
    Scaler(kind='minmax', center=2.0, scale=2.0, relative=False)
    """
    check_choice("scaler", kind)
    train = np.asarray(train, dtype=np.float64)
    check_varies(train, name)
    if kind == "auto":
        kind = "window" if adf_pvalue(train) > 0.05 else "standard"
    if kind == "minmax":
        lo, hi = float(train.min()), float(train.max())
        return Scaler("minmax", (hi + lo) / 2, (hi - lo) / 2, relative=False)
    if kind == "standard":
        return Scaler("standard", float(train.mean()), float(train.std()), relative=False)
    # Root mean square of the one-step changes: a ramp has changes of zero spread but
    # not of zero size, so it still gets a scale.
    step = float(np.sqrt(np.mean(np.diff(train) ** 2)))
    return Scaler("window", float(train.mean()), step, relative=True)


# --- windows --------------------------------------------------------------------------


class Windows:
    """The windows whose targets lie in positions [start, stop) of one scaled series.

    ``z`` is the whole series in model units as one tensor; windows are an ``unfold`` view
    of it, so memory grows with the series, not with series x seq_len. Window i covers
    z[start + i - seq_len : start + i] and its target is z[start + i], or with
    ``horizon`` H > 1 the H values z[start + i : start + i + H] (windows whose last target
    would pass `stop` are left out, so no target leaves its part).
    """

    def __init__(self, z: torch.Tensor, seq_len: int, start: int, stop: int, relative: bool,
                 horizon: int = 1):
        if start < seq_len:
            raise ValueError(f"first target {start} needs {seq_len} rows before it")
        self.seq_len = seq_len
        self.relative = relative
        self.horizon = horizon
        count = max(stop - start - horizon + 1, 0)
        self.start, self.stop = start, start + count  # the first targets of the windows
        # (n_windows, seq_len) view, no copy; with features z is (n, 1 + F), the target
        # first, and the view is (n_windows, 1 + F, seq_len)
        self.inputs = z.unfold(0, seq_len, 1)[start - seq_len: start - seq_len + count]
        target = z if z.dim() == 1 else z[:, 0]
        if horizon == 1:
            self.targets = target[start:start + count]  # (n_windows,)
        else:
            self.targets = target.unfold(0, horizon, 1)[start:start + count]  # (n_windows, H)

    def __len__(self) -> int:
        return self.stop - self.start

    def batch(self, index: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Model inputs (batch, seq_len, n_features=1) and targets (batch,) or (batch, H)
        in model space."""
        y = self.targets[index]
        if self.inputs.dim() == 3:
            return self._batch_features(index, y)
        x = self.inputs[index]
        if self.relative:
            last = x[:, -1:]
            x = x - last
            y = y - (last[:, 0] if self.horizon == 1 else last)
        return x.unsqueeze(-1), y

    def _batch_features(self, index, y: torch.Tensor):
        """`batch` with features: (batch, seq_len, 1 + F); only the target channel is made
        relative (the features are scaled globally on the training part)."""
        import torch

        # Gathered from the transposed view, the batch comes out contiguous in one copy.
        x = self.inputs.transpose(1, 2)[index]  # (batch, seq_len, 1 + F)
        if self.relative:
            last = x[:, -1:, :1]  # (batch, 1, 1): the target's last value
            x = torch.cat([x[..., :1] - last, x[..., 1:]], dim=-1)
            y = y - (last[:, 0, 0] if self.horizon == 1 else last[:, 0])
        return x, y

    def offsets(self, index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        """What `batch` subtracted from each window's targets: its last value, or 0;
        (batch,), or (batch, 1) with horizon > 1."""
        if self.relative:
            inputs = self.inputs[index]
            last = inputs[:, -1] if inputs.dim() == 2 else inputs[:, 0, -1]
        else:
            last = self.inputs.new_zeros(len(self.inputs[index]))
        return last if self.horizon == 1 else last[:, None]

    def chunks(self, size: int = 8192):
        """Consecutive slices covering all windows, for evaluation in a few big passes."""
        for lo in range(0, len(self), size):
            yield slice(lo, min(lo + size, len(self)))


def as_tensor(values: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """The series in model units as one float32 tensor, (n,) (or (n, 1 + F) with features)."""
    import torch

    with np.errstate(over="ignore"):
        units = np.ascontiguousarray(values, dtype=np.float32)
    bad = ~np.isfinite(units)
    if bad.ndim > 1:  # a (n, 1 + F) matrix: the row where a column leaves float32
        bad = bad.any(axis=tuple(range(1, bad.ndim)))
        values = np.asarray(values).reshape(len(bad), -1)[:, 0]
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"value {first + 1} of the series is {values[first]:.3g} in model units, beyond "
            "float32: it lies far outside the training part's scale; rescale the series or "
            "use --scaler window"
        )
    return torch.as_tensor(units, device=device)

