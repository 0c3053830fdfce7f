"""The Keras backend's compiled functions, traced once per (model, layer, input shapes).

:class:`CompiledStep` holds the forward pass to the target layer and the forward pass with
its vector-Jacobian product as ``tf.function`` objects with an input signature whose batch
axis is ``None``: the probe's single visualization, the run's N and any later run on the
same model and layer use the one graph each, so nothing retraces (issue 27: the demo's
log showed TensorFlow's retracing warnings, a trace of the I3D costing seconds). The
cotangent's signature is taken from the first cotangent (its shape is the activations').
:attr:`CompiledStep.traces` counts the traces (tests and ``describe()``).
"""

from __future__ import annotations

__all__ = ["CompiledStep"]


class CompiledStep:
    """``fwd(args)`` and ``fwd_vjp(args, cotangent)`` of one sub-model.

    Parameters
    ----------
    tf : module
        TensorFlow.
    forward : callable
        ``forward(list of model arguments) -> the target layer's output``.
    arg_shapes : sequence of tuple
        Each model argument's shape with its batch axis (any length there).
    dtype : str
        The model's dtype.
    compiled : bool
        ``tf.function`` (True) or eager calls (False, and for a subclassed model).
    """

    def __init__(self, tf, forward, arg_shapes, dtype, compiled):
        self.tf, self.forward, self.dtype, self.compiled = tf, forward, dtype, bool(compiled)
        self.specs = [tf.TensorSpec((None, *shape[1:]), dtype) for shape in arg_shapes]
        self._fwd = self._fwd_vjp = None
        self.fwd_function = self._compile(self._forward_only, (self.specs,))

    def _compile(self, function, signature):
        if not self.compiled:
            return function
        return self.tf.function(function, input_signature=signature)

    def _forward_only(self, args):
        return self.forward(list(args))

    def _forward_and_vjp(self, args, cot):
        tf = self.tf
        args = list(args)
        with tf.GradientTape() as tape:
            for a in args:
                tape.watch(a)
            out = self.forward(args)
        return out, tape.gradient(out, args, output_gradients=cot)

    def fwd(self, args):
        """The target layer's output for the model arguments ``args``."""
        return self.fwd_function(list(args))

    def fwd_vjp(self, args, cot):
        """``(output, gradients of <output, cot> w.r.t. args)``; compiled at its first call."""
        if self._fwd_vjp is None:
            spec = self.tf.TensorSpec((None, *cot.shape[1:]), self.dtype)
            self._fwd_vjp = self._compile(self._forward_and_vjp, (self.specs, spec))
        return self._fwd_vjp(list(args), cot)

    @property
    def traces(self) -> int:
        """How many times the compiled functions were traced (0 when run eagerly)."""
        if not self.compiled:
            return 0
        return sum(f.experimental_get_tracing_count() for f in (self.fwd_function, self._fwd_vjp)
                   if f is not None)
