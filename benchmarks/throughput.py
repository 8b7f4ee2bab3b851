"""Training throughput and peak memory: rnnlab's loop beside a raw PyTorch loop.

Both train the same network (nn.RNN / LSTM / GRU, 2 layers, + Linear head) on the same
series tensor with the same step: batch 256 drawn by a random permutation, MSE, Adam at
rnnlab's default lr, gradient norm clipped at 1. The raw loop is what one writes with no
framework: windows materialised once as an (n, seq_len, 1) tensor, indexed per batch.
rnnlab's loop is `rnnlab.train.train` on `Windows` views, validation off, so both count
only training work.

    .venv/bin/python benchmarks/throughput.py --models lstm --sizes 32x30
    .venv/bin/python benchmarks/throughput.py --models lstm --sizes 32x30 --features 5

``--features F`` feeds F input columns per step (the target and F - 1 outside features,
as `rnnlab train --features` does): rnnlab unfolds one (n, F) tensor, the raw loop
materialises (n, seq_len, F).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import math
import os
import re
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import ModelConfig, TrainConfig
from rnnlab.models import build_model
from rnnlab.train import train
from rnnlab.windows import Windows

BATCH_SIZE = 256
NUM_LAYERS = 2
N_WINDOWS = BATCH_SIZE * 8  # windows per epoch: 8 steps
SIZES = ((32, 30), (32, 100), (128, 30), (128, 100))  # (hidden_size, seq_len)
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# Enough timed work per measurement that timer and scheduler noise stay small.
MIN_SECONDS = 1.0


@dataclass
class Cell:
    model: str
    hidden_size: int
    seq_len: int
    rnnlab_wps: float  # windows per second, median
    raw_wps: float
    ratio: float  # median rnnlab windows/s over median raw windows/s
    rnnlab_peak_mib: float
    raw_peak_mib: float


# Where both loops train: `--device cuda` for the GPU run of benchmarks/gpu.sh.
DEVICE = torch.device("cpu")
# Input columns per step (`--features`): 1 is the target alone.
N_FEATURES = 1


def series(seq_len: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    if N_FEATURES > 1:  # (n, F), the target first
        return torch.randn(N_WINDOWS + seq_len, N_FEATURES, generator=gen).to(DEVICE)
    return torch.randn(N_WINDOWS + seq_len, generator=gen).to(DEVICE)  # (n,)


def _sync() -> None:
    if DEVICE.type == "cuda":  # kernels run asynchronously: time them to their end
        torch.cuda.synchronize()


def rnnlab_loop(model: str, hidden_size: int, seq_len: int, epochs: int) -> None:
    z = series(seq_len)
    torch.manual_seed(0)
    net = build_model(ModelConfig(model=model, seq_len=seq_len, hidden_size=hidden_size,
                                  num_layers=NUM_LAYERS), N_FEATURES).to(DEVICE)
    windows = Windows(z, seq_len, seq_len, len(z), relative=False)
    train([net], windows, None, TrainConfig(epochs=epochs, device=str(DEVICE)), progress=False)
    _sync()


def raw_loop(model: str, hidden_size: int, seq_len: int, epochs: int) -> None:
    z = series(seq_len).reshape(N_WINDOWS + seq_len, N_FEATURES)
    torch.manual_seed(0)
    # (n, seq_len, F)
    x_all = z.unfold(0, seq_len, 1)[:N_WINDOWS].transpose(1, 2).contiguous()
    y_all = z[seq_len:, 0].contiguous()  # (n,)
    rnn = CELLS[model](N_FEATURES, hidden_size, NUM_LAYERS, batch_first=True).to(DEVICE)
    head = nn.Linear(hidden_size, 1).to(DEVICE)
    params = [*rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=TrainConfig.lr)
    for _ in range(epochs):
        for idx in torch.randperm(N_WINDOWS, device=DEVICE).split(BATCH_SIZE):
            opt.zero_grad(set_to_none=True)
            out, _ = rnn(x_all[idx])
            loss = F.mse_loss(head(out[:, -1]).squeeze(-1), y_all[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(params, TrainConfig.clip_grad_norm)
            opt.step()
    _sync()


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        return int(re.search(rf"{key}:\s+(\d+) kB", fh.read()).group(1))


def peak_mib(run) -> float:
    """Peak resident memory that `run()` adds above the level before it, in MiB.

    Freed memory is handed back to the OS first and the kernel's high-water mark is reset
    (Linux), so the figure is this run's own peak; NaN where that is not possible.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before = _status_kib("VmRSS")
    except OSError:
        run()
        return math.nan
    run()
    return (_status_kib("VmHWM") - before) / 1024


def warm_up() -> None:
    """Load what the first optimizer and first RNN call load, so no cell pays for it."""
    for loop in (rnnlab_loop, raw_loop):
        for model in CELLS:
            loop(model, 8, 4, 1)


def measure(model: str, hidden_size: int, seq_len: int, repeats: int = 3) -> Cell:
    """Median windows/s of both loops, measured alternately, and each one's peak memory."""
    loops = {"rnnlab": rnnlab_loop, "raw": raw_loop}
    peaks = {}
    for name, loop in loops.items():  # also the warm-up; the raw loop's time sets the epochs
        started = time.perf_counter()
        peaks[name] = peak_mib(lambda f=loop: f(model, hidden_size, seq_len, 1))
        seconds = time.perf_counter() - started
    epochs = max(1, math.ceil(MIN_SECONDS / seconds))
    speeds: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeats):
        for name, loop in loops.items():
            started = time.perf_counter()
            loop(model, hidden_size, seq_len, epochs)
            speeds[name].append(epochs * N_WINDOWS / (time.perf_counter() - started))
    # Medians first: a load spike from another process then costs one run, not a ratio.
    rnnlab_wps, raw_wps = statistics.median(speeds["rnnlab"]), statistics.median(speeds["raw"])
    return Cell(model, hidden_size, seq_len, rnnlab_wps, raw_wps, rnnlab_wps / raw_wps,
                peaks["rnnlab"], peaks["raw"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(CELLS))
    parser.add_argument("--sizes", default=",".join(f"{h}x{s}" for h, s in SIZES),
                        help="hidden_size x seq_len, comma separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads [default: torch's]")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--features", type=int, default=1,
                        help="input columns per step: the target and F - 1 features")
    args = parser.parse_args()
    global DEVICE, N_FEATURES
    DEVICE = torch.device(args.device)
    N_FEATURES = args.features
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"batch {BATCH_SIZE}, {NUM_LAYERS} layers, {N_WINDOWS} windows/epoch, "
          f"{torch.get_num_threads()} threads, device {DEVICE}, {N_FEATURES} input "
          f"column(s), load average {os.getloadavg()[0]:.2f}")
    warm_up()
    for size in args.sizes.split(","):
        hidden_size, seq_len = (int(v) for v in size.split("x"))
        for model in args.models.split(","):
            c = measure(model, hidden_size, seq_len, args.repeats)
            print(f"{model:4s} hidden {hidden_size:3d} seq_len {seq_len:3d}: rnnlab "
                  f"{c.rnnlab_wps:8.0f} w/s, raw {c.raw_wps:8.0f} w/s, ratio {c.ratio:.2f}; "
                  f"peak {c.rnnlab_peak_mib:.1f} vs {c.raw_peak_mib:.1f} MiB; load average "
                  f"{os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
