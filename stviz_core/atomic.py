"""Writing files so that a reader never sees half of one: a temporary name beside the target, then a rename.

The one atomic writer of stviz: results, media, sweep cells and reports all go
through :func:`atomic_path` (or :func:`atomic_write` for bytes in memory).
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "safe_name", "stale_temporaries", "TEMP_MARK"]

#: every temporary name contains it (``.NAME.<random>.tmp.SUFFIX``), so strays can be found
TEMP_MARK = ".tmp"


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The temporary name keeps the suffix, so writers that pick a format from it
    (imageio, matplotlib, numpy) still do. The file is flushed to disk before
    the rename and gets the permissions a plain ``open`` would give (the
    user's umask), not ``mkstemp``'s 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f"{TEMP_MARK}{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a plain open() would honour the umask
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def safe_name(name: str) -> str:
    """A file name made from any string (a layer, a result stem): letters, digits, ``.``, ``-``, ``_``
    kept, everything else ``_``, no leading dot; so it stays inside the folder it is joined to.

    >>> safe_name("/rgb.conv5_3 x'y")
    'rgb.conv5_3_x_y'
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", str(name)).lstrip("._")
    return cleaned or "_"


def stale_temporaries(path) -> list:
    """Temporary files that writes of ``path`` left behind when their process was killed."""
    path = Path(path)
    return sorted(path.parent.glob(f".{_glob_escape(path.name)}.*{TEMP_MARK}{path.suffix}"))


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
