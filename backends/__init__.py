"""Framework backends of stviz, installed as ``stviz_backends``.

One module per framework, each registered under the ``stviz.backends``
entry-point group (see :mod:`stviz_core.backend` for the contract).
"""
