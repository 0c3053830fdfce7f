"""The thread policy: how many threads a framework computes with, and how its idle threads wait.

One place decides (docs/architecture.md, "The thread policy"); the backends apply what it
decides through their ``set_threads`` member, once per change, and record it in
``describe()["threads"]``.

* **Wait policy.** OpenMP threads that wait at a barrier spin by default. When another
  process holds their core, the spinning costs more than the work (issue 27: a step 4.6x
  slower with one of two cores busy). :func:`set_wait_policy`, run when ``stviz_core`` is
  imported (``import stviz``, ``import stviz_core``, the ``stviz`` command), sets
  ``OMP_WAIT_POLICY=PASSIVE`` unless the user set one; an OpenMP runtime reads it when it
  loads, so where one is already loaded (a framework imported before stviz) it cannot be
  applied, and :func:`wait_policy` says so.
* **Threads.** Given (``threads=`` of a run, ``stviz --threads``, a sweep worker's CPUs,
  the ``STVIZ_THREADS`` variable, in that order) or chosen for the work (:func:`decide`):
  one thread for a step of less than :data:`SMALL_STEP_FLOPS` (small models step faster
  on one thread: the work per operation does not pay for the threads' hand-over),
  else every core this process may use. The choice depends on the work and the machine
  only, never on its load, because the thread count changes the frameworks' float
  reductions: a rerun with the same seed gives the same bytes. :data:`FREE` (``"free"``)
  asks for the cores other processes leave free when the run starts instead: faster on a
  shared machine, but the bytes then follow the load (the count is recorded).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

__all__ = ["ENV", "WAIT_ENV", "SMALL_STEP_FLOPS", "FREE", "Decision", "set_wait_policy", "wait_policy",
           "request", "requested", "decide", "apply", "check_threads", "cores"]

#: the variable that gives the threads to every stviz process (``stviz --threads`` sets it,
#: so sweep workers started by the command inherit it)
ENV = "STVIZ_THREADS"
#: OpenMP's wait policy variable
WAIT_ENV = "OMP_WAIT_POLICY"
#: below this many floating-point operations per step (forward to the target and the input
#: gradient, all visualizations) a step runs on one thread
SMALL_STEP_FLOPS = 2e9
#: the thread request that follows the machine's load: the cores other processes leave free
FREE = "free"

_OPENMP = re.compile(r"lib(g|i|)omp[\w.-]*\.so")
_STATE = {"wait": None, "requested": None, "source": None}


@dataclass(frozen=True)
class Decision:
    """How many threads, and why (recorded in ``describe()["threads"]``)."""

    threads: int
    reason: str


def check_threads(value, name: str = "threads"):
    """``value`` as a thread count (an integer >= 1), :data:`FREE` or None, else a one-line error."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == FREE:
        return FREE
    valid = (f"{name} must be an integer >= 1, {FREE!r} (the cores other work leaves free) "
             f"or None (chosen for the work), got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int) and not (
            isinstance(value, str) and value.strip().isdigit()):
        raise TypeError(valid)
    if int(value) < 1:
        raise ValueError(valid)
    return int(value)


def _openmp_loaded() -> Optional[bool]:
    """Whether an OpenMP runtime is loaded in this process (None: cannot tell, not Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any(_OPENMP.search(line) for line in maps)
    except OSError:
        return None


def set_wait_policy() -> dict:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user set one or an OpenMP runtime already runs.

    Returns the record :func:`wait_policy` gives; called once when ``stviz_core`` is imported.
    """
    if _STATE["wait"] is not None:
        return _STATE["wait"]
    given = os.environ.get(WAIT_ENV)
    if given:
        record = {"policy": given, "set_by": "user"}
    elif _openmp_loaded():
        record = {"policy": None, "set_by": None,
                  "note": f"not applied: an OpenMP runtime was loaded before stviz (a framework "
                          f"imported first); set {WAIT_ENV}=PASSIVE before starting Python, or "
                          "import stviz first"}
    else:
        os.environ[WAIT_ENV] = "PASSIVE"
        record = {"policy": "PASSIVE", "set_by": "stviz"}
    _STATE["wait"] = record
    return record


def wait_policy() -> dict:
    """The wait policy's record: ``policy``, ``set_by`` (``"stviz"``, ``"user"``, None) and a
    ``note`` when it could not be applied."""
    return dict(set_wait_policy())


def request(threads, *, source: str = "threads", plugins=None) -> None:
    """Ask for ``threads`` in this process and the processes it starts (None: chosen for the work).

    Every installed plugin's ``set_threads`` hook hears a count at once (a framework not yet
    started takes it when it starts), and the backends apply it at each run; :data:`FREE`
    is decided at each run.

    Parameters
    ----------
    threads : int, "free" or None
    source : str
        Who asked (``"--threads"``, ``"sweep worker"``), recorded with the decision.
    plugins : mapping, optional
        ``{name: plugin}`` to tell instead of the installed plugins.
    """
    from .backend import plugin_hook, select_plugin
    from .backend import plugins as installed

    threads = check_threads(threads)
    _STATE["requested"], _STATE["source"] = threads, source if threads else None
    if threads is None:
        os.environ.pop(ENV, None)
        return
    os.environ[ENV] = str(threads)
    if threads == FREE:
        return
    available = installed() if plugins is None else plugins
    for name in available:
        try:
            plugin = select_plugin(None, backend=name, available=available)
        except (ImportError, ValueError):  # a plugin whose framework is not installed
            continue
        plugin_hook(plugin, "set_threads")(threads)


def requested() -> tuple:
    """``(threads, source)`` asked for in this process (:func:`request`, else ``STVIZ_THREADS``);
    ``(None, None)`` when nothing was."""
    if _STATE["requested"] is not None:
        return _STATE["requested"], _STATE["source"]
    given = os.environ.get(ENV)
    if given:
        return check_threads(given.strip(), ENV), ENV
    return None, None


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _running_here() -> int:
    """Threads of this process running now (the reading one included; 1 when unknown)."""
    running = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat", encoding="ascii", errors="replace") as f:
                    running += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:
        return 1
    return max(running, 1)


def _busy_elsewhere() -> int:
    """Threads of other processes running now (Linux's ``/proc/loadavg`` less this process's own,
    whose spinning threads must not count against it; 0 when unknown)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(running - _running_here(), 0)


def decide(threads=None, *, step_flops: Optional[float] = None) -> Decision:
    """The threads of a run: ``threads`` when given, else the process's request, else for the work.

    Parameters
    ----------
    threads : int, "free" or None
        The run's ``threads=``; :data:`FREE`: the cores other processes leave free now.
    step_flops : float, optional
        Floating-point operations of one step (all visualizations); None: unknown.
    """
    threads = check_threads(threads)
    given, source = (threads, "threads= of the run") if threads is not None else requested()
    if given == FREE:
        n, busy = cores(), _busy_elsewhere()
        return Decision(max(1, n - busy), f"{source}: {FREE!r}, {n} cores, "
                                          f"{min(busy, n)} busy with other work")
    if given is not None:
        return Decision(given, source)
    if step_flops is not None and step_flops < SMALL_STEP_FLOPS:
        return Decision(1, f"a small step ({step_flops / 1e9:.2g} GFLOP < "
                           f"{SMALL_STEP_FLOPS / 1e9:g}): one thread")
    work = "unknown work" if step_flops is None else f"{step_flops / 1e9:.3g} GFLOP per step"
    n = cores()
    return Decision(n, f"{work}: every core ({n})")


def apply(backend, threads: Optional[int] = None, *, batch: int = 1) -> dict:
    """Decide the run's threads and have ``backend`` apply them; the record it keeps.

    The backend's ``set_threads(record)`` member applies ``record["threads"]`` when they
    differ from what the framework uses (once per change), keeps the record for its
    ``describe()`` and returns it with what it did (``applied``, a ``note``); a backend
    without one records that nothing was applied.
    """
    from .backend import backend_member

    per_item = backend_member(backend, "step_flops")
    decision = decide(threads, step_flops=None if per_item is None else per_item * batch)
    record = {"threads": decision.threads, "reason": decision.reason,
              "wait_policy": wait_policy()}
    return backend_member(backend, "set_threads")(record)
