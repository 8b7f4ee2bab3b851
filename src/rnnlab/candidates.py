"""The statistical candidates of the forecast pool: naive, seasonal naive, the mean,
exponential smoothing (ETS), Theta and an intermittent-demand method (TSB).

Every candidate honours one contract on numpy arrays, so the pool (`rnnlab.choose`)
scores them all on the same rolling origins and combines them by one rule:

- ``fit(values)`` learns its parameters from ``values`` alone and returns ``self``;
- ``paths(values, origins, horizon, state=None)`` gives the ``horizon``-step forecast
  from each origin o, made from ``values[:o]`` only: (n_origins, horizon). Filters
  (ETS, Theta, TSB) run from their initial state at ``values[0]``, or from ``state``;
- ``advance(values, state=None)`` is the filter's state after ``values``, so a forecast
  can continue from a saved tail without the whole history;
- ``to_state()`` / ``from_state`` hold numbers only, for safe checkpoints.

Parameters are estimated by statsmodels (``ETSModel``, ``ThetaModel``); the paths from many
origins are computed here in one pass, from those parameters.

    rnnlab train --data co2 --horizon 12 --out runs/co2   # prints the candidates' table
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import pretrained

# ETS and Theta are fitted on at most this many of the newest values: over 200 seasons of
# any period ETS tries (24 at most) and 14 weeks of hours for Theta, where statsmodels'
# optimisers on millions of values would take hours (a 10-million-row CSV).
STAT_FIT_MAX = 5000

# Paths are made for this many origins at a time, so the windows gathered for them stay
# small (8,192 windows of 384 values: 25 MB) however many origins a long test part has.
ORIGIN_BATCH = 8192


def in_batches(paths_of, origins: np.ndarray, horizon: int) -> np.ndarray:
    """`paths_of(origins)` for ORIGIN_BATCH origins at a time: (n_origins, horizon)."""
    out = np.empty((len(origins), horizon))
    for lo in range(0, len(origins), ORIGIN_BATCH):
        out[lo:lo + ORIGIN_BATCH] = paths_of(origins[lo:lo + ORIGIN_BATCH])
    return out


# Families, in the order the table lists them.
FAMILIES = ("naive", "seasonal_naive", "mean", "linear", "ets", "theta", "intermittent",
            "pretrained", "net", "global")


class Candidate:
    """Base: stateless candidates need no filter state."""

    family = "candidate"
    min_fit = 1  # fewest values `fit` needs
    min_origin = 1  # fewest values a path needs before its origin
    # Whether it reads each context relative to that context's own level (then a level
    # shift needs no tracking: `rnnlab.forecaster.track_shifts` skips a pool of these)
    window_level = False

    @property
    def name(self) -> str:
        return self.family

    def advance(self, values: np.ndarray, state: dict | None = None) -> dict | None:
        return None

    def short_note(self, have: int) -> str:
        """Why it is left out of a pool with `have` values before the first origin."""
        return f"needs {self.min_fit} values before the first origin, has {have}"

    def to_state(self) -> dict:
        return {}

    # Values before this position of the fit data were left out of the fit (`recent`)
    skip_ = 0

    def recent(self, values: np.ndarray) -> np.ndarray:
        """The last STAT_FIT_MAX of `values`, the part a statistical candidate is fitted on
        (remembering how many came before)."""
        self.skip_ = max(len(values) - STAT_FIT_MAX, 0)
        return values[self.skip_:]

    def _from_fit_start(self, values: np.ndarray, origins: np.ndarray | None, state,
                        need: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
        """`values` and `origins` counted from where the fit started (`recent`), so a
        filter runs from its fitted starting state there; as they are with a `state`, or
        where an origin lies before that start (other data than the fit's)."""
        start = 0 if state is not None else self.skip_
        reach = len(values) if origins is None or not len(origins) else int(origins.min())
        if not start or reach < start + need:
            return values, origins
        return values[start:], None if origins is None else origins - start

    def _check_origins(self, values: np.ndarray, origins: np.ndarray, need: int = 1):
        origins = np.asarray(origins, dtype=np.int64)
        if len(origins) and (origins.min() < need or origins.max() > len(values)):
            raise ValueError(f"origins must lie in [{need}, {len(values)}] for {self.name}")
        return origins


class Naive(Candidate):
    """The last value, repeated.

    >>> Naive().fit(np.arange(5.0)).paths(np.arange(5.0), np.array([3, 5]), 2).tolist()
    [[2.0, 2.0], [4.0, 4.0]]
    """

    family = "naive"

    def fit(self, values: np.ndarray) -> Naive:
        return self

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        origins = self._check_origins(values, origins)
        return np.repeat(np.asarray(values, np.float64)[origins - 1, None], horizon, axis=1)


class SeasonalNaive(Candidate):
    """The last season, repeated.

    >>> s = np.tile([1.0, 5.0, 3.0], 4)
    >>> SeasonalNaive(3).fit(s).paths(s, np.array([12]), 4).tolist()
    [[1.0, 5.0, 3.0, 1.0]]
    """

    family = "seasonal_naive"

    def __init__(self, period: int):
        self.period = int(period)
        self.min_fit = self.period

    @property
    def min_origin(self) -> int:  # a whole season before the origin
        return self.period

    @property
    def name(self) -> str:
        return f"seasonal naive {self.period}"

    def fit(self, values: np.ndarray) -> SeasonalNaive:
        return self

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        origins = self._check_origins(values, origins, self.min_origin)
        back = np.arange(horizon) % self.period - self.period
        return np.asarray(values, np.float64)[origins[:, None] + back]

    def to_state(self) -> dict:
        return {"period": self.period}

    @classmethod
    def from_state(cls, state: dict) -> SeasonalNaive:
        return cls(int(state["period"]))


class Mean(Candidate):
    """The mean of the values it was fitted on: the best constant for white noise.

    >>> Mean().fit(np.array([1.0, 2.0, 6.0])).paths(np.zeros(4), np.array([2]), 2).tolist()
    [[3.0, 3.0]]
    """

    family = "mean"

    def fit(self, values: np.ndarray) -> Mean:
        self.mean_ = float(np.mean(values))
        return self

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        origins = self._check_origins(values, origins, 0)
        return np.full((len(origins), horizon), self.mean_)

    def to_state(self) -> dict:
        return {"mean": self.mean_, "median": self.name == "median"}

    @classmethod
    def from_state(cls, state: dict) -> Mean:
        out = Median() if state.get("median") else cls()
        out.mean_ = float(state["mean"])
        return out


class Median(Mean):
    """The median of the values it was fitted on: the constant that minimises the absolute
    error, zero where most values are (intermittent demand), unmoved by a few outliers.

    >>> Median().fit(np.array([0.0, 0.0, 9.0])).paths(np.zeros(3), np.array([2]), 2).tolist()
    [[0.0, 0.0]]
    """

    @property
    def name(self) -> str:
        return "median"

    def fit(self, values: np.ndarray) -> Median:
        self.mean_ = float(np.median(values))
        return self


# --- exponential smoothing -----------------------------------------------------------

# The ETS forms tried: trend none, additive or damped, season none, additive or
# multiplicative (the latter only on strictly positive values), additive errors, chosen by
# AICc. The point forecasts and the state updates in terms of the values are the same for
# additive and multiplicative errors, so the errors' kind changes only the likelihood.
ETS_TRENDS = ((None, False), ("add", False), ("add", True))
ETS_SEASONS = (None, "add", "mul")


class ETS(Candidate):
    """Exponential smoothing with the form of least AICc, fitted by statsmodels' ETSModel.

    ``period`` is the season's length (1 or None: no season). Forms with a season need two
    full seasons and ten values more; all need ten values.

    >>> y = 10 + np.tile([1.0, 3.0, 2.0, 0.0], 12) + np.arange(48) * 0.1
    >>> ets = ETS(4).fit(y)
    >>> ets.name
    'ets(A,A,A) 4'
    >>> np.round(ets.paths(y, np.array([48]), 4), 1).tolist()
    [[15.8, 17.9, 17.0, 15.1]]
    """

    family = "ets"
    min_fit = 10

    def __init__(self, period: int | None = None):
        self.period = int(period) if period and period > 1 else 1

    @property
    def name(self) -> str:
        period = f" {self.period}" if self.period > 1 else ""
        if not hasattr(self, "trend_"):
            return f"ets{period}"
        trend = {None: "N", "add": "A"}[self.trend_] + ("d" if self.damped_ else "")
        season = {None: "N", "add": "A", "mul": "M"}[self.season_]
        return f"ets(A,{trend},{season})" + (period if self.season_ else "")

    def forms(self, values: np.ndarray) -> list[tuple]:
        """(trend, damped, season) forms that `values` can support."""
        seasons = [None]
        if self.period > 1 and len(values) >= 2 * self.period + 10:
            seasons.append("add")
            if values.min() > 0:
                seasons.append("mul")
        return [(trend, damped, season) for trend, damped in ETS_TRENDS for season in seasons]

    def fit(self, values: np.ndarray, form: tuple | None = None) -> ETS:
        """The form of least AICc (or the one given), its parameters by maximum likelihood."""
        from statsmodels.tools.eval_measures import aicc as aicc_of
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        values = self.recent(np.asarray(values, np.float64))
        best = None
        for trend, damped, season in ([form] if form else self.forms(values)):
            model = ETSModel(values, error="add", trend=trend, damped_trend=damped,
                             seasonal=season,
                             seasonal_periods=self.period if season else None,
                             initialization_method="estimated")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence notes of the optimiser
                try:
                    # The parameters alone: a results object would also approximate their
                    # covariance by a complex-step Hessian, half the cost, never used here.
                    fitted = model.fit(disp=False, maxiter=200, return_params=True)
                    # statsmodels' own AICc: every parameter free, plus the error variance
                    aicc = float(aicc_of(model.loglike(fitted), model.nobs,
                                         len(model.param_names) + 1))
                except (ValueError, np.linalg.LinAlgError):
                    continue
            if not math.isfinite(aicc):
                continue
            if best is None or aicc < best[0]:
                best = (aicc, (trend, damped, season), (model.param_names, fitted))
        if best is None:
            raise ValueError("no ETS form could be fitted")
        _, (self.trend_, self.damped_, self.season_), (names, fitted) = best
        params = dict(zip(names, np.asarray(fitted, dtype=np.float64), strict=True))
        self.alpha_ = params["smoothing_level"]
        self.beta_ = params.get("smoothing_trend", 0.0)
        self.gamma_ = params.get("smoothing_seasonal", 0.0)
        self.phi_ = params.get("damping_trend", 1.0) if self.damped_ else 1.0
        level, slope = params["initial_level"], params.get("initial_trend", 0.0)
        # statsmodels lists the initial season newest first; kept here oldest first
        m = self.period if self.season_ else 0
        season = [params[f"initial_seasonal.{k}"] for k in range(m)][::-1]
        self.initial_ = {"level": level, "slope": slope, "season": season}
        return self

    def _run(self, values: np.ndarray, state: dict | None):
        """The states after each value: levels (n + 1,), slopes (n + 1,) and the season
        (n + m,) where entry t + m is the seasonal state of value t (row 0 / the first m:
        the starting state)."""
        state = state or self.initial_
        n, m = len(values), len(state["season"])
        level, slope = np.empty(n + 1), np.empty(n + 1)
        season = np.empty(n + m)
        level[0], slope[0] = state["level"], state["slope"]
        season[:m] = state["season"]
        # The component form statsmodels smooths with (beta* = beta / alpha, gamma* =
        # gamma / (1 - alpha)); with an additive season it is the error-correction form.
        alpha, phi = self.alpha_, self.phi_
        beta = self.beta_ / alpha if alpha > 0 else 0.0
        gamma = self.gamma_ / (1 - alpha) if alpha < 1 else 0.0
        additive = self.season_ != "mul"
        now, b = level[0], slope[0]
        for t, y in enumerate(values.tolist()):
            base = now + phi * b
            if not m:
                new = alpha * y + (1 - alpha) * base
            elif additive:
                new = alpha * (y - season[t]) + (1 - alpha) * base
                season[t + m] = gamma * (y - new) + (1 - gamma) * season[t]
            else:
                new = alpha * (y / season[t]) + (1 - alpha) * base
                season[t + m] = gamma * (y / new) + (1 - gamma) * season[t]
            b = beta * (new - now) + (1 - beta) * phi * b
            now = new
            level[t + 1], slope[t + 1] = now, b
        return level, slope, season

    def advance(self, values, state=None) -> dict:
        values, _ = self._from_fit_start(np.asarray(values, np.float64), None, state, 0)
        level, slope, season = self._run(values, state)
        m = len((state or self.initial_)["season"])
        return {"level": float(level[-1]), "slope": float(slope[-1]),
                "season": season[len(season) - m:].tolist()}

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        values = np.asarray(values, np.float64)
        origins = self._check_origins(values, origins, 0)
        if not len(origins):
            return np.zeros((0, horizon))
        values, origins = self._from_fit_start(values, origins, state, 0)
        level, slope, season = self._run(values[:origins.max()], state)
        steps = np.arange(1, horizon + 1)
        damp = np.cumsum(self.phi_ ** steps) if self.trend_ else np.zeros(horizon)
        base = level[origins, None] + slope[origins, None] * damp  # (n_origins, horizon)
        m = len((state or self.initial_)["season"])
        if not m:
            return base
        # the seasonal state of the last value m (or 2m, ...) steps before each target
        back = origins[:, None] + (steps - 1) % m  # index into `season` (offset by m)
        s = season[back]
        return base + s if self.season_ == "add" else base * s

    def to_state(self) -> dict:
        return {"period": self.period, "trend": self.trend_, "damped": self.damped_,
                "season": self.season_, "alpha": self.alpha_, "beta": self.beta_,
                "gamma": self.gamma_, "phi": self.phi_, "initial": self.initial_,
                "skip": self.skip_}

    @classmethod
    def from_state(cls, state: dict) -> ETS:
        out = cls(state["period"])
        out.trend_, out.damped_ = state["trend"], bool(state["damped"])
        out.season_ = state["season"]
        for key in ("alpha", "beta", "gamma", "phi"):
            setattr(out, f"{key}_", float(state[key]))
        initial = state["initial"]
        out.initial_ = {"level": float(initial["level"]), "slope": float(initial["slope"]),
                        "season": [float(x) for x in initial["season"]]}
        out.skip_ = int(state.get("skip", 0))
        return out


# --- Theta ---------------------------------------------------------------------------


class Theta(Candidate):
    """The Theta method (half the drift of a linear trend plus simple exponential
    smoothing), fitted by statsmodels' ThetaModel; where its seasonality test finds the
    season, on values with the classical decomposition's season taken out.

    >>> y = 10 + np.tile([1.0, 3.0, 2.0, 0.0], 12) + np.arange(48) * 0.1
    >>> theta = Theta(4).fit(y)
    >>> theta.name, np.round(theta.paths(y, np.array([48]), 2), 1).tolist()
    ('theta 4', [[16.0, 18.4]])
    """

    family = "theta"
    min_fit = 4

    def __init__(self, period: int | None = None):
        self.period = int(period) if period and period > 1 else 1

    @property
    def name(self) -> str:
        return "theta" + (f" {self.period}" if self.period > 1 else "")

    def fit(self, values: np.ndarray) -> Theta:
        from statsmodels.tsa.forecasting.theta import ThetaModel

        values = self.recent(np.asarray(values, np.float64))
        seasonal = self.period > 1 and len(values) >= 2 * self.period
        model = ThetaModel(values, period=self.period if seasonal else 1,
                           deseasonalize=seasonal)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.fit()
        self.b0_, self.alpha_ = (float(x) for x in result.params[["b0", "alpha"]])
        self.multiplicative_ = result.model.method.startswith("mul")
        # The season of each position mod the period (1 or 0 everywhere without one)
        parts = result.forecast_components(self.period)
        season = np.asarray(parts["seasonal"], np.float64)
        positions = (len(values) + np.arange(self.period)) % self.period
        self.season_ = season[np.argsort(positions)].tolist()
        self.first_ = float(self._adjusted(values[:1], 0)[0])  # SES starts at the first value
        return self

    def _adjusted(self, values: np.ndarray, start: int) -> np.ndarray:
        season = np.asarray(self.season_)[(start + np.arange(len(values))) % self.period]
        return values / season if self.multiplicative_ else values - season

    def _levels(self, values: np.ndarray, state: dict | None) -> tuple[np.ndarray, int]:
        """SES levels after each value (entry 0: before them) and the count before."""
        from scipy.signal import lfilter

        level, count = (self.first_, 0) if state is None else (state["level"], state["count"])
        x = self._adjusted(np.asarray(values, np.float64), count)
        a = self.alpha_
        after = lfilter([a], [1.0, -(1.0 - a)], x, zi=[(1.0 - a) * level])[0] if len(x) \
            else np.zeros(0)
        return np.r_[level, after], count

    def advance(self, values, state=None) -> dict:
        values, _ = self._from_fit_start(np.asarray(values, np.float64), None, state, 0)
        levels, count = self._levels(values, state)
        return {"level": float(levels[-1]), "count": count + len(values)}

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        values = np.asarray(values, np.float64)
        origins = self._check_origins(values, origins, 1 if state is None else 0)
        values, origins = self._from_fit_start(values, origins, state)
        levels, count = self._levels(values[:origins.max() if len(origins) else 0], state)
        seen = (count + origins)[:, None].astype(np.float64)  # values known at each origin
        steps = np.arange(horizon)[None, :]
        a = self.alpha_
        drift = steps + (1 / a - (1 - a) ** seen / a if a > 0 else 0.0)
        adjusted = levels[origins][:, None] + 0.5 * self.b0_ * drift
        season = np.asarray(self.season_)[(count + origins[:, None] + steps) % self.period]
        return adjusted * season if self.multiplicative_ else adjusted + season

    def to_state(self) -> dict:
        return {"period": self.period, "b0": self.b0_, "alpha": self.alpha_,
                "multiplicative": self.multiplicative_, "season": self.season_,
                "first": self.first_, "skip": self.skip_}

    @classmethod
    def from_state(cls, state: dict) -> Theta:
        out = cls(state["period"])
        out.b0_, out.alpha_ = float(state["b0"]), float(state["alpha"])
        out.multiplicative_ = bool(state["multiplicative"])
        out.season_ = [float(x) for x in state["season"]]
        out.first_ = float(state["first"])
        out.skip_ = int(state.get("skip", 0))
        return out


# --- intermittent demand -------------------------------------------------------------

# Smoothing constants tried for TSB's demand size and demand probability; the pair with
# the least in-sample one-step squared error is kept.
TSB_ALPHAS = (0.05, 0.1, 0.2, 0.3)


class TSB(Candidate):
    """Teunter, Syntetos and Babai's method for intermittent demand: the demand's size is
    smoothed at each demand, its probability at every step, and the forecast is their
    product, flat. Unlike Croston's it decays towards zero while no demand comes.

    >>> y = np.array([0, 0, 5, 0, 0, 0, 4, 0, 0, 6, 0, 0] * 3, dtype=float)
    >>> tsb = TSB().fit(y)
    >>> round(float(tsb.paths(y, np.array([36]), 1)[0, 0]), 2)
    1.26
    """

    family = "intermittent"
    min_fit = 4

    def fit(self, values: np.ndarray) -> TSB:
        values = np.asarray(values, np.float64)
        demand = values[values != 0]
        self.initial_ = {"size": float(demand.mean()) if len(demand) else 0.0,
                         "probability": float(np.mean(values != 0))}
        best = None
        for a_size in TSB_ALPHAS:
            for a_prob in TSB_ALPHAS:
                self.alpha_size_, self.alpha_prob_ = a_size, a_prob
                size, prob = self._run(values, None)
                error = float(np.mean((values - size[:-1] * prob[:-1]) ** 2))
                if best is None or error < best[0]:
                    best = (error, a_size, a_prob)
        _, self.alpha_size_, self.alpha_prob_ = best
        return self

    def _run(self, values: np.ndarray, state: dict | None) -> tuple[np.ndarray, np.ndarray]:
        """Size and probability before each value and after the last: (n + 1,) each."""
        from scipy.signal import lfilter

        state = state or self.initial_
        values = np.asarray(values, np.float64)
        a, b = self.alpha_size_, self.alpha_prob_
        hit = (values != 0).astype(np.float64)
        prob = lfilter([b], [1.0, -(1.0 - b)], hit, zi=[(1.0 - b) * state["probability"]])[0] \
            if len(values) else np.zeros(0)
        sizes = values[values != 0]
        smoothed = lfilter([a], [1.0, -(1.0 - a)], sizes, zi=[(1.0 - a) * state["size"]])[0] \
            if len(sizes) else np.zeros(0)
        # the size after value t: that after the last demand up to t
        seen = np.cumsum(hit).astype(np.int64)
        size = np.r_[state["size"], smoothed][seen]
        return np.r_[state["size"], size], np.r_[state["probability"], prob]

    def advance(self, values, state=None) -> dict:
        size, prob = self._run(values, state)
        return {"size": float(size[-1]), "probability": float(prob[-1])}

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        values = np.asarray(values, np.float64)
        origins = self._check_origins(values, origins, 0)
        size, prob = self._run(values[:origins.max() if len(origins) else 0], state)
        return np.repeat((size[origins] * prob[origins])[:, None], horizon, axis=1)

    def to_state(self) -> dict:
        return {"alpha_size": self.alpha_size_, "alpha_prob": self.alpha_prob_,
                "initial": self.initial_}

    @classmethod
    def from_state(cls, state: dict) -> TSB:
        out = cls()
        out.alpha_size_, out.alpha_prob_ = float(state["alpha_size"]), float(state["alpha_prob"])
        out.initial_ = {k: float(v) for k, v in state["initial"].items()}
        return out


# --- closed-form linear autoregressions ----------------------------------------------


def linear_paths(weights: np.ndarray, bias, windows: np.ndarray, horizon: int,
                 relative: bool) -> np.ndarray:
    """A linear autoregression's paths (model units) `horizon` steps on from each window
    (n, seq_len): one output per step (weights (seq_len, horizon): direct) or one output
    fed back (weights (seq_len,): recursive). Relative windows forecast changes from
    their last value.

    >>> linear_paths(np.array([0.0, 1.0]), 0.0, np.array([[1.0, 2.0]]), 3, False).tolist()
    [[2.0, 2.0, 2.0]]
    """
    seq_len = windows.shape[1]
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 2:
        last = windows[:, -1:] if relative else np.zeros((len(windows), 1))
        return (windows - last) @ weights + np.reshape(bias, horizon) + last
    buffer = windows
    for _ in range(horizon):
        tail = buffer[:, -seq_len:]
        base = tail[:, -1:] if relative else 0.0
        buffer = np.concatenate([buffer, (tail - base) @ weights[:, None] + bias + base], axis=1)
    return buffer[:, seq_len:]


class Linear(Candidate):
    """A least-squares linear autoregression of the last `seq_len` values (ridge strength
    by leave-one-out, `rnnlab.train.fit_ridge`), in one of the closed-form forms:

    - ``kind``: ``standard`` (values scaled by the training mean and spread, so the map
      keeps the level a stationary series reverts to) or ``window`` (each window as
      changes from its own last value, so a trend cannot leave what the map saw);
    - ``strategy``: ``recursive`` (one step, fed back) or ``direct`` (one map per step);
    - ``log``: on the logarithm of a strictly positive series (a multiplicative season
      becomes additive);
    - ``anchor`` P: the shrinkage pulls towards repeating the value P steps back.

    Once fitted it is an affine map from a window of values to the path, so the paths
    from every origin are one matrix product.

    >>> y = np.sin(np.arange(300) / 3)
    >>> form = Linear(20, "standard", "direct", horizon=5).fit(y)
    >>> path = form.paths(y, np.array([300]), 5)[0]
    >>> form.name, float(np.abs(path - np.sin(np.arange(300, 305) / 3)).max()) < 1e-3
    ('linear standard direct', True)
    """

    family = "linear"

    def __init__(self, seq_len: int, kind: str = "window", strategy: str = "recursive",
                 log: bool = False, anchor: int | None = None, horizon: int = 1):
        self.seq_len, self.kind, self.strategy = int(seq_len), kind, strategy
        self.log, self.anchor = bool(log), (int(anchor) if anchor else None)
        self.horizon = int(horizon) if strategy == "direct" else 1
        from .windows import MIN_TRAIN_WINDOWS

        self.min_fit = self.seq_len + MIN_TRAIN_WINDOWS + self.horizon - 1

    @property
    def name(self) -> str:
        return (f"linear {self.kind} {self.strategy}" + (" log" if self.log else "")
                + (f" anchored {self.anchor}" if self.anchor else ""))

    def _space(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, np.float64)
        if not self.log:
            return values
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(values)

    def fit(self, values: np.ndarray) -> Linear:
        from .train import fit_ridge
        from .windows import Windows, as_tensor, fit_scaler

        v = self._space(values)
        if not np.isfinite(v).all():
            raise ValueError("the logarithm needs values above zero")
        scaler = fit_scaler(self.kind, v)
        z = as_tensor(scaler.to_units(v))
        train = Windows(z, self.seq_len, self.seq_len, len(v), scaler.relative, self.horizon)
        weights, bias, self.strength_ = fit_ridge(train, None, self.anchor)
        if self.strategy == "direct":
            weights = np.reshape(weights, (self.seq_len, self.horizon))
        self.scaler_ = scaler
        self.units_ = (np.asarray(weights, np.float64), np.asarray(bias, np.float64))
        # The map is affine: its value at one window and the change per unit of each value.
        center, step = float(np.mean(v)), float(np.std(v)) or 1.0
        probes = center + step * np.vstack([np.zeros(self.seq_len), np.eye(self.seq_len)])
        made = scaler.from_units(linear_paths(weights, bias, scaler.to_units(probes),
                                              self.horizon, scaler.relative))
        self.slopes_ = (made[1:] - made[0]) / step  # (seq_len, horizon)
        self.offsets_ = made[0] - center * self.slopes_.sum(0)
        return self

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        v = self._space(values)
        origins = self._check_origins(v, origins, self.seq_len)
        return in_batches(lambda part: self._paths(v, part, horizon), origins, horizon)

    def _paths(self, v: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        buffer = v[origins[:, None] - self.seq_len + np.arange(self.seq_len)]
        made = 0
        while made < horizon:  # a direct map of H steps, fed back where more are asked
            with np.errstate(invalid="ignore", over="ignore"):  # log(0): no forecast
                step = buffer[:, -self.seq_len:] @ self.slopes_ + self.offsets_
            buffer = np.concatenate([buffer, step], axis=1)
            made += self.horizon
        out = buffer[:, self.seq_len:self.seq_len + horizon]
        if self.log:
            with np.errstate(over="ignore"):
                out = np.exp(out)
        return out

    def to_state(self) -> dict:
        return {"seq_len": self.seq_len, "kind": self.kind, "strategy": self.strategy,
                "log": self.log, "anchor": self.anchor, "horizon": self.horizon,
                "slopes": self.slopes_, "offsets": self.offsets_}

    @classmethod
    def from_state(cls, state: dict) -> Linear:
        out = cls(int(state["seq_len"]), str(state["kind"]), str(state["strategy"]),
                  bool(state["log"]), state["anchor"], int(state["horizon"]))
        slopes = np.asarray(state["slopes"], np.float64)
        offsets = np.asarray(state["offsets"], np.float64)
        if slopes.shape != (out.seq_len, out.horizon) or offsets.shape != (out.horizon,):
            raise ValueError(f"a linear form's map has shape {slopes.shape}, "
                             f"{offsets.shape}; its settings need ({out.seq_len}, "
                             f"{out.horizon})")
        out.slopes_, out.offsets_ = slopes, offsets
        return out


# --- the pretrained net --------------------------------------------------------------


class PretrainedCandidate(Candidate):
    """The pretrained recurrent net (`rnnlab.pretrained`) as a candidate: nothing is
    learned from the series but its transform (logs, the season of `period` taken out),
    read from the values it is fitted on; its median path forecasts.

    >>> y = 10 + np.sin(np.arange(200) / 3)
    >>> c = PretrainedCandidate(1).fit(y[:150])
    >>> c.name, c.paths(y, np.array([150, 200]), 5).shape
    ('pretrained', (2, 5))
    """

    family = "pretrained"
    min_fit = pretrained.MIN_CONTEXT
    min_origin = 2  # a step to scale the context by
    window_level = True  # each context is read relative to its own level
    lookback = pretrained.CONTEXT  # values a forecast reads before its origin

    def __init__(self, period: int | None = None):
        self.period = int(period) if period and 1 < period <= pretrained.MAX_PERIOD else 1

    def __getstate__(self) -> dict:  # the weights stay in the package, not in a pickle
        return {k: v for k, v in self.__dict__.items() if k != "net_"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "transform_" in state:
            self.net_ = pretrained.load_net()

    @property
    def name(self) -> str:
        return "pretrained" + (f" {self.period}" if self.period > 1 else "")

    def short_note(self, have: int) -> str:
        return (f"the pretrained net needs a context of at least {self.min_fit} values "
                f"before the first origin, has {have}")

    def fit(self, values: np.ndarray) -> PretrainedCandidate:
        self.net_ = pretrained.load_net()
        self.transform_ = pretrained.fit_transform(values, self.period)
        return self

    def advance(self, values, state=None) -> dict:
        return {"count": int((state or {}).get("count", 0)) + len(values)}

    def quantiles(self, values, origins, horizon: int, state: dict | None = None
                  ) -> np.ndarray:
        """(n_origins, horizon, Q) quantile paths in the series' units (`state`: the
        values seen before `values`, from `advance`)."""
        values = np.asarray(values, np.float64)
        origins = self._check_origins(values, origins, self.min_origin)
        if not len(origins):
            return np.zeros((0, horizon, len(pretrained.QUANTILES)))
        start = int((state or {}).get("count", 0))
        u = self.transform_.space(values[:origins.max()], start)
        q = self.net_.quantile_paths(u, origins, horizon, self.transform_.floor)
        return self.transform_.units(q, start + origins)

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        return self.quantiles(values, origins, horizon, state)[..., pretrained.MIDDLE]

    def to_state(self) -> dict:
        t = self.transform_
        return {"period": self.period, "logged": t.logged, "season": t.season.tolist(),
                "smallest": t.smallest, "floor": t.floor, "weights": self.net_.sha256}

    @classmethod
    def from_state(cls, state: dict) -> PretrainedCandidate:
        out = cls(int(state["period"]))
        out.net_ = pretrained.load_net()
        if state["weights"] != out.net_.sha256:
            raise ValueError(f"the run used the pretrained weights {str(state['weights'])[:12]}"
                             f"..., this rnnlab loads {out.net_.sha256[:12]}...")
        season = np.asarray(state["season"], np.float64)
        if season.ndim != 1 or not len(season) or not np.isfinite(season).all():
            raise ValueError("the pretrained candidate's season is not a list of numbers")
        out.transform_ = pretrained.Transform(bool(state["logged"]), season,
                                              float(state["smallest"]), float(state["floor"]))
        return out


FROM_STATE = {"seasonal_naive": SeasonalNaive, "mean": Mean, "ets": ETS, "theta": Theta,
              "intermittent": TSB, "linear": Linear, "pretrained": PretrainedCandidate}


def candidate_from_state(family: str, state: dict) -> Candidate:
    """A fitted statistical candidate from its `to_state` numbers (ValueError if they do
    not make one)."""
    if family == "naive":
        return Naive()
    if family not in FROM_STATE:
        raise ValueError(f"unknown candidate family {family!r}")
    return FROM_STATE[family].from_state(state)


# ETS estimates one initial state per step of its season, so a long season (a week of
# hours) makes it slow and ill-posed; there Theta and seasonal naive carry the season.
ETS_MAX_PERIOD = 24


def statistical_pool(train: np.ndarray, horizon: int, seq_len: int, seasons: list[int],
                     families, kinds=("standard", "window"),
                     strategies=("recursive", "direct")) -> list[Candidate]:
    """The unfitted statistical candidates for a series whose values before the first
    origin are `train`: every family of `families` the values support, one member per
    season of `seasons` (the periods found on them and the calendar's).

    Examples
    --------
    >>> pool = statistical_pool(np.arange(1.0, 200.0), 6, 30, [12],
    ...                         ("naive", "seasonal_naive", "linear", "ets"))
    >>> [c.name for c in pool][:4]
    ['naive', 'seasonal naive 12', 'linear standard recursive', 'linear standard recursive log']
    """
    train = np.asarray(train, np.float64)
    positive, zeros = bool(train.min() > 0), bool((train == 0).any() and train.min() >= 0)
    out: list[Candidate] = []
    if "naive" in families:
        out.append(Naive())
    if "seasonal_naive" in families:
        out += [SeasonalNaive(p) for p in seasons]
    if "mean" in families:  # the constants: the mean and the median of the values
        out += [Mean(), Median()]
    if "linear" in families:
        # A season longer than the window's default span (a week of hours): a form whose
        # shrinkage pulls towards repeating it, where the window holds it.
        long = [p for p in seasons if p > max(30, 2 * min(seasons)) and p <= seq_len]
        for kind in kinds:
            for strategy in strategies:
                for log in (False, True) if positive else (False,):
                    for anchor in [None, *long[-1:]]:
                        out.append(Linear(seq_len, kind, strategy, log, anchor, horizon))
    if "ets" in families:
        out += [ETS(p) for p in seasons if p <= ETS_MAX_PERIOD] or [ETS(1)]
    if "theta" in families:
        out += [Theta(p) for p in seasons] or [Theta(1)]
    if "intermittent" in families and zeros:
        out.append(TSB())
    if "pretrained" in families:  # one member without a season, one per season it covers
        out += [PretrainedCandidate(p) for p in [1, *seasons] if p <= pretrained.MAX_PERIOD]
    return out
