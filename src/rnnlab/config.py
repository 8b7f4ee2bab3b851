"""Typed run configuration: data, model and training, each default with its reason.

`rnnlab train --help` shows the same defaults; `config.json` in a run directory stores the
resolved values and the command line that made them.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields

from .errors import ConfigError


@dataclass
class DataConfig:
    # A built-in generator name, `stock:TICKER`, or a CSV path.
    source: str = "sine"
    # None picks `close` when the CSV has it, else its only numeric column.
    target: str | None = None
    # Picks one ticker's rows from a combined file that has a `Name` column.
    ticker: str | None = None
    # None looks for a column called date / time / timestamp.
    date_column: str | None = None
    # None reads ISO dates (2017-04-03) as they are, and day/month dates only when a day
    # above 12 shows their order: 03/04/2017 is 3 April in Europe and 4 March in the US,
    # and a silent guess reorders the series. "%d/%m/%Y" (strftime codes) settles it.
    date_format: str | None = None
    # Gaps of up to this many missing target values are filled by linear interpolation;
    # longer gaps are refused, because invented prices would be scored as real ones.
    max_fill: int = 3
    # Seed of the synthetic generators, so `sine` is the same series in every run.
    data_seed: int = 0
    # The study's 80/20 chronological split, with the last eighth of the 80% held out for
    # early stopping: 70% train, 10% validation, 20% test.
    val_fraction: float = 0.1
    test_fraction: float = 0.2


@dataclass
class ModelConfig:
    # The study's recurrent nets; `rnnlab.models.MODELS` lists the rest.
    model: str = "lstm"
    # The study's window: half a period of its sine (63 samples) and six weeks of trading
    # days. `rnnlab inspect` suggests one for any series.
    seq_len: int = 30
    # auto: per-window normalisation when the training part has a unit root (ADF p > 0.05),
    # standard scaling otherwise. Trending prices leave any global scaler's range.
    scaler: str = "auto"
    # 32 units x 2 layers is the peers' setting on these tasks, so comparisons are fair.
    hidden_size: int = 32
    num_layers: int = 2
    dropout: float = 0.0
    # A least-squares linear autoregression on the window, with the network learning only
    # what it misses. The net starts equal to it (zero head) and keeps changes only when
    # validation loss improves, so a default model never does worse than its linear part.
    linear_skip: bool = True


@dataclass
class TrainConfig:
    # Upper bound only: early stopping ends most runs far sooner.
    epochs: int = 200
    # 256 windows per step: at 64 a 2-core CPU spends most of each step on per-call
    # overhead (measured 3x fewer windows/s); the model starts from its linear part, so
    # fewer, larger steps lose no accuracy on the study's series.
    batch_size: int = 256
    # Adam at 3e-3 reached the same test RMSE as 1e-3 on sine, noise and stock:A in
    # fewer epochs.
    lr: float = 3e-3
    weight_decay: float = 0.0
    # Epochs without a better validation loss (by 0.1%) before stopping; the best weights
    # are restored. 10 cost twice the time for no gain on the study's series.
    patience: int = 5
    # Recurrent nets multiply gradients through time and can explode; 1.0 is the usual cap.
    # 0 turns clipping off.
    clip_grad_norm: float = 1.0
    # plateau halves the LR when validation stalls; cosine anneals to 0; none keeps it.
    lr_schedule: str = "plateau"
    seed: int = 0
    device: str = "auto"
    # CPU threads while training; 0 leaves torch's own choice (all cores). One thread
    # trained the default LSTM (2 x 32, batch 256) 1.8x faster than two on 2 cores
    # (`rnnlab train`, sine and stock:A): small steps spend more on waking threads than
    # they save. hidden 128 / seq_len 100 gained 1.1x from two (benchmarks/README.md).
    threads: int = 1


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> RunConfig:
        """Build a config from nested dicts, refusing unknown keys and wrong types by name."""
        sections = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(sections))
        if unknown:
            raise ConfigError(
                f"unknown config section {unknown[0]!r}; sections are {', '.join(sections)}"
            )
        parts = {}
        for name, f in sections.items():
            section_cls = f.default_factory  # type: ignore[misc]
            parts[name] = build(section_cls, raw.get(name, {}))
        return cls(**parts)


SECTIONS = (DataConfig, ModelConfig, TrainConfig)


def param_names() -> dict[str, type]:
    """Every tunable parameter name across the sections, mapped to its section."""
    return {f.name: cls for cls in SECTIONS for f in fields(cls) if f.name != "source"}


def build(section_cls: type, values: dict):
    """Instantiate one config section from a dict, checking each key and type."""
    hints = typing.get_type_hints(section_cls)
    valid = [f.name for f in fields(section_cls)]
    checked = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(
                f"unknown {section_cls.__name__} parameter {key!r}; valid names are "
                f"{', '.join(valid)}"
            )
        checked[key] = coerce(key, value, hints[key])
    return section_cls(**checked)


def coerce(name: str, value, hint):
    """Check (and for strings from the command line, convert) one value against its type."""
    allowed = typing.get_args(hint) or (hint,)
    if value is None and type(None) in allowed:
        return None
    if isinstance(value, str) and str not in allowed:
        value = _parse_text(name, value, allowed)
    for kind in allowed:
        if kind is type(None):
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
    names = " or ".join("None" if k is type(None) else k.__name__ for k in allowed)
    raise ConfigError(f"parameter {name!r} must be {names}, got {value!r}")


def _parse_text(name: str, text: str, allowed: tuple):
    low = text.strip().lower()
    if type(None) in allowed and low in ("none", "null", ""):
        return None
    if bool in allowed:
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"parameter {name!r} must be true or false, got {text!r}")
    for kind in (int, float):
        if kind in allowed:
            try:
                return kind(low)
            except ValueError:
                continue
    names = " or ".join(k.__name__ for k in allowed if k is not type(None))
    raise ConfigError(f"parameter {name!r} must be {names}, got {text!r}")
