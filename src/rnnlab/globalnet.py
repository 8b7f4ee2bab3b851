"""One recurrent net trained across every series of a panel: the global candidate.

The ingredients that made recurrent forecasters win across many series:

- per-series normalisation: each window is divided by its own level (on logs, for a series
  whose values before its first origin are all positive), or scaled by its own step size,
  so series of any size share one net; no scaler is fitted across series;
- explicit seasonality: a seasonal series is divided by its own seasonal indices (the
  classical decomposition of its values before its first origin, where M4's test finds a
  season) before it is windowed, and the forecast multiplied back;
- a direct multi-horizon output: the whole horizon at once, from a context of two seasons
  or two horizons, which the recurrence reads in at most TOKENS patches of consecutive
  values (as the pretrained net does), a linear map of the whole context beside it;
- quantile heads trained with the pinball loss; the median is the point forecast and the
  heads are monotone by construction;
- an ensemble: the median over several seeds, trained together by `rnnlab.train.train`;
- balanced training windows: every series gives at most a fixed number of windows, so long
  series do not drown short ones; an epoch draws at most MAX_EPOCH_WINDOWS of them afresh;
  early stopping on every series' rolling origins (at most MAX_VAL_WINDOWS of them, evenly
  spread, on a panel of many thousand series).

Windows are index gathers from one tensor of every series end to end; none crosses a
series (a context that starts before its series is padded, and says so in a second input).
torch loads on first use.

    rnnlab train --data ../shared/data/panels/tourism_monthly.csv --id-column id \\
        --horizon 24 --out runs/tourism
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .candidates import Candidate
from .metrics import seasonal_indices

# The quantiles the heads forecast; 0.5 is the point forecast, the outer pairs the 80% and
# 95% intervals (before their conformal correction on the rolling origins).
QUANTILES = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)
# Training windows per series at most: a series of 10,000 values gives as many as one of
# 300, so the long ones do not drown the short.
WINDOWS_PER_SERIES = 64
# A series with values at or below zero is scaled per window by the window's mean absolute
# step, at least this share of the series' own mean absolute step before its first origin:
# a flat window (zeros between two demands) must not blow its next value up.
SCALE_FLOOR = 0.1
# Training windows an epoch draws at most, afresh each epoch: a panel of 10,000 series has
# 640,000 windows, and an epoch over all of them took minutes; past this bound an epoch is
# a fixed amount of work, so early stopping looks at the net as often on any panel.
MAX_EPOCH_WINDOWS = 131_072
# Validation windows at most, over the whole panel: the early-stopping loss is a mean, and
# 65,536 windows pin it down (every origin of a few thousand series is more than that);
# past it they are evenly spread over the series and their origins, so an epoch's
# validation costs at most a few forward passes, whatever the panel's size.
MAX_VAL_WINDOWS = 65_536
# The recurrence reads the context in at most this many tokens, each a patch of
# consecutive values (as the pretrained net reads its 384 values in 24).
TOKENS = 16


def context_length(period: int, horizon: int) -> int:
    """The values a window holds: two seasons, or two horizons, at least 16.

    >>> context_length(12, 24), context_length(1, 6), context_length(24, 48)
    (48, 16, 96)
    """
    return int(max(2 * max(period, 1), 2 * horizon, 16))


def patch_length(context: int) -> int:
    """Values per token of the net's recurrence: the context read in at most TOKENS steps.

    >>> patch_length(48), patch_length(16), patch_length(96), patch_length(20)
    (3, 1, 6, 2)
    """
    return max(1, -(-int(context) // TOKENS))


@dataclass
class PanelPrep:
    """Every series in model space, end to end: log values (positive series) with their
    seasonal indices taken out, or the values themselves; per series, where it starts,
    whether it is logged, and its indices (aligned on its own position 0)."""

    u: np.ndarray  # (n_rows,) float64
    starts: np.ndarray  # (n_series + 1,)
    logged: np.ndarray  # (n_series,) bool
    season: list[np.ndarray]  # per series: m values to take out (log indices, or zeros)
    floor: np.ndarray  # (n_series,) the least scale of a window (unlogged series)


def series_space(values: np.ndarray, fit_stop: int, period: int) -> tuple[np.ndarray, bool,
                                                                          np.ndarray]:
    """One series in model space, its transform read from values[:fit_stop] only: (u, is
    logged, the m values taken out at each phase).

    >>> u, logged, season = series_space(np.array([1.0, 2.0, 4.0, 8.0]), 3, 1)
    >>> np.round(u, 3).tolist(), logged
    ([0.0, 0.693, 1.386, 2.079], True)
    """
    values = np.asarray(values, np.float64)
    known = values[:fit_stop]
    period = max(int(period), 1)
    if len(known) and known.min() > 0:
        indices = seasonal_indices(known, period) if period > 1 else np.ones(1)
        season = np.log(indices)
        return log_space(values, known.min(), season), True, season
    return values.copy(), False, np.zeros(1)


def log_space(values: np.ndarray, smallest: float, season: np.ndarray) -> np.ndarray:
    """Logs with the season's log indices taken out; a later value below a tenth of the
    smallest known one (a zero after positive values) is held there."""
    logs = np.log(np.maximum(values, 0.1 * smallest))
    return logs - season[np.arange(len(values)) % len(season)]


def prepare(values: list[np.ndarray], fit_stops: list[int], period: int) -> PanelPrep:
    """Every series in model space (`series_space`), end to end in one array."""
    parts = [series_space(v, stop, period) for v, stop in zip(values, fit_stops, strict=True)]
    starts = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int64)
    u = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    floor = np.array([scale_floor(p[0][:stop]) for p, stop in zip(parts, fit_stops,
                                                                    strict=True)])
    return PanelPrep(u, starts, np.array([p[1] for p in parts], bool), [p[2] for p in parts],
                     floor)


def scale_floor(known: np.ndarray) -> float:
    """SCALE_FLOOR times a series' mean absolute step (its mean absolute value where it
    never moves, 1 where that is zero too), from the values given.

    >>> scale_floor(np.array([0.0, 0.0, 4.0, 0.0]))
    0.26666666666666666
    """
    for scale in (np.mean(np.abs(np.diff(known))) if len(known) > 1 else 0.0,
                  np.mean(np.abs(known)) if len(known) else 0.0, 1.0):
        if scale > 0:
            return float(SCALE_FLOOR * scale)
    return SCALE_FLOOR


def normalise(raw, pad, logged, floor):
    """Contexts (batch, L) in the net's units: each minus its own level (the mean of its
    real values), and, where not logged, divided by its mean absolute step (at least
    `floor`); with the pad flags as a second channel. Returns (x (batch, L, 2), level,
    scale)."""
    import torch

    real = (~pad).to(raw.dtype)
    count = real.sum(1).clamp_min(1.0)
    level = (raw * real).sum(1) / count
    both = real[:, 1:] * real[:, :-1]
    spread = ((raw[:, 1:] - raw[:, :-1]).abs() * both).sum(1) / both.sum(1).clamp_min(1.0)
    scale = torch.where(logged, torch.ones_like(level), torch.maximum(spread, floor))
    z = (raw - level[:, None]) / scale[:, None]
    return torch.stack([z, pad.to(raw.dtype)], dim=-1), level, scale


class GlobalWindows:
    """Windows of many series in model space, each normalised by its own context: the
    context (batch, L, 2) (the values, and 1 where they pad before the series' start) and
    the H targets (batch, H), NaN past `stop`.

    Duck-types `rnnlab.windows.Windows` for `rnnlab.train.train`.
    """

    def __init__(self, u, starts: np.ndarray, logged: np.ndarray, floor: np.ndarray,
                 series: np.ndarray, origins: np.ndarray, stops: np.ndarray, context: int,
                 horizon: int):
        """``series``, ``origins`` (local positions, values[:o] known) and ``stops`` (the
        local position where each window's targets end) are per window."""
        import torch

        device = u.device
        self.u, self.context, self.horizon = u, context, horizon
        starts = torch.as_tensor(starts, device=device)
        series = torch.as_tensor(series, dtype=torch.int64, device=device)
        self.first = starts[series]  # (n_windows,) each series' first row in u
        self.origin = self.first + torch.as_tensor(origins, dtype=torch.int64, device=device)
        self.stop = self.first + torch.as_tensor(stops, dtype=torch.int64, device=device)
        self.logged = torch.as_tensor(logged, device=device)[series]
        self.floor = torch.as_tensor(floor, dtype=u.dtype, device=device)[series]
        self.series = series
        self.back = torch.arange(-context, 0, device=device)
        self.ahead = torch.arange(horizon, device=device)
        self.targets = self.origin  # what train() reads the device and size from
        self.per_epoch = MAX_EPOCH_WINDOWS  # the windows one epoch of train() draws

    def __len__(self) -> int:
        return len(self.origin)

    def chunks(self, size: int = 8192):
        for lo in range(0, len(self), size):
            yield slice(lo, min(lo + size, len(self)))

    def contexts(self, index):
        """(raw contexts (batch, L) in model space, pad (batch, L) bool) of windows `index`;
        padding repeats the series' first value."""
        import torch

        origin, first = self.origin[index], self.first[index]
        pos = origin[:, None] + self.back  # (batch, L)
        pad = pos < first[:, None]
        return self.u[torch.maximum(pos, first[:, None])], pad

    def normalised(self, index):
        """(x (batch, L, 2), level (batch,), scale (batch,)) of the windows `index`."""
        raw, pad = self.contexts(index)
        return normalise(raw, pad, self.logged[index], self.floor[index])

    def batch(self, index):
        """Inputs (batch, L, 2) and targets (batch, H) in the windows' own units."""
        x, level, scale = self.normalised(index)
        pos = self.origin[index][:, None] + self.ahead
        known = pos < self.stop[index][:, None]
        y = self.u[pos.clamp_max(len(self.u) - 1)]
        y = (y - level[:, None]) / scale[:, None]
        return x, y.masked_fill(~known, float("nan"))


def spread(n: int, k: int) -> np.ndarray:
    """k positions of range(n) evenly spread from the first to the last (k < n).

    >>> spread(10, 4).tolist()
    [0, 3, 6, 9]
    """
    return np.unique(np.linspace(0, n - 1, k).astype(np.int64))


def windows_for(prep: PanelPrep, fit_stops: list[int], context: int, horizon: int,
                device="cpu", per_series: int = WINDOWS_PER_SERIES):
    """(training windows, validation windows) over a prepared panel: training windows end
    their targets before each series' first origin (at most `per_series` of them, evenly
    spread), validation windows start at every origin from there on (at most
    MAX_VAL_WINDOWS of them, evenly spread)."""
    import torch

    origins, counts = [], []
    lengths = np.diff(prep.starts)
    stops_ = np.asarray(fit_stops, np.int64)
    for stop in stops_:
        ends = np.arange(2, stop - horizon + 1)  # at least two known values before a target
        if len(ends) > per_series:
            ends = ends[spread(len(ends), per_series)]
        origins.append(ends)
        counts.append(len(ends))
    series = np.repeat(np.arange(len(stops_)), counts)
    # Validation windows: every origin from each series' first one to its end, numbered
    # end to end over the panel; at most MAX_VAL_WINDOWS of those numbers, evenly spread.
    v_counts = np.maximum(lengths - stops_, 0)
    offsets = np.concatenate([[0], np.cumsum(v_counts)])
    index = np.arange(offsets[-1])
    if len(index) > MAX_VAL_WINDOWS:
        index = spread(len(index), MAX_VAL_WINDOWS)
    v_series = np.searchsorted(offsets[1:], index, side="right")
    v_origins = stops_[v_series] + index - offsets[v_series]
    u = torch.as_tensor(prep.u, dtype=torch.float32, device=device)

    def make(s, o, t):
        return GlobalWindows(u, prep.starts, prep.logged, prep.floor, s, o, t, context,
                             horizon)

    train = make(series, np.concatenate(origins) if origins else np.zeros(0, np.int64),
                 stops_[series])
    return train, make(v_series, v_origins, lengths[v_series])


# --- the net --------------------------------------------------------------------------


def build_global_net(model: str, context: int, horizon: int, hidden_size: int,
                     num_layers: int, dropout: float = 0.0):
    """The global net for `model` (rnn, lstm or gru), built by torch; its recurrence reads
    the context in patches of `patch_length(context)` values."""
    import torch
    from torch import nn

    cells = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    quantiles = torch.tensor(QUANTILES)
    middle = QUANTILES.index(0.5)

    class GlobalNet(nn.Module):
        """Context (batch, L, 2) -> quantiles (batch, H, Q): a linear map of the context
        to the median (zero at start: the window's level), a recurrent body whose last
        state gives the median's correction and the positive gaps to the other quantiles,
        so they never cross."""

        name = f"{model}-global"

        def __init__(self):
            super().__init__()
            self.context, self.horizon = context, horizon
            self.patch = patch_length(context)
            self.rnn = cells[model](2 * self.patch, hidden_size, num_layers, batch_first=True,
                                    dropout=dropout if num_layers > 1 else 0.0)
            self.skip = nn.Linear(context, horizon)
            self.head = nn.Linear(hidden_size, horizon * len(QUANTILES))
            for layer in (self.skip, self.head):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
            self.register_buffer("quantiles", quantiles)

        def forward(self, x):
            out, _ = self.rnn(self.tokens(x))
            raw = self.head(out[:, -1]).view(len(x), self.horizon, len(QUANTILES))
            median = raw[..., middle] + self.skip(x[..., 0])
            gaps = nn.functional.softplus(raw)
            above = median[..., None] + torch.cumsum(gaps[..., middle + 1:], -1)
            below = median[..., None] - torch.cumsum(gaps[..., :middle].flip(-1), -1).flip(-1)
            return torch.cat([below, median[..., None], above], dim=-1)

        def tokens(self, x):
            """(batch, L, 2) -> (batch, ceil(L / patch), 2 * patch): the context in patches,
            padded in front (with its first value, flagged as padding)."""
            p = self.patch
            if p == 1:
                return x
            short = -x.shape[1] % p
            if short:
                front = x[:, :1].expand(-1, short, -1).clone()
                front[..., 1] = 1.0
                x = torch.cat([front, x], dim=1)
            return x.reshape(len(x), -1, 2 * p)

        def loss(self, x, y):
            """The pinball loss over every quantile and known target (NaN: unknown)."""
            known = torch.isfinite(y)
            error = torch.where(known, y, 0.0)[..., None] - self(x)  # (batch, H, Q)
            pinball = torch.maximum(self.quantiles * error, (self.quantiles - 1) * error)
            return (pinball.mean(-1) * known).sum() / known.sum().clamp_min(1)

    return GlobalNet()


class GlobalModel:
    """Trained global nets (one per seed) and how each series maps into their space."""

    def __init__(self, nets: list, prep: PanelPrep, names: list[str], context: int,
                 horizon: int, period: int, smallest: np.ndarray):
        self.nets, self.prep, self.names = nets, prep, list(names)
        self.context, self.horizon, self.period = context, horizon, period
        self.smallest = smallest  # per series: its smallest known value (logged ones)
        self.index = {name: k for k, name in enumerate(self.names)}

    def space(self, k: int, values: np.ndarray) -> np.ndarray:
        """Series k's `values` in model space, as it was prepared."""
        if not self.prep.logged[k]:
            return np.asarray(values, np.float64)
        return log_space(np.asarray(values, np.float64), self.smallest[k], self.prep.season[k])

    def quantile_paths(self, items: list[tuple[int, np.ndarray, np.ndarray]], horizon: int
                       ) -> list[np.ndarray]:
        """For each (series k, its values, origins): the quantile paths (n_origins,
        horizon, Q) in the series' units, the median over the seeds, in batched passes.
        Past the nets' horizon each path's medians are appended to its context and fed
        back."""
        import torch

        device = next(self.nets[0].parameters()).device
        spaces = [self.space(k, v) for k, v, _ in items]
        origins = [np.asarray(o, np.int64) for _, _, o in items]
        starts = np.concatenate([[0], np.cumsum([len(u) for u in spaces])])
        u = torch.as_tensor(np.concatenate(spaces) if spaces else np.zeros(0),
                            dtype=torch.float32, device=device)
        series = np.repeat(np.arange(len(items)), [len(o) for o in origins])
        ends = np.concatenate(origins) if origins else np.zeros(0, np.int64)
        rows = [k for k, _, _ in items]
        windows = GlobalWindows(u, starts, self.prep.logged[rows], self.prep.floor[rows],
                                series, ends, ends, self.context, self.horizon)
        out = []
        with torch.no_grad():
            for chunk in windows.chunks(4096):
                raw, pad = windows.contexts(chunk)
                logged, floor = windows.logged[chunk], windows.floor[chunk]
                made = []
                while sum(m.shape[1] for m in made) < horizon:
                    x, level, scale = normalise(raw, pad, logged, floor)
                    q = torch.stack([net.eval()(x) for net in self.nets])
                    q = q[0] if len(q) == 1 else torch.quantile(q, 0.5, dim=0)
                    q = q * scale[:, None, None] + level[:, None, None]  # (batch, H, Q)
                    made.append(q.double())
                    middle = q[..., QUANTILES.index(0.5)]
                    raw = torch.cat([raw, middle], dim=1)[:, -self.context:]
                    pad = torch.cat([pad, torch.zeros_like(middle, dtype=torch.bool)],
                                    dim=1)[:, -self.context:]
                out.append(torch.cat(made, dim=1)[:, :horizon])
        q = torch.cat(out).cpu().numpy() if out else \
            np.zeros((0, horizon, len(QUANTILES)))
        parts = np.split(q, np.cumsum([len(o) for o in origins])[:-1])
        return [self.to_units(k, m, o) for (k, _, o), m in zip(items, parts, strict=True)]

    def to_units(self, k: int, q: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Model-space quantile paths of series k back in its units."""
        if not self.prep.logged[k]:
            return q
        season = self.prep.season[k]
        phase = (np.asarray(origins)[:, None] + np.arange(q.shape[1])) % len(season)
        return np.exp(q + season[phase][..., None])


class GlobalCandidate(Candidate):
    """One series' view of the global nets, a candidate of its pool: the median path.

    Pickled without the nets (a worker sends its fitted pools back): whoever unpickles it
    gives it the model again (`attach`)."""

    family = "global"
    window_level = True  # each context is read relative to its own level
    min_origin = 2

    def __init__(self, model: GlobalModel, k: int, which: str = "final"):
        self.model, self.k, self.which = model, k, which
        self.min_fit = self.min_origin

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "model"}

    def attach(self, models: dict) -> None:
        """Give an unpickled view its model back: models["fold"] or models["final"]."""
        self.model = models[self.which]
        if getattr(self, "final_", None) is not None:
            self.final_.attach(models)

    @property
    def name(self) -> str:
        return self.model.nets[0].name

    def fit(self, values):  # trained across the panel, never on one series
        return self

    def quantiles(self, values, origins, horizon) -> np.ndarray:
        """(n_origins, horizon, Q) quantile paths."""
        origins = self._check_origins(np.asarray(values), origins, self.min_origin)
        return self.model.quantile_paths([(self.k, np.asarray(values, np.float64),
                                           origins)], horizon)[0]

    def paths(self, values, origins, horizon, state=None) -> np.ndarray:
        return self.quantiles(values, origins, horizon)[..., QUANTILES.index(0.5)]


def train_global(values: list[np.ndarray], fit_stops: list[int], names: list[str],
                 period: int, horizon: int, model: str, hidden_size: int, num_layers: int,
                 dropout: float, training, seeds: list[int], device="cpu",
                 **train_kwargs) -> tuple[GlobalModel, list]:
    """Train one global net per seed on every series' windows before its first origin,
    early-stopped on the windows from its origins on (`rnnlab.train.train`, the pinball
    loss of the nets). Returns the model and each seed's history."""
    import torch

    from .train import cpu_threads, train

    prep = prepare(values, fit_stops, period)
    context = context_length(period, horizon)
    train_w, val_w = windows_for(prep, fit_stops, context, horizon, device)
    nets = []
    for seed in seeds:
        torch.manual_seed(seed)
        nets.append(build_global_net(model, context, horizon, hidden_size, num_layers,
                                     dropout).to(device))
    with cpu_threads(training.threads):
        histories = train(nets, train_w, val_w, training, seeds, **train_kwargs)
    smallest = np.array([float(np.min(v[:stop])) if stop else 1.0
                         for v, stop in zip(values, fit_stops, strict=True)])
    # The model keeps each series' transform, not the panel in model space (it maps a
    # series again when it forecasts): 160 MB at 100,000 series of 200 values.
    kept = PanelPrep(np.zeros(0), prep.starts, prep.logged, prep.season, prep.floor)
    return GlobalModel(nets, kept, names, context, horizon, period, smallest), histories


def model_state(model: GlobalModel) -> dict:
    """A global model as numbers and arrays only (for a checkpoint or a worker)."""
    prep = model.prep
    return {"settings": {"names": model.names, "context": model.context,
                         "horizon": model.horizon, "period": model.period,
                         "seeds": len(model.nets)},
            "arrays": {"logged": prep.logged.astype(np.float64), "floor": prep.floor,
                       "smallest": np.asarray(model.smallest, np.float64),
                       "season_lengths": np.array([len(x) for x in prep.season], np.float64),
                       "season": np.concatenate(prep.season) if prep.season else np.zeros(0)},
            "weights": {f"seed{s}.{key}": value.detach().cpu().numpy()
                        for s, net in enumerate(model.nets)
                        for key, value in net.state_dict().items()}}


def model_from_state(state: dict, model: str, hidden_size: int, num_layers: int
                     ) -> GlobalModel:
    """The model `model_state` describes; weights of the wrong shapes are refused on
    torch's meta device before any net is built (ValueError)."""
    import torch

    settings, arrays, weights = state["settings"], state["arrays"], state["weights"]
    context, horizon = int(settings["context"]), int(settings["horizon"])
    if not (1 <= context <= 10**5 and 1 <= horizon <= 10**5):
        raise ValueError(f"context {context} or horizon {horizon} is out of range")
    nets = []
    for s in range(int(settings["seeds"])):
        own = {k[len(f"seed{s}."):]: torch.as_tensor(np.asarray(v))
               for k, v in weights.items() if k.startswith(f"seed{s}.")}
        with torch.device("meta"):
            probe = build_global_net(model, context, horizon, hidden_size, num_layers)
        expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
        if {k: tuple(v.shape) for k, v in own.items()} != expected:
            raise ValueError(f"the weights of seed {s} do not fit the net's parameters")
        net = build_global_net(model, context, horizon, hidden_size, num_layers)
        net.load_state_dict(own, strict=True)
        nets.append(net.eval())
    lengths = np.asarray(arrays["season_lengths"]).astype(np.int64)
    season = np.split(np.asarray(arrays["season"], np.float64), np.cumsum(lengths)[:-1])
    names = [str(n) for n in settings["names"]]
    prep = PanelPrep(np.zeros(0), np.zeros(len(names) + 1, np.int64),
                     np.asarray(arrays["logged"]).astype(bool), season,
                     np.asarray(arrays["floor"], np.float64))
    return GlobalModel(nets, prep, names, context, horizon, int(settings["period"]),
                       np.asarray(arrays["smallest"], np.float64))
