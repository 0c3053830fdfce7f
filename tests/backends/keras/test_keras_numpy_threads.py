"""numpy's BLAS runs one thread during a Keras run and gets its count back at close (issue 27)."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from stviz_backends.keras.numpy_threads import KERNEL_BLAS_THREADS, BlasThreads  # noqa: E402


def test_limit_sets_the_count_and_restore_gives_the_old_one_back():
    blas = BlasThreads()
    if not blas.available:
        assert blas.limit()["applied"] is False  # nothing changed, and said so
        return
    before = blas.get()
    record = blas.limit(KERNEL_BLAS_THREADS)
    assert record == {"threads": KERNEL_BLAS_THREADS, "applied": True, "before": before,
                      "libraries": len(BlasThreads._found)}
    assert blas.get() == KERNEL_BLAS_THREADS
    product = np.ones((64, 64), np.float32) @ np.ones((64, 64), np.float32)  # still computes
    assert float(product[0, 0]) == 64.0
    blas.restore()
    assert blas.get() == before


def test_a_keras_run_records_numpy_blas_threads_and_restores_them():
    pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    import stviz_core as sv

    from tests.backends.keras.test_keras_backend import small_two_stream

    blas = BlasThreads()
    before = blas.get()
    result = sv.visualize(small_two_stream(), "conv5_fusion", channels=[0], steps=1,
                          preset="paper")
    record = result.config["backend_details"]["threads"]["numpy_blas"]
    if blas.available:
        assert record["threads"] == KERNEL_BLAS_THREADS and record["applied"] is True
    else:
        assert record["applied"] is False and record["note"]
    assert blas.get() == before  # visualize closed the backend: the count is given back


def test_numpy_s_own_openblas_comes_first_and_every_other_one_is_limited_too():
    """OpenCV's wheel loads its own OpenBLAS: limiting that one alone left numpy's threads
    spinning beside TensorFlow's (a Keras I3D step 110 -> 147 ms after one numpy product)."""
    pytest.importorskip("cv2")  # a second OpenBLAS in the process, where OpenCV is installed
    from stviz_backends.keras import numpy_threads

    paths = numpy_threads._candidates()
    root = os.path.dirname(os.path.dirname(np.__file__))
    own = [p for p in paths if p.startswith(os.path.join(root, "numpy.libs"))]
    if own:
        assert paths[0] == own[0]
    numpy_threads.BlasThreads._found = None  # look again, with OpenCV's library loaded
    blas = BlasThreads()
    if not blas.available:
        return
    blas.limit(KERNEL_BLAS_THREADS)
    try:
        assert all(get() == KERNEL_BLAS_THREADS for get, _ in BlasThreads._found)
    finally:
        blas.restore()
