"""Small numpy problems run on one BLAS thread.

The statistics that choose a window, a scaler and a baseline (ADF's regressions, KPSS,
the least-squares linear part) are matrices of a few thousand rows by a few dozen columns.
OpenBLAS splits each product over every core; on a busy 2-core machine its threads then
wait for each other, and `rnnlab inspect --data delay` took 20 s instead of 3 s. One thread
does these sizes as fast on an idle machine and far faster on a busy one.

    rnnlab inspect --data delay   # about 2 s on 2 cores, busy or not
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading

from threadpoolctl import ThreadpoolController

_held = threading.local()  # how deep this thread is inside one_blas_thread
# (modules imported when made, controller): finding the libraries is the cost
_controller: list[tuple[int, ThreadpoolController]] = []


def _blas() -> ThreadpoolController:
    """The BLAS libraries loaded now, found again only after an import: a search of the
    process's libraries took about 2 ms, a tenth of a series' pool on a panel when it ran
    on every call, and a library comes only with a module (scipy brings a BLAS of its own
    after numpy's; one found before it would leave it on every core)."""
    modules = len(sys.modules)
    if not _controller or _controller[0][0] != modules:
        _controller[:] = [(modules, ThreadpoolController().select(user_api="blas"))]
    return _controller[0][1]


@contextlib.contextmanager
def one_blas_thread():
    """Run the block with one BLAS thread, then restore the count it had.

    Nested blocks cost nothing: only the outermost one sets the count.

    >>> import numpy as np
    >>> with one_blas_thread():
    ...     float(np.linalg.svd(np.eye(3), compute_uv=False).sum())
    3.0
    """
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    _held.depth = 1
    try:
        with _blas().limit(limits=1):
            yield
    finally:
        _held.depth = 0


def on_one_blas_thread(func):
    """Decorate `func` to run inside `one_blas_thread`."""

    @functools.wraps(func)
    def limited(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)

    return limited
