"""Load every S&P 500 file in ../shared/data/sandp500 and count what happens.

For each target column (close, the default, and open) it prints how many files load, how
many are refused and why, which ones needed gaps filled or rows dropped, and which loaded
series are too short for the default training split (seq_len 30, 70/10/20).

    .venv/bin/python benchmarks/sandp500_scan.py
    .venv/bin/python benchmarks/sandp500_scan.py --folder PATH/individual_stocks_5yr
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter, defaultdict
from pathlib import Path

from rnnlab.config import DataConfig, ModelConfig
from rnnlab.data import load_series
from rnnlab.errors import RnnlabError
from rnnlab.windows import split_sizes

DEFAULT_FOLDER = (Path(__file__).resolve().parents[2] / "shared" / "data" / "sandp500"
                  / "individual_stocks_5yr")


class Notes(logging.Handler):
    """Collects rnnlab's notes (filled gaps, dropped rows) for the file being read."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def scan(folder: Path, target: str | None) -> dict:
    """Outcome per file: loaded (with rows, notes, long enough) or refused (with reason)."""
    notes = Notes()
    log = logging.getLogger("rnnlab")
    log.addHandler(notes)
    log.setLevel(logging.INFO)
    outcomes = {}
    try:
        for path in sorted(folder.glob("*.csv")):
            notes.messages.clear()
            try:
                series = load_series(str(path), target=target)
            except RnnlabError as exc:
                outcomes[path.name] = {"refused": str(exc)}
                continue
            try:
                split_sizes(len(series), ModelConfig.seq_len, DataConfig.val_fraction,
                            DataConfig.test_fraction, name=path.name)
                trainable = ""
            except RnnlabError as exc:
                trainable = str(exc)
            outcomes[path.name] = {"rows": len(series), "notes": list(notes.messages),
                                   "too_short": trainable}
    finally:
        log.removeHandler(notes)
    return outcomes


def report(outcomes: dict, label: str) -> None:
    loaded = {k: v for k, v in outcomes.items() if "rows" in v}
    refused = {k: v for k, v in outcomes.items() if "refused" in v}
    print(f"\n--target {label}: {len(outcomes)} files, {len(loaded)} loaded, "
          f"{len(refused)} refused")
    reasons = Counter(v["refused"].split(";")[0].split(" in '")[0] for v in refused.values())
    for reason, count in reasons.most_common():
        print(f"  refused x{count}: {reason}")
    for name, v in refused.items():
        print(f"    {name}: {v['refused']}")
    by_note = defaultdict(list)
    for name, v in loaded.items():
        for note in v["notes"]:
            kind = "filled" if "filled" in note else "dropped" if "dropped" in note else "other"
            by_note[kind].append(f"{name.split('_')[0]} ({note.split(': ', 1)[-1]})")
    for kind, names in sorted(by_note.items()):
        print(f"  loaded after {kind} rows x{len(names)}:")
        for entry in names:
            print(f"    {entry}")
    short = {k: v for k, v in loaded.items() if v["too_short"]}
    print(f"  long enough for default training: {len(loaded) - len(short)}; too short: "
          f"{len(short)}")
    for name, v in short.items():
        print(f"    {name}: {v['too_short']}")
    rows = sorted(v["rows"] for v in loaded.values())
    if rows:
        print(f"  rows per loaded file: min {rows[0]}, median {rows[len(rows) // 2]}, "
              f"max {rows[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    args = parser.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"no folder {args.folder}; pass --folder")
    for target, label in ((None, "close (default)"), ("open", "open")):
        start = time.perf_counter()
        outcomes = scan(args.folder, target)
        report(outcomes, label)
        print(f"  scanned in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
