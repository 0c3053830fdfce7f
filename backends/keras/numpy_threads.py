"""numpy's BLAS threads while a Keras run computes its kernel on the host (issue 27).

The Keras backend keeps the kernel's arrays in numpy (:mod:`.backend`), so the kernel's
matrix products (the transforms' hat-weight matrices, the colour mixing) run in numpy's
BLAS between TensorFlow's calls. OpenBLAS, numpy's BLAS, starts its own threads for them
and keeps them spinning after each call, on the cores TensorFlow's next call needs; these
products are small. Measured on the real I3D's canvas crop (2 shared cores, load about 4):
one crop read 11-25 ms with OpenBLAS's 2 threads, 0.3-2.3 ms with one
(``benchmarks/RESULTS.md``, issue 27). :class:`BlasThreads` sets the count through
OpenBLAS's own C function in every OpenBLAS the process has loaded, numpy's first (OpenCV's
wheel brings a second copy; limiting only that one left numpy's threads spinning ~80 ms after
each large product, slowing TensorFlow's next call by a third), and gives the old counts back;
where no OpenBLAS is found (another BLAS, no ``/proc``) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

__all__ = ["BlasThreads", "KERNEL_BLAS_THREADS"]

#: numpy's BLAS threads during a run: its products are small and interleaved with TensorFlow's
KERNEL_BLAS_THREADS = 1

#: OpenBLAS's (get, set) functions, by the names its builds export (numpy's wheels: scipy_openblas64_)
_FUNCTIONS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
              ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
              ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
              ("openblas_get_num_threads", "openblas_set_num_threads"))


def _candidates() -> list:
    """Paths of the OpenBLAS libraries this process loaded (Linux), numpy's own first; else those
    in numpy's wheel."""
    root = os.path.dirname(os.path.dirname(np.__file__))
    wheel = [os.path.join(root, folder) for folder in ("numpy.libs", os.path.join("numpy", ".dylibs"))]
    paths = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                path = line.split()[-1] if line.strip() else ""
                if "openblas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    if not paths:
        for folder in wheel:
            paths += sorted(glob.glob(os.path.join(folder, "*openblas*")))
    return sorted(paths, key=lambda path: not any(path.startswith(f) for f in wheel))


def _functions() -> list:
    """Each loaded OpenBLAS's ``(get, set)`` C functions, numpy's first (other packages bring
    their own copies: OpenCV's wheel does, and limiting it alone left numpy's threads
    spinning beside TensorFlow's)."""
    found = []
    for path in _candidates():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _FUNCTIONS:
            get, put = getattr(library, get_name, None), getattr(library, set_name, None)
            if get is not None and put is not None:
                get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                found.append((get, put))
                break
    return found


class BlasThreads:
    """numpy's OpenBLAS thread count (and that of every other OpenBLAS the process loaded):
    :meth:`limit` for a run, :meth:`restore` after it.

    :attr:`available` is False where no OpenBLAS was found (nothing is changed then).
    """

    _found = None  # the libraries' (get, set) functions, numpy's first, looked up once per process

    def __init__(self):
        if BlasThreads._found is None:
            BlasThreads._found = _functions()
        self._before = None

    @property
    def available(self) -> bool:
        return bool(BlasThreads._found)

    def get(self):
        """numpy's OpenBLAS thread count, or None where it was not found."""
        return int(BlasThreads._found[0][0]()) if self.available else None

    def limit(self, n: int = KERNEL_BLAS_THREADS) -> dict:
        """Set ``n`` threads in every OpenBLAS (the counts before kept for :meth:`restore`); a
        record for ``describe()["threads"]["numpy_blas"]``."""
        if not self.available:
            return {"threads": None, "applied": False,
                    "note": "numpy's BLAS is not an OpenBLAS this process could reach"}
        before = [int(get()) for get, _ in BlasThreads._found]
        for (_, put), count in zip(BlasThreads._found, before):
            if count != n:
                put(int(n))
        if self._before is None and any(count != n for count in before):
            self._before = before
        return {"threads": self.get(), "applied": self.get() == n, "before": before[0],
                "libraries": len(before)}

    def restore(self) -> None:
        """Give each OpenBLAS back the count it had before :meth:`limit` (nothing if unchanged)."""
        if self._before is not None and self.available:
            for (_, put), count in zip(BlasThreads._found, self._before):
                put(int(count))
        self._before = None
