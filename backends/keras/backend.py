"""The Keras 3 (TensorFlow) backend: a sub-model up to the target layer and a compiled VJP.

Where the kernel's arrays live: on the host, as numpy arrays. array-api-compat
does not wrap TensorFlow tensors, and the alternative, a thin array-API
namespace over TF ops, would save only the two host copies per step (inputs
in, gradients out); ``benchmarks/keras_backend.py`` measures that copy at a
few percent of a step on the demo model (see ``benchmarks/RESULTS.md``), and
host arrays make the kernel's arithmetic the very same numpy code for every
run, which is what cross-framework agreement rests on. The price is that numpy
work, single-threaded between TensorFlow's calls: on the real I3D with a
spectral preset it is what a step costs beyond the forward pass and its VJP
(``benchmarks/RESULTS.md``, issue 27; ``benchmarks/keras_host_work.py``). During
a run numpy's BLAS runs one thread (:mod:`.numpy_threads`): its threads spun
beside TensorFlow's.

One step is one compiled call (``tf.function``) that runs the forward pass to
the target layer and the vector-Jacobian product
(``tape.gradient(..., output_gradients=cotangent)``). The cotangent of the
kernel's objectives does not depend on the activation values, so the step
computes the VJP with the previous step's cotangent; :meth:`vjp` returns it
when the new cotangent is the same array (checked exactly) and recomputes
otherwise. Functional models run as a sub-model from their inputs to the
layer's output, so nothing above it is computed. Subclassed models run eagerly
with the target layer's ``call`` wrapped to stop the forward pass there.
The model is called with ``training=False``, never fitted, and left as it was.
"""

from __future__ import annotations

import weakref

import numpy as np

from stviz_core.backend_support import (call_out_of_range, class_labels, inputs_refused, kernel_dtype,
                                       never_reached, receptive_field_unknown, shared_layer_error,
                                       split_call, unknown_layer)
from stviz_core.layouts import from_model, resolve, to_model

from .bn_folding import fold_batch_norm_keras, fold_pairs_keras
from .compiled_step import CompiledStep
from .numpy_threads import BlasThreads
from .receptive_field import receptive_field

__all__ = ["KerasBackend"]

#: compiled steps of each model, so that repeated runs on a model trace once
_COMPILED = weakref.WeakKeyDictionary()


class _Stop(BaseException):
    """Ends a subclassed model's forward pass at the target layer."""

    def __init__(self, output):
        self.output = output


class KerasBackend:
    """The backend contract (``stviz_core.backend``) for a built Keras 3 model.

    Parameters
    ----------
    model : keras.Model
        Functional, Sequential or subclassed; built (called once or given inputs).
    layer : str
        Name of a layer of the model itself (``model.layers``); a layer inside
        a nested model is reached by building the model flat.
    inputs, layout
        As for the PyTorch backend; default ``model.stviz_inputs`` and
        ``model.stviz_layout``. The layout must be channels-last
        (``TwoStream2D(channels_first=False)``, ``Clip3D(channels_first=False)``).
    compiled : bool
        Run the step as a ``tf.function`` (default). ``False`` runs eagerly.
    fold_batch_norm : bool
        Run a clone of a functional model with every conv -> BN pair folded
        (:func:`stviz_backends.keras.bn_folding.fold_batch_norm_keras`), as the
        PyTorch backend does by default. Off by default: Keras' BN in inference
        mode is the same function, and the clone costs a second per run on a
        deep model.
    """

    name = "keras"

    def __init__(self, model, layer, *, inputs=None, layout=None, compiled=True,
                 fold_batch_norm=False):
        import keras

        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"stviz's Keras backend supports Keras 3 on TensorFlow; this Keras runs on "
                f"{keras.backend.backend()!r}: set KERAS_BACKEND=tensorflow before importing keras"
            )
        import tensorflow as tf

        self.tf, self.keras, self.model, self.layer = tf, keras, model, layer
        self.xp, self.device = np, "cpu"
        if not model.built:
            raise ValueError(
                "the Keras model is not built: call it once on data or build it with an "
                "Input, so that its layers have weights"
            )
        self.user_model, self.folded = model, []
        if fold_batch_norm:
            self.folded = fold_pairs_keras(model)
            if self.folded:
                model = self.model = fold_batch_norm_keras(model)
        self.layout, self.inputs = resolve(model, layout, inputs, channels_first=False)
        #: the model's class names in logit order (``model.stviz_labels``), or None
        self.labels = class_labels(self.user_model)
        self.target = self._find_layer(model, layer)
        #: the model's dtype; the kernel's arrays (``dtype``) are float32 for a 16-bit model
        #: (:func:`stviz_core.backend_support.kernel_dtype`)
        self.model_dtype = str(self._dtype_of(model))
        self.dtype = np.dtype(kernel_dtype(self.model_dtype))
        per_model = _COMPILED.setdefault(model, {})
        shapes = [tuple(a.shape) for a in to_model(
            self.layout, {k: np.zeros((1, *s.shape), self.dtype) for k, s in self.inputs.items()}, np)]
        key = (layer, bool(compiled), tuple(shapes))
        if key not in per_model:  # one sub-model and one trace per (model, layer, input shapes)
            self._forward = self._build_forward()
            per_model[key] = CompiledStep(tf, self._forward, shapes, self.model_dtype,
                                          compiled and self._can_compile())
        self._step = per_model[key]
        self._forward = self._step.forward
        self._cached = None
        #: the thread policy's record (``describe()["threads"]``), None before a run applied one
        self.threads_record = None
        self._blas = BlasThreads()
        self.activation_shape = self._probe()

    # -- contract -----------------------------------------------------------------

    def activations(self, inputs, *, for_vjp=True):
        """Forward to the target layer; also the VJP of the last cotangent, in the same call.

        ``for_vjp=False``: the forward pass alone (recording activity); no VJP follows.
        """
        args = [self.tf.convert_to_tensor(a, dtype=self.model_dtype)
                for a in to_model(self.layout, inputs, np)]
        self._args = args
        if not for_vjp or self._cached is None or self._cached.shape[0] != args[0].shape[0]:
            acts = self._step.fwd(args)
            self._grads = None
        else:
            acts, grads = self._step.fwd_vjp(args, self._cached_tf)
            self._grads = grads
        return np.asarray(acts).astype(self.dtype, copy=False)

    def vjp(self, cotangent):
        """Gradient of ``<A, cotangent>`` w.r.t. the canonical inputs of the last call."""
        cot = np.asarray(cotangent, dtype=self.dtype)
        if self._grads is None or self._cached is None or not np.array_equal(cot, self._cached):
            self._cached, self._cached_tf = cot, self.tf.convert_to_tensor(cot, dtype=self.model_dtype)
            _, grads = self._step.fwd_vjp(self._args, self._cached_tf)
        else:
            grads = self._grads
        grads = [np.zeros(a.shape, self.dtype) if g is None else np.asarray(g).astype(self.dtype, copy=False)
                 for a, g in zip(self._args, grads, strict=True)]
        return {k: np.ascontiguousarray(v) for k, v in from_model(self.layout, grads, np).items()}

    def receptive_field(self):
        """``(rf, stride)`` from the functional graph of the model."""
        size = max(max(s.shape[1:3]) for s in self.inputs.values())
        try:
            return receptive_field(self.model, self.layer, size)
        except ValueError as exc:
            receptive_field_unknown(self.layer, exc)
            return None

    def describe(self):
        return {
            "model": self.model.name,
            "layer": self.layer,
            "folded_batch_norm": [list(p) for p in self.folded],
            "layout": self.layout.describe(self.inputs),
            "activation_shape": list(self.activation_shape),
            "classes": None if self.labels is None else len(self.labels),
            "model_dtype": self.model_dtype,
            "keras": self.keras.__version__,
            "tensorflow": self.tf.__version__,
            "threads": self.threads_record,
            "compiled_traces": None if self._step is None else self._step.traces,
        }

    def set_threads(self, record):
        """Apply ``record["threads"]`` as TensorFlow's intra-op threads where TensorFlow still
        allows it (before its runtime starts; a built model has started it: then recorded as
        not applied), and one thread for numpy's BLAS until :meth:`close` (the kernel's small
        host products between TensorFlow's calls; :mod:`.numpy_threads`); keep the record for
        :meth:`describe` and return it."""
        threading, n = self.tf.config.threading, int(record["threads"])
        current = threading.get_intra_op_parallelism_threads()
        record = dict(record, applied=current == n, changed=False,
                      numpy_blas=self._blas.limit())
        if current != n:
            try:
                threading.set_intra_op_parallelism_threads(n)
                record.update(applied=True, changed=True)
            except RuntimeError:
                record["note"] = ("TensorFlow's runtime had started (it runs "
                                  f"{current or 'its default'} intra-op threads): give stviz "
                                  "--threads or STVIZ_THREADS before the model is built")
        self.threads_record = record
        return record

    def close(self):
        """Release this run's references (the model was never changed; its compiled step is
        kept with the model for the next run)."""
        self._step = self._forward = None
        self._blas.restore()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ----------------------------------------------------------------

    def _find_layer(self, model, layer):
        names = {lay.name: lay for lay in model.layers}
        #: which call of a shared layer is visualized (``layer="name:k"``), None for its only one
        layer, self.call = split_call(layer, names)
        if layer not in names:
            raise unknown_layer(layer, names, "model.layers")
        return names[layer]

    @staticmethod
    def _dtype_of(model):
        for w in model.weights:
            return w.dtype
        return model.compute_dtype

    def _build_forward(self):
        keras, target = self.keras, self.target
        if _graph_inputs(self.model) is not None:
            nodes = list(getattr(target, "_inbound_nodes", []))
            if self.call is None and len(nodes) > 1:
                raise shared_layer_error(target.name, len(nodes), "in the model's graph")
            if self.call is not None and self.call >= len(nodes):
                raise call_out_of_range(self.layer, len(nodes), "in the model's graph")
            try:
                output = target.output if self.call is None else nodes[self.call].output_tensors
                if isinstance(output, (list, tuple)) and len(output) == 1:
                    output = output[0]
            except (AttributeError, ValueError) as exc:
                raise ValueError(
                    f"layer {self.layer!r} has no single output in the model's graph "
                    f"({str(exc).splitlines()[0]}); pick a layer that is called once"
                ) from None
            if isinstance(output, (list, tuple)):
                raise ValueError(
                    f"layer {self.layer!r} has {len(output)} outputs; stviz needs one: pick the "
                    "layer that follows the output you mean"
                )
            sub = keras.Model(self.model.inputs, output, name=f"{self.model.name}_to_{target.name}")
            return lambda args: sub(list(args), training=False)
        return self._eager_forward

    def _eager_forward(self, args):
        target, original = self.target, self.target.call
        calls = [0]

        def stop(*a, **kw):
            out = original(*a, **kw)
            calls[0] += 1
            if self.call is None or calls[0] - 1 == self.call:
                raise _Stop(out)
            return out

        target.call = stop
        try:
            self.model(args if len(args) > 1 else args[0], training=False)
        except _Stop as s:
            return s.output
        finally:
            target.call = original
        raise never_reached(self.layer)

    def _can_compile(self):
        return _graph_inputs(self.model) is not None  # the subclassed path stops by raising

    def _probe(self):
        zeros = {k: np.zeros((1, *s.shape), self.dtype) for k, s in self.inputs.items()}
        try:
            acts = self.activations(zeros)
        except (ValueError, self.tf.errors.InvalidArgumentError) as exc:
            raise inputs_refused(self.layout, self.inputs, "Keras", exc) from None
        return tuple(acts.shape)


def _graph_inputs(model):
    """The inputs of a functional or Sequential model's graph; None for a subclassed model."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    return inputs or None
