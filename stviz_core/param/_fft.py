"""The spectral fields' real FFTs over ``(t, y, x)``, split over the run's threads for numpy arrays.

numpy's FFT runs one thread, and under the Keras backend it runs between TensorFlow's
calls, while TensorFlow's threads wait (issue 27: on the canvas preset's field the FFT
pair was a third of a step's host work). :func:`irfftn` and :func:`rfftn` do what
``xp.fft.irfftn`` / ``xp.fft.rfftn`` with ``norm="ortho"`` do, one axis after another
as numpy does them (complex transforms over the leading axes, the real one over the
last), and on numpy arrays each axis's lines are split into :data:`workers` blocks along
an axis it does not transform, run in a thread pool (numpy's FFT releases the GIL). Each
line is transformed by the same code either way, so the result is the same, bit for bit,
for any number of threads. Other namespaces (PyTorch's FFT is multi-threaded) call their
own ``xp.fft``.

:func:`set_workers` is called by :func:`stviz_core.threads.apply` with the run's threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["set_workers", "workers", "rfftn", "irfftn"]

#: below this many numbers per transform the pool's hand-off costs more than it saves
_SMALL = 1 << 16

_state = {"workers": 1, "pool": None}
_lock = threading.Lock()


def set_workers(count: int) -> None:
    """Split numpy FFTs over ``count`` threads (1: numpy's own single-threaded call)."""
    _state["workers"] = max(1, int(count))


def workers() -> int:
    """The threads numpy FFTs are split over."""
    return _state["workers"]


def _pool(count):
    with _lock:
        pool = _state["pool"]
        if pool is None or pool._max_workers < count:
            if pool is not None:
                pool.shutdown(wait=False)
            pool = _state["pool"] = ThreadPoolExecutor(count, thread_name_prefix="stviz-fft")
        return pool


def _split(x):
    return workers() > 1 and isinstance(x, np.ndarray) and x.size >= _SMALL


def _blocks(transform, x, axis, along, size=None):
    """``transform`` (an ``np.fft`` function, ortho) over ``axis`` of ``x``, split along ``along``."""
    shape = list(x.shape)
    if transform is np.fft.rfft:
        shape[axis] = x.shape[axis] // 2 + 1
    elif size is not None:
        shape[axis] = size
    out_dtype = np.result_type(x.dtype, np.complex64) if transform is not np.fft.irfft else \
        np.empty(0, x.dtype).real.dtype
    out = np.empty(shape, dtype=out_dtype)
    edges = np.linspace(0, x.shape[along], workers() + 1).astype(int)
    index = [slice(None)] * x.ndim

    def run(lo, hi):
        index_here = list(index)
        index_here[along] = slice(lo, hi)
        part = tuple(index_here)
        transform(x[part], n=size, axis=axis, norm="ortho", out=out[part])

    futures = [_pool(workers()).submit(run, lo, hi) for lo, hi in zip(edges[:-1], edges[1:])
               if hi > lo]
    for f in futures:
        f.result()
    return out


def rfftn(x, axes, xp):
    """``xp.fft.rfftn(x, axes=axes, norm="ortho")``."""
    if not _split(x):
        return xp.fft.rfftn(x, axes=axes, norm="ortho")
    out = _blocks(np.fft.rfft, x, axes[-1], _along(x, axes, axes[-1]))
    for axis in reversed(axes[:-1]):
        out = _blocks(np.fft.fft, out, axis, _along(out, axes, axis))
    return out


def irfftn(x, s, axes, xp):
    """``xp.fft.irfftn(x, s=s, axes=axes, norm="ortho")``."""
    if not _split(x):
        return xp.fft.irfftn(x, s=s, axes=axes, norm="ortho")
    out = x
    for axis, size in zip(axes[:-1], s[:-1]):
        out = _blocks(np.fft.ifft, out, axis, _along(out, axes, axis), size)
    return _blocks(np.fft.irfft, out, axes[-1], _along(out, axes, axes[-1]), s[-1])


def _along(x, axes, axis):
    """The axis to split a transform over ``axis`` along: the longest other one."""
    others = [a for a in range(x.ndim) if a != axis]
    return max(others, key=lambda a: x.shape[a])
