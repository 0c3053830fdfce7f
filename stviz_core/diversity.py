r"""Diversity: a Gram-matrix term that pushes the visualizations of one batch apart (Lucid's).

For the target layer's activations ``A`` (batch first, channels last) each
visualization ``i`` gets the Gram matrix of its channels over all positions,
``G_i = A_i^T A_i`` (``A_i`` flattened to ``(positions, K)``), and the penalty

.. math:: d_i = \frac{1}{N-1} \sum_{j \ne i} \cos(G_i, G_j),

the mean cosine similarity of its Gram matrix with the others'. The ascent
subtracts ``weight * d_i`` from visualization ``i``'s objective, so similar
feature statistics are penalized and the batch spreads out over what excites
the unit. The Gram is taken of the activations the backend already returns
(the layer of the unit), not of the input: an input Gram of RGB is only a
3 x 3 colour covariance, which tells little apart. The gradient goes into the
objective's cotangent and back through the same vector-Jacobian product, so it
costs no extra backward pass. With one visualization there is no pair and the
term is 0.

The weight is in the objective's units (a cosine is at most 1): a weight near
the objective's value trades the two evenly, as Lucid's examples weigh
diversity at 1e2 to 1e3 against raw activations.
"""

from __future__ import annotations

from ._checks import non_negative
from ._xp import array_device, namespace

__all__ = ["gram_similarity", "gram_similarity_value_grad", "check_weight"]

_EPS = 1e-30  # a Gram matrix of zero norm has no direction: its cosines and gradient are 0


def check_weight(weight) -> float:
    """The diversity weight as a float ``>= 0``, or a ``ValueError`` stating the domain."""
    return non_negative(weight, "diversity weight")


def gram_similarity(acts, /, *, xp=None):
    """Each visualization's mean Gram cosine with the others, ``d_i`` of the module notes.

    Parameters
    ----------
    acts : array
        ``(N, ..., K)`` activations.

    Returns
    -------
    array
        Shape ``(N,)``; zeros when ``N == 1``.
    """
    return gram_similarity_value_grad(acts, xp=xp)[0]


def gram_similarity_value_grad(acts, /, *, xp=None):
    r"""``d_i`` and the gradient of :math:`\sum_i d_i` w.r.t. ``acts``, in one pass.

    With :math:`\hat G_i = G_i / |G_i|`, :math:`S = \sum_j \hat G_j` and
    :math:`C_i = \langle \hat G_i, S\rangle`: :math:`d_i = (C_i - 1)/(N-1)` and
    :math:`\partial \sum d / \partial G_i = 2 (S - C_i \hat G_i) / ((N-1)|G_i|)`,
    pulled back through :math:`G_i = A_i^T A_i` as :math:`2 A_i\, \partial/\partial G_i`.

    Returns
    -------
    value : array
        Shape ``(N,)``.
    grad : array
        The shape of ``acts``.
    """
    xp = namespace(acts, xp=xp)
    n = acts.shape[0]
    if n < 2:
        return xp.zeros((n,), dtype=acts.dtype, device=array_device(acts)), xp.zeros_like(acts)
    flat = xp.reshape(acts, (n, -1, acts.shape[-1]))
    gram = xp.matmul(xp.permute_dims(flat, (0, 2, 1)), flat)
    norm = xp.sqrt(xp.sum(gram * gram, axis=(1, 2), keepdims=True))
    safe = xp.where(norm > _EPS, norm, xp.ones_like(norm))
    unit = xp.where(norm > _EPS, gram / safe, xp.zeros_like(gram))
    total = xp.sum(unit, axis=0, keepdims=True)
    cos_sum = xp.sum(unit * total, axis=(1, 2), keepdims=True)
    d_gram = (2.0 / (n - 1)) * (total - cos_sum * unit) / safe
    d_gram = xp.where(norm > _EPS, d_gram, xp.zeros_like(d_gram))
    grad = 2.0 * xp.matmul(flat, d_gram)
    self_cos = xp.sum(unit * unit, axis=(1, 2))  # 1, or 0 for a zero Gram matrix
    value = (xp.reshape(cos_sum, (n,)) - self_cos) / (n - 1)
    return value, xp.reshape(grad, acts.shape)
