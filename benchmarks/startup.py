"""What a fresh `rnnlab` process spends outside training: the start-up breakdown.

    .venv/bin/python benchmarks/startup.py                   # this checkout, median of 5
    .venv/bin/python benchmarks/startup.py --repeats 9 --top 20
    .venv/bin/python benchmarks/startup.py --src /other/checkout/src --src src  # before/after

Each repeat runs, each in a fresh process and in this order, `python -c "import torch"`,
`rnnlab train --data sine --out TMP`, `rnnlab forecast --run TMP --horizon 10` and
`rnnlab --help`, so the torch import it is compared with is timed beside it, under the same
load. Printed per command, medians over the repeats: wall seconds, CPU seconds (user +
system, what the wall time would be on an idle machine for one thread), and for train the
`train_seconds` from metrics.json, wall minus training, and that over `import torch`'s
wall time: issue 12 asks for no more than 1.5. One more train run under
`python -X importtime` lists the costliest imports it made (the imports' own time, at the
level where each was first asked for: a function's late `import x` is a top entry).
The load average (`uptime`) is printed before and after: on a busy machine wall times
mostly measure the other processes, so copies compared with `--src A --src B` run in
turn within each repeat, under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = "import sys; from rnnlab.cli import main; sys.argv[0] = 'rnnlab'; main()"


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh process; fails loudly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def top_imports(stderr: str, top: int) -> list[tuple[float, str]]:
    """The costliest imports in `-X importtime` output, as (cumulative seconds, name),
    largest first: each entry that is a top-level import (a function's late `import x`)
    or the first import of a package from another package (torch under rnnlab);
    the standard library left out."""
    entries = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            _, cumulative, name = line[len("import time:"):].split("|")
            if cumulative.strip().isdigit():
                depth = (len(name) - len(name.lstrip()) - 1) // 2
                entries.append((depth, int(cumulative) / 1e6, name.strip()))
    found, parents = [], []  # parents[d]: the enclosing entry's package at depth d
    for depth, seconds, name in reversed(entries):  # a parent is printed after its children
        package = name.split(".")[0]
        del parents[depth:]
        if package in sys.stdlib_module_names:
            pass
        elif depth == 0 or parents[-1] != package:
            where = f" (under {parents[-1]})" if depth else ""
            found.append((seconds, name + where))
        parents.append(package)
    return sorted(found, reverse=True)[:top]


def measure(src: str, run: Path, data: str) -> tuple[dict, float]:
    """One repeat for one source folder: {command: (wall, cpu)} and train's train_seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    times = {label: timed(command, env) for label, command in commands(run, data).items()}
    return times, json.loads((run / "metrics.json").read_text())["train_seconds"]


def commands(run: Path, data: str) -> dict[str, list[str]]:
    python = [sys.executable]
    return {
        "import torch": python + ["-c", "import torch"],
        "train": python + ["-c", CLI, "-q", "train", "--data", data, "--out", str(run),
                           "--overwrite"],
        "forecast": python + ["-c", CLI, "forecast", "--run", str(run), "--horizon", "10"],
        "--help": python + ["-c", CLI, "--help"],
    }


def report(src: str, runs: list[tuple[dict, float]], profiled: str, data: str,
           top: int) -> None:
    median = statistics.median
    walls = {label: [times[label][0] for times, _ in runs] for label in runs[0][0]}
    cpus = {label: [times[label][1] for times, _ in runs] for label in runs[0][0]}
    trained = [seconds for _, seconds in runs]
    torch_s = median(walls["import torch"])
    outside = median(w - t for w, t in zip(walls["train"], trained, strict=True))
    print(f"\n== rnnlab from {src}: medians of {len(runs)}")
    print(f"{'command':<14}{'wall s':>8}{'cpu s':>8}")
    for label in walls:
        print(f"{label:<14}{median(walls[label]):>8.2f}{median(cpus[label]):>8.2f}")
    print(f"train --data {data}: train_seconds {median(trained):.2f}, wall minus training "
          f"{outside:.2f} s = {outside / torch_s:.2f} x import torch ({torch_s:.2f} s; the "
          "goal is <= 1.5)")
    print("costliest imports of one train run (-X importtime, seconds):")
    for seconds, name in top_imports(profiled, top):
        print(f"  {seconds:6.2f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=12, help="import costs to list")
    parser.add_argument("--src", action="append",
                        help="an rnnlab source folder the commands import; repeat it to "
                             "compare copies, run in turn within each repeat (default: this "
                             "checkout's)")
    parser.add_argument("--data", default="sine", help="train --data (default sine)")
    args = parser.parse_args()
    sources = [str(Path(src).resolve()) for src in args.src or [Path(__file__).parents[1] / "src"]]

    print(f"{args.repeats} repeats; {load_average()}", flush=True)
    runs: dict[str, list] = {src: [] for src in sources}
    profiled = {}
    with tempfile.TemporaryDirectory() as tmp:
        # One run folder per source: a newer rnnlab replaces only runs that carry its marker.
        folders = {src: Path(tmp) / f"run{n}" for n, src in enumerate(sources)}
        for i in range(args.repeats):
            for n, src in enumerate(sources):
                times, trained = measure(src, folders[src], args.data)
                runs[src].append((times, trained))
                print(f"  repeat {i + 1}, source {n + 1}: " + ", ".join(
                    f"{label} {wall:.2f} s" for label, (wall, _) in times.items()), flush=True)
        for src in sources:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                p for p in (src, os.environ.get("PYTHONPATH")) if p)}
            profiled[src] = subprocess.run(
                [sys.executable, "-X", "importtime"]
                + commands(folders[src], args.data)["train"][1:],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                timeout=600).stderr
    print(f"\nafter the runs: {load_average()}")
    for src in sources:
        report(src, runs[src], profiled[src], args.data, args.top)


if __name__ == "__main__":
    main()
