"""The honest yardsticks: last value, training mean, seasonal naive.

They follow the same contract as `Forecaster`, and every score rnnlab reports stands
beside them on exactly the same test targets.

    rnnlab train --data stock:A --out runs/a   # prints the model next to all three
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import BaseForecaster, check_series
from .diagnostics import repeated_season
from .errors import ConfigError


class MeanForecaster(BaseForecaster):
    """Predicts the mean of the data it was fitted on: the best guess for pure noise.

    >>> import pandas as pd
    >>> MeanForecaster().fit(pd.Series([1.0, 2.0, 6.0])).forecast(1).tolist()
    [3.0]
    """

    name = "mean"

    def fit(self, series: pd.Series, val_size: int | None = None) -> MeanForecaster:
        series = check_series(series, 1)
        self.mean_ = float(series.mean())
        self._remember_tail(series, 1)
        self.fitted_ = True
        return self

    def predict(self, series: pd.Series, start: int | None = None) -> pd.Series:
        self._check_fitted()
        series = check_series(series, 1).iloc[start or 0:]
        return pd.Series(np.full(len(series), self.mean_), index=series.index, name="mean")

    def _forecast_values(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return np.full(horizon, self.mean_)

    def paths_from(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        self._check_fitted()
        return np.full((len(origins), horizon), self.mean_)


class SeasonalNaiveForecaster(BaseForecaster):
    """Repeats the value one season back; the period is given or found in the fit data.

    Where no period stands out from noise it falls back to period 1, i.e. the naive
    forecast, and says so in ``period_found_``. With ``val_size`` the period is found on
    the part before the last `val_size` points, the training part on which a network's
    window is chosen (`rnnlab.windows.choose_seq_len`), so both use the same season.

    >>> import numpy as np, pandas as pd
    >>> s = pd.Series(np.tile([1.0, 5.0, 3.0], 40))
    >>> SeasonalNaiveForecaster(period=3).fit(s).forecast(4).tolist()
    [1.0, 5.0, 3.0, 1.0]
    """

    def __init__(self, period: int | None = None):
        self.period = period

    name = "seasonal_naive"

    @property
    def min_history(self) -> int:  # type: ignore[override]
        return getattr(self, "period_", self.period or 1)

    def fit(self, series: pd.Series, val_size: int | None = None) -> SeasonalNaiveForecaster:
        series = check_series(series, 2)
        if self.period is not None:
            if self.period < 1 or self.period >= len(series):
                raise ConfigError(
                    f"period must be in [1, {len(series) - 1}] for this series, got {self.period}"
                )
            self.period_, self.period_found_ = int(self.period), True
            self.base_period_ = self.period_
        else:
            train = series.iloc[: len(series) - val_size] if val_size else series
            found, longer = repeated_season(train.to_numpy())
            self.base_period_ = found
            # A multiple that repeats clearly better on the same part is the season
            # repeated: a year of monthly sales whose periodogram peaks at its quarter
            # (`rnnlab.diagnostics.longer_season`); else a baseline weaker than the
            # data allows would flatter every model beside it.
            found = longer or found
            self.period_, self.period_found_ = (found, True) if found else (1, False)
        self._remember_tail(series, self.period_)
        self.fitted_ = True
        return self

    def predict(self, series: pd.Series, start: int | None = None) -> pd.Series:
        self._check_fitted()
        m = self.period_
        series = check_series(series, m + 1)
        start = max(m, start or 0)
        values = series.to_numpy()
        return pd.Series(values[start - m:-m], index=series.index[start:], name=self.name)

    def _forecast_values(self, history: np.ndarray, horizon: int) -> np.ndarray:
        m = self.period_
        season = history[-m:]
        return np.resize(season, horizon)

    def paths_from(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """The last season before each origin, repeated: one gather for all origins."""
        self._check_fitted()
        m = self.period_
        origins = np.asarray(origins, dtype=np.int64)
        if len(origins) and origins.min() < m:
            raise ValueError(f"origins must have {m} values before them")
        return np.asarray(values, dtype=np.float64)[
            origins[:, None] - m + np.arange(horizon) % m]


class NaiveForecaster(SeasonalNaiveForecaster):
    """Tomorrow = today: predicts the last observed value.

    >>> import pandas as pd
    >>> NaiveForecaster().fit(pd.Series([1.0, 2.0, 4.0])).forecast(2).tolist()
    [4.0, 4.0]
    """

    name = "naive"

    def __init__(self):
        self.period = 1  # "the value one season back" with a season of one step


BASELINES = {
    "naive": NaiveForecaster,
    "mean": MeanForecaster,
    "seasonal_naive": SeasonalNaiveForecaster,
}
