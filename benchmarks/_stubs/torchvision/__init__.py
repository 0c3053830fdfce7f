"""A stand-in for torchvision, for the library benchmark only.

No CPU build of torchvision matches the CPU torch used here, and Lucent needs
nothing of it but ``transforms.Normalize``. Put this folder on ``sys.path``
before importing Lucent (benchmarks/libraries.py does).
"""

from . import transforms  # noqa: F401
