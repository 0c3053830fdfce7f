"""``python -m stviz``: the stviz command line (see ``stviz --help``)."""
