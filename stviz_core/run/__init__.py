"""The run pipeline of one ascent, in the order a run goes through it.

* :mod:`.options`: :class:`RunOptions`, the record of a run's options (built by
  ``ascend``, ``visualize``, the presets' runs and the sweeps);
* :mod:`.planning`: :func:`plan_run` checks the record against the backend and
  fills in what it leaves open: the frozen :class:`RunSettings`;
* :mod:`.start`: where the run starts (noise, a clip, a result continued);
* :mod:`.loop`: :func:`ascend` and the loop over the steps;
* :mod:`.step`: the parts of one step (objective, regularizers, Adam);
* :mod:`.trace`: the per-step record and its non-finite check;
* :mod:`.config`: the config a :class:`Result` records.

This package imports none of them itself (so that ``stviz_core.run.start`` can be
imported without the rest); the names are in ``stviz_core``.
"""
