"""One writer per output folder: an advisory lock file that names the process holding it.

Every command that writes a folder (``stviz visualize``, ``sweep``, ``invert``,
``accentuate``, ``record``, ``demo``, ``report``) holds :func:`lock_folder` on
it for the length of its run. The lock is the file ``.stviz-lock`` in the
folder, holding the owner's process id, host and command line, and, where the
platform has it, an exclusive ``flock`` on that file:

* a second run on a folder whose lock is held is refused with a
  :class:`FolderLocked` error that names the holder (pid, host, command, since when);
* a lock file left by a process that died (``kill -9``: the ``flock`` went with
  it, or, without ``flock``, no process of that id on this host) is taken over
  with a warning (:class:`StaleLockWarning`);
* :meth:`OutputLock.release` (or leaving the ``with`` block) removes the file.

Two runs of the same user on one machine cannot clobber each other's results;
the lock is advisory: tools that do not look at it are not stopped.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import warnings
from pathlib import Path

__all__ = ["LOCK_NAME", "OutputLock", "FolderLocked", "StaleLockWarning", "lock_folder"]

#: the lock file's name inside the locked folder (hidden: result and media globs skip it)
LOCK_NAME = ".stviz-lock"

try:  # POSIX: the kernel releases a flock when its process dies, so a dead holder is certain
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid check alone
    fcntl = None


class FolderLocked(RuntimeError):
    """Another live process holds the output folder's lock (the message names it)."""


class StaleLockWarning(UserWarning):
    """A lock file of a process that is gone was taken over."""


def _describe(owner: dict) -> str:
    since = owner.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    command = str(owner.get("command") or "?")
    command = command if len(command) <= 120 else command[:117] + "..."
    return f"process {owner.get('pid', '?')} on {owner.get('host', '?')} ({command}), since {when}"


def _read_owner(path: Path) -> dict:
    try:
        owner = json.loads(path.read_text())
        return owner if isinstance(owner, dict) else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}


def _alive(pid) -> bool:
    """Whether a process ``pid`` runs on this machine (unknown ids count as alive: refuse, not clobber)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process
        return True
    return True


class OutputLock:
    """The held lock of one folder; :meth:`release` gives it back (also at the end of ``with``)."""

    def __init__(self, folder: Path, name: str = LOCK_NAME):
        self.folder = Path(folder)
        self.path = self.folder / name
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "OutputLock":
        """Take the lock, or raise :class:`FolderLocked` naming its holder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(20):  # the file may be removed by its holder between open and flock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if self._try(fd):
                    return self
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise FolderLocked(f"output folder {self.folder} is locked ({self.path}) and its holder "
                           "keeps changing; try again")

    def _try(self, fd) -> bool:
        """Whether ``fd`` (the lock file, opened) is now ours; raises when a live process holds it."""
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise FolderLocked(f"output folder {self.folder} is in use by "
                                   f"{_describe(self._holder())}; wait for it to finish "
                                   "or choose another --out") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # its holder removed the file after we opened it: open the new one
                return False
        owner = _read_owner(self.path)
        if fcntl is None and owner.get("pid") not in (None, os.getpid()) \
                and owner.get("host") == socket.gethostname() and _alive(owner.get("pid")):
            raise FolderLocked(f"output folder {self.folder} is in use by {_describe(owner)}; "
                               "wait for it to finish or choose another --out")
        if owner.get("pid") is not None:
            warnings.warn(f"took over the lock of output folder {self.folder} left by "
                          f"{_describe(owner)}, which is gone", StaleLockWarning, stacklevel=4)
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                "command": " ".join(os.path.basename(a) if i == 0 else a
                                    for i, a in enumerate(sys.argv))}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(mine).encode())
        os.fsync(fd)
        self._fd = fd
        return True

    def _holder(self) -> dict:
        """The holder's record; a holder that has just taken the lock gets a moment to write it."""
        for _ in range(20):
            owner = _read_owner(self.path)
            if owner:
                return owner
            time.sleep(0.025)
        return owner

    def release(self) -> None:
        """Remove the lock file and give up the lock (nothing when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def lock_folder(folder, name: str = LOCK_NAME) -> OutputLock:
    """Lock ``folder`` (created when missing) for this process; see the module notes.

    Parameters
    ----------
    folder : path
        The output folder.
    name : str
        The lock file's name in it (one folder may hold locks of several files,
        e.g. ``stviz record``'s ``.activity.npz.stviz-lock``).

    Returns
    -------
    OutputLock
        Held; release it with :meth:`OutputLock.release` or a ``with`` block.

    Raises
    ------
    FolderLocked
        A live process holds the lock (named in the message).
    """
    return OutputLock(folder, name).acquire()
