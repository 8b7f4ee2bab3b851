"""Typed run configuration: data, model and training, each option declared once.

Each field holds its default (with the reason in a comment), its help text and its valid
range. `rnnlab train --help` is generated from these fields, `check` validates a whole run
against them before anything is written, and `config.json` in a run directory stores the
resolved values and the command line that made them.

    rnnlab train --data sine --seq-len 60 --hidden-size 64 --out runs/sine
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

from .checkpoint import read_json
from .errors import ConfigError

# The model registry's names (rnnlab.models.MODELS registers one class under each). They
# live here so that the CLI lists and checks them without importing torch.
MODEL_NAMES = ("rnn", "lstm", "gru", "cnn_rnn", "residual", "transformer", "linear")
# The shipped pretrained net (rnnlab.pretrained): a model to choose, never to train.
PRETRAINED = "pretrained"
MODEL_CHOICES = (*MODEL_NAMES, PRETRAINED)
SCALERS = ("auto", "window", "standard", "minmax")
SCHEDULES = ("plateau", "cosine", "none")
STRATEGIES = ("auto", "recursive", "direct")
DEVICES = ("auto", "cpu", "cuda")
# The candidate families a forecast may be chosen from (rnnlab.candidates, rnnlab.choose).
POOL_FAMILIES = ("naive", "seasonal_naive", "mean", "linear", "ets", "theta", "intermittent",
                 "pretrained", "net")
# The window without a season: the study's, six weeks of trading days, and about half a
# period of its sine (63 samples). A season found on the training part lengthens it.
DEFAULT_SEQ_LEN = 30
# A smaller share of a part gives no series a row (a million rows hold one): and 1e-320
# would overflow the split's arithmetic.
MIN_SHARE = 1e-6
# Seeds go to numpy and torch generators, which take 0 .. 2**32 - 1 and 0 .. 2**63 - 1.
MAX_SEED = 2**32 - 1


def option(default, help: str, *, low=None, high=None, above=None, below=None,
           choices: tuple[str, ...] | None = None):
    """A config field with its help text and valid values: `low <= x <= high`,
    `above < x < below`, or one of `choices` (matched without regard to case)."""
    rules = {"help": help, "low": low, "high": high, "above": above, "below": below,
             "choices": choices}
    return field(default=default, metadata=rules)


# The column names `rnnlab.data.read_csv` takes as the dates, in order of preference, in
# any case. "year" as in statsmodels' sunspots (YEAR, SUNACTIVITY): whole years stay
# integers, so `forecast` continues them as 2009, 2010, ... A year beside a month number
# gives the hint to join them.
DATE_NAMES = ("date", "datetime", "timestamp", "time", "ds", "day", "week", "year", "month",
              "quarter")


@dataclass
class DataConfig:
    # A built-in generator name, `stock:TICKER`, or a CSV path.
    source: str = option("sine", "what to train on")
    # None picks `close` when the CSV has it, else its only numeric column.
    target: str | None = option(
        None, "CSV column to forecast [default: close, else the only numeric column]")
    # Picks one ticker's rows from a combined file that has a `Name` column.
    ticker: str | None = option(None, "rows of this ticker in a combined CSV with a Name column")
    # None looks for a column named as in DATE_NAMES, then for the unnamed first column
    # that pandas' DataFrame.to_csv() writes for the index.
    date_column: str | None = option(
        None, "date column of the CSV [default: the first column named "
        f"{', '.join(DATE_NAMES)} (any case), else an unnamed first column, as "
        "DataFrame.to_csv() writes the index]")
    # None reads ISO dates (2017-04-03) as they are, and day/month dates only when a day
    # above 12 shows their order: 03/04/2017 is 3 April in Europe and 4 March in the US,
    # and a silent guess reorders the series. "%d/%m/%Y" (strftime codes) settles it.
    date_format: str | None = option(
        None, "strftime format of the dates, e.g. %d/%m/%Y [default: ISO dates, and "
        "day/month order when a day above 12 shows it]")
    # Gaps of up to this many missing target values are filled by linear interpolation;
    # longer gaps are refused, because invented prices would be scored as real ones.
    max_fill: int = option(3, "fill gaps of up to this many missing values by interpolation",
                           low=0, high=10**6)
    # Seed of the synthetic generators, so `sine` is the same series in every run.
    data_seed: int = option(0, "seed of the synthetic generators", low=0, high=MAX_SEED)
    # The study's 80/20 chronological split, with the last eighth of the 80% held out for
    # early stopping: 70% train, 10% validation, 20% test. Every score needs a test part.
    val_fraction: float = option(0.1, "share of the series for validation (early stopping)",
                                 low=0.0, below=1.0)
    test_fraction: float = option(0.2, "share of the series at its end for the test scores",
                                  above=0.0, below=1.0)
    # A folder of per-ticker CSVs (the sandp500 layout): their equal-weighted mean daily
    # return, without the ticker forecast, joins the inputs as the feature "market".
    market: str | None = option(
        None, "folder of per-ticker CSVs: add their equal-weighted daily return (the "
        "forecast ticker left out) as an input")


@dataclass
class ModelConfig:
    # The study's recurrent nets; `rnnlab.models.MODELS` holds the rest.
    # pretrained: the net shipped inside the package, as it is, in place of one trained
    # here (rnnlab.pretrained); every other name is trained on the series.
    model: str = option("lstm", f"network: {', '.join(MODEL_NAMES)}, or {PRETRAINED} (the "
                        "shipped net, no training)", choices=MODEL_CHOICES)
    # auto: every family the series supports enters the pool: naive, seasonal naive, the
    # mean, the closed-form linear forms, ETS, Theta, TSB (where values are zero), the
    # shipped pretrained net and this network; every candidate is scored on the same
    # rolling origins and one rule picks or averages them (rnnlab.choose). A comma list
    # keeps only those families: "net" studies the network alone (with model pretrained:
    # the pretrained net alone), "ets,theta" the statistical ones.
    candidates: str = option(
        "auto", "candidates the forecast is chosen from: auto (all), or a comma list of "
        f"{', '.join(POOL_FAMILIES)}")
    # None (auto): two seasons of a period found on the training part, at least
    # DEFAULT_SEQ_LEN and at most what the series' length allows
    # (rnnlab.windows.choose_seq_len); it is resolved once, where the data is known, and
    # config.json stores the number. No fixed cap: the series' length bounds it.
    seq_len: int | None = option(
        None, f"window length: past values the model sees [default: two periods of a season "
        f"found on the training part, at least {DEFAULT_SEQ_LEN}; {DEFAULT_SEQ_LEN} without "
        "one]", low=1)
    # None (auto): the whole window, except where the window spans a season longer than two
    # periods (a week of hourly data): the recurrent body then reads the last two periods
    # (at least DEFAULT_SEQ_LEN) and the linear part the whole window. On half-hourly
    # demand 48 steps ahead that gave the same forecasts 5x faster than reading 336 steps.
    recurrent_len: int | None = option(
        None, "steps at the end of the window the network body reads [default: all of it; "
        "two periods when the window spans a longer season]", low=1)
    # auto: the linear part is fitted under standard and window; standard is kept only when
    # its validation MSE is more than 1% below window's (rnnlab.forecaster.choose_form):
    # trending prices leave any global scaler's range, a stationary series needs its level,
    # and a choice made on errors cannot flip on a borderline ADF p-value. With a horizon
    # H > 1 the errors are those H steps ahead, summed over three folds, and the strategy
    # is chosen in the same pass. Without a validation part, ADF p > 0.05 picks window.
    scaler: str = option("auto", "auto (standard if clearly better on validation, else "
                         "window), window, standard or minmax", choices=SCALERS)
    # 32 units x 2 layers is the peers' setting on these tasks, so comparisons are fair.
    # The caps keep a typo from allocating gigabytes: 4096 units is 0.5 GB per LSTM layer.
    hidden_size: int = option(32, "units per recurrent layer", low=1, high=4096)
    num_layers: int = option(2, "stacked recurrent layers", low=1, high=64)
    dropout: float = option(0.0, "dropout between layers", low=0.0, below=1.0)
    # A least-squares linear autoregression on the window, with the network learning only
    # what it misses. The net starts equal to it (zero head) and keeps changes only when
    # validation loss improves, so a default model never does worse than its linear part.
    linear_skip: bool = option(True, "add a least-squares linear autoregression the net "
                               "corrects")
    # Where the forecast is the linear part alone (the body left out, or model linear),
    # fit it again on the training and validation parts once every choice is made there
    # (rnnlab.forecaster._refit_skip). Forecasting once from the end of each series, as M4
    # does: half-hourly demand OWA 0.264 -> 0.229, 16 real series cut 6 times each 1.5%
    # lower MASE (geometric mean; better on 6, worse on 10, benchmarks/refit_cuts.py).
    refit: bool = option(True, "where the forecast is the linear part alone, fit it again "
                         "on the training and validation parts once chosen")
    # Steps ahead the model is scored (and, with direct, trained) for: every test origin
    # gets an H-step forecast beside the baselines' on the same targets. 1 is the study's
    # one-step-ahead setting.
    horizon: int = option(1, "steps ahead to forecast and score from every test origin",
                          low=1, high=10_000)
    # recursive: a one-step net fed its own predictions; direct: one net with H outputs,
    # trained on all H targets at once (and a least-squares linear part per step). auto
    # fits both linear parts on the training part and keeps direct only when its H-step
    # validation MSE is more than 1% below recursive's, for each scaler candidate
    # (rnnlab.forecaster.choose_form).
    # Measured (benchmarks/horizon.py, horizon_speed.py): recursive was lower over 10 steps
    # on 4 of 6 study series at a 30-step window, direct far lower 48 steps ahead on an
    # hourly series (0.28 against 0.36 RMSE), so neither is right everywhere; the choice
    # rests on validation errors.
    strategy: str = option("auto", "auto (direct if its linear part is clearly better on "
                           "validation, else recursive), recursive (one-step predictions "
                           "fed back) or direct (H outputs at once)", choices=STRATEGIES)
    # Split-conformal: the interval is the point forecast +- the quantile of the absolute
    # validation errors at each step, so it needs no assumption about their shape.
    interval: float = option(0.8, "coverage of the forecast interval, calibrated on the "
                             "validation part (0: no interval)", low=0.0, below=1.0)

    # Other CSV columns fed beside the target's lags, e.g. open,high,low,volume; each is
    # scaled on the training part (volume-like columns through a log, decided on the data).
    # Not known after the forecast origin, so multi-step needs --strategy direct.
    features: str | None = option(
        None, "comma-separated CSV columns to feed as inputs beside the target, e.g. "
        "open,high,low,volume")
    # Day of week and month as sin/cos of the date index: known for future dates, so they
    # feed recursive multi-step forecasts too.
    calendar: bool = option(False, "add day-of-week and month encodings of the dates as "
                            "inputs")

    @property
    def outputs(self) -> int:
        """Values the network predicts per window: H with direct, 1 with recursive (auto
        is resolved to one of them before a network is built)."""
        return self.horizon if self.strategy == "direct" else 1


@dataclass
class TrainConfig:
    # Upper bound only: early stopping ends most runs far sooner.
    epochs: int = option(200, "maximum epochs (early stopping usually ends sooner)", low=1,
                         high=10**6)
    # 256 windows per step: at 64 a 2-core CPU spends most of each step on per-call
    # overhead (measured 3x fewer windows/s); the model starts from its linear part, so
    # fewer, larger steps lose no accuracy on the study's series.
    batch_size: int = option(256, "windows per gradient step", low=1, high=10**7)
    # Adam at 3e-3 reached the same test RMSE as 1e-3 on sine, noise and stock:A in
    # fewer epochs.
    lr: float = option(3e-3, "Adam learning rate", above=0.0, high=1e3)
    weight_decay: float = option(0.0, "L2 penalty of Adam", low=0.0, high=1e3)
    # Epochs without a better validation loss (by 0.1%) before stopping; the best weights
    # are restored. 10 cost twice the time for no gain on the study's series.
    patience: int = option(5, "epochs without validation gain before stopping", low=0,
                           high=10**6)
    # Recurrent nets multiply gradients through time and can explode; 1.0 is the usual cap.
    # 0 turns clipping off.
    clip_grad_norm: float = option(1.0, "clip the gradient norm to this (0: no clipping)",
                                   low=0.0, high=1e12)
    # plateau halves the LR when validation stalls; cosine anneals to 0; none keeps it.
    lr_schedule: str = option("plateau", "plateau, cosine or none", choices=SCHEDULES)
    seed: int = option(0, "seed of weights, batch order and dropout", low=0, high=MAX_SEED)
    device: str = option("auto", "auto, cpu or cuda (cuda:N for one GPU)")
    # bfloat16 autocast of the forward pass on CUDA (no loss scaling needed); the CPU
    # ignores it: its float32 kernels were faster than bfloat16 for these small nets.
    amp: bool = option(False, "mixed precision (bfloat16) on CUDA; ignored on the CPU")
    # CPU threads while training; 0 leaves torch's own choice (all cores). One thread
    # trained the default LSTM (2 x 32, batch 256) 1.8x faster than two on 2 cores
    # (`rnnlab train`, sine and stock:A): small steps spend more on waking threads than
    # they save. hidden 128 / seq_len 100 gained 1.1x from two (benchmarks/README.md).
    threads: int = option(1, "CPU threads while training (0: all cores; 1 is fastest for "
                          "small models)", low=0, high=1024)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "training": TrainConfig}


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
        if not isinstance(raw, dict):
            raise ConfigError(f"a run config must be a JSON object with sections "
                              f"{', '.join(SECTIONS)}, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise ConfigError(
                f"unknown config section {unknown[0]!r}; sections are {', '.join(SECTIONS)}"
            )
        return cls(**{name: build(section, raw.get(name) or {})
                      for name, section in SECTIONS.items()})

    def check(self) -> None:
        """Refuse any out-of-range value by name, before a run starts or a file is written."""
        check(self.data)
        check(self.model)
        check(self.training)


def param_names() -> dict[str, type]:
    """Every tunable parameter name across the sections, mapped to its section."""
    return {f.name: cls for cls in SECTIONS.values() for f in fields(cls) if f.name != "source"}


def from_flat(values: dict) -> RunConfig:
    """A RunConfig from flat parameter names (``seq_len=10``), refusing unknown names.

    Examples
    --------
    >>> from_flat({"seq_len": 10, "lr": 0.01}).model.seq_len
    10
    """
    valid = param_names()
    sections: dict[str, dict] = {name: {} for name in SECTIONS}
    section_of = {cls: name for name, cls in SECTIONS.items()}
    for name, value in values.items():
        if name not in valid:
            raise ConfigError(unknown_parameter(name))
        sections[section_of[valid[name]]][name] = value
    return RunConfig.from_dict(sections)


def read_run_file(folder: str | Path) -> dict:
    """A run's config.json as a dict whose data, model and training sections are objects.

    Read only as a regular file: a FIFO in its place is refused at once, never waited on.
    """
    path = Path(folder) / "config.json"
    try:
        raw = read_json(path)  # a FIFO, a 20 GB file or 200,000 brackets: one line
    except FileNotFoundError:
        raise ConfigError(f"'{folder}' holds no config.json, so it is no rnnlab run; give the "
                          "--out or --run folder of rnnlab train") from None
    except OSError as exc:
        raise ConfigError(f"cannot read '{path}' ({exc.strerror or exc}); restore it from a "
                          "copy, or start a new run with another --out") from None
    if not isinstance(raw, dict):
        problem = f"it holds {json.dumps(raw)[:40]}, not a JSON object"
    else:
        bad = [k for k in SECTIONS if not isinstance(raw.get(k), dict)]
        problem = bad and (f"its {bad[0]!r} section is "
                           f"{'missing' if bad[0] not in raw else json.dumps(raw[bad[0]])[:40]}"
                           ", not an object of settings")
    if problem:
        raise ConfigError(f"'{path}' is not an rnnlab run config: {problem}; it was edited "
                          "or damaged: train the run again")
    return raw


def load_run_config(folder: str | Path) -> RunConfig:
    """The resolved config that `rnnlab train` saved in a run directory's config.json."""
    raw = read_run_file(folder)
    try:
        config = RunConfig.from_dict({k: raw[k] for k in SECTIONS})
        config.check()  # the rules of the command line: a val_fraction of 2 never loops
        return config
    except ConfigError as exc:
        raise ConfigError(f"'{Path(folder) / 'config.json'}' is not a valid run config ({exc});"
                          " it was edited or damaged: train the run again") from None


def build(section_cls: type, values: dict):
    """Instantiate one config section from a dict, checking each key and type."""
    if not isinstance(values, dict):
        raise ConfigError(f"config section {section_cls.__name__} must be an object of "
                          f"parameters, got {values!r}")
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


def check(section) -> None:
    """Check every value of one config section against the type and the rules declared on
    its field (the Python API passes values as given: seq_len="30" or hidden_size=True are
    refused here, as the command line refuses them when it reads its text)."""
    hints = typing.get_type_hints(type(section))
    for f in fields(section):
        value = getattr(section, f.name)
        _check_type(f.name, value, hints[f.name])
        rules = f.metadata
        if value is None or isinstance(value, bool) or not rules:
            continue
        if rules["choices"] is not None:
            check_choice(f.name, value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{f.name} must be a finite number, got {value}")
        if isinstance(value, int | float):
            _check_range(f.name, value, rules)
    if isinstance(section, DataConfig):
        for name in ("val_fraction", "test_fraction"):
            share = getattr(section, name)
            if 0 < share < MIN_SHARE:
                zero = "0 (none) or " if name == "val_fraction" else ""
                raise ConfigError(f"{name} must be {zero}at least {MIN_SHARE:g}, got {share:g}: "
                                  "no series is long enough for that share to hold a row; "
                                  "pass e.g. 0.1")
    if isinstance(section, DataConfig) and section.val_fraction + section.test_fraction >= 0.9:
        raise ConfigError(
            f"val_fraction + test_fraction = {section.val_fraction + section.test_fraction:g} "
            "leaves under 10% for training; lower one of them")
    if isinstance(section, ModelConfig):
        pool_families(section.candidates)
    if isinstance(section, ModelConfig) and section.model == PRETRAINED \
            and (section.features or section.calendar):
        raise ConfigError("the pretrained net reads the target alone, not --features or "
                          "--calendar; drop them, or choose a model trained here (--model lstm)")
    if isinstance(section, ModelConfig) and section.features and section.horizon > 1 \
            and section.strategy == "recursive":
        raise ConfigError("features other than --calendar are unknown after the forecast "
                          "origin: use --strategy direct")
    if isinstance(section, TrainConfig):
        _check_device(section.device)


# Fields whose text is a comma list: the Python API may pass the list itself.
LIST_FIELDS = ("features",)


def _check_type(name: str, value, hint) -> None:
    allowed = typing.get_args(hint) or (hint,)
    if value is None and type(None) in allowed:
        return
    if bool in allowed:
        fits = isinstance(value, bool)
    elif isinstance(value, bool):
        fits = False  # True is an int to Python, never a size or a rate to rnnlab
    elif int in allowed:
        fits = isinstance(value, numbers.Integral)
    elif float in allowed:
        fits = isinstance(value, numbers.Real)
    else:
        fits = isinstance(value, str) or (name in LIST_FIELDS and isinstance(value, list | tuple)
                                           and all(isinstance(v, str) for v in value))
    if not fits:
        names = " or ".join("None" if k is type(None) else k.__name__ for k in allowed)
        kind = names.split(" or ")[0]
        raise ConfigError(f"parameter {name!r} must be {names}, got {value!r} (of type "
                          f"{type(value).__name__}); pass {'an' if kind == 'int' else 'a'} "
                          f"{kind}")


def pool_families(candidates: str) -> tuple[str, ...]:
    """The families a `candidates` setting names (all for ``auto``), or a ConfigError.

    >>> pool_families("ets, net")
    ('ets', 'net')
    """
    if not isinstance(candidates, str) or candidates.strip().lower() == "auto":
        return POOL_FAMILIES
    names = tuple(dict.fromkeys(p.strip().lower() for p in candidates.split(",") if p.strip()))
    for name in names:
        if name not in POOL_FAMILIES:
            close = difflib.get_close_matches(name, POOL_FAMILIES, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown candidate family {name[:40]!r} in candidates; valid "
                              f"ones are auto or {', '.join(POOL_FAMILIES)}{hint}")
    if not names:
        raise ConfigError("candidates names no family; use auto or a comma list of "
                          f"{', '.join(POOL_FAMILIES)}")
    return names


def _check_range(name: str, value, rules) -> None:
    low, high, above, below = rules["low"], rules["high"], rules["above"], rules["below"]
    if low is not None and value < low:
        rule = "0 or more" if low == 0 else f"at least {_number(low)}"
    elif above is not None and value <= above:
        rule = "positive" if above == 0 else f"above {_number(above)}"
    elif high is not None and value > high:
        rule = f"at most {_number(high)}"
    elif below is not None and value >= below:
        rule = f"below {_number(below)}"
    else:
        return
    raise ConfigError(f"{name} must be {rule}, got {_number(value)}")


def _number(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def unknown_parameter(name: str, what: str = "") -> str:
    """The message for a parameter name no config field has: the valid names, and the
    closest one (seqlen: seq_len).

    >>> unknown_parameter("seqlen", " to sweep").split("; ")[-1]
    'did you mean seq_len?'
    """
    valid = sorted(param_names())
    lowered = {v.replace("_", ""): v for v in valid}
    close = difflib.get_close_matches(name.lower(), valid, n=1, cutoff=0.6) or \
        difflib.get_close_matches(name.lower().replace("_", "").replace("-", ""),
                                  list(lowered), n=1, cutoff=0.8)
    hint = f"; did you mean {lowered.get(close[0], close[0])}?" if close else ""
    return f"unknown parameter {name!r}{what}; valid names are {', '.join(valid)}{hint}"


def check_choice(name: str, value: str) -> None:
    """Refuse a value outside a field's choices, listing them (and the closest one)."""
    choices = _choices(name) or ()
    if value in choices:
        return
    close = difflib.get_close_matches(str(value).lower(), choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    kind = name.split("_")[-1]
    shown = repr(value if len(str(value)) <= 40 else str(value)[:40] + "...")  # one short line
    raise ConfigError(f"unknown {name} {shown}; valid {kind}s are {', '.join(choices)}{hint}")


def _check_device(name: str) -> None:
    if name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit()):
        return
    shown = repr(name if len(name) <= 40 else name[:40] + "...")
    raise ConfigError(f"unknown device {shown}; use auto, cpu, cuda or cuda:N")


def coerce(name: str, value, hint):
    """Check (and for strings from the command line, convert) one value against its type.

    A name among a field's choices is matched without regard to case (``LSTM`` is lstm).
    """
    allowed = typing.get_args(hint) or (hint,)
    if value is None and type(None) in allowed:
        return None
    if isinstance(value, str) and str not in allowed:
        value = _parse_text(name, value, allowed)
        if value is None:  # "none" for seq_len: chosen per series
            return None
    if isinstance(value, str):
        choices = _choices(name)
        if choices and value not in choices and value.strip().lower() in choices:
            value = value.strip().lower()
    for kind in allowed:
        if kind is type(None):
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
    names = " or ".join("None" if k is type(None) else k.__name__ for k in allowed)
    raise ConfigError(f"parameter {name!r} must be {names}, got {value!r}")


def _choices(name: str) -> tuple[str, ...] | None:
    for section in SECTIONS.values():
        for f in fields(section):
            if f.name == name:
                return f.metadata.get("choices")
    return None


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
