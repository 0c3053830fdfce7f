"""The output folder of a sweep: its manifest, one result per cell, the log and the failures.

::

    sweep.json            the grid, the model's identity and every cell id
    cells/<id>.npz/.json  one result per cell (config["sweep"] names the cell)
    log.jsonl             one line per finished, retried or failed cell
    failures.json         cells that failed every attempt (absent when none)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import stviz_core as sv
from stviz_core.atomic import atomic_path

from .grid import Grid

__all__ = ["SweepFolder", "FORMAT", "VERSION"]

FORMAT = "stviz-sweep"
VERSION = 1


class SweepFolder:
    """The output folder of one model's sweeps: manifest, cell results, log, failures."""

    def __init__(self, path):
        self.path = Path(path)
        self.cells_dir = self.path / "cells"

    @property
    def manifest_path(self):
        return self.path / "sweep.json"

    def claim(self, grid: Grid, model_id: dict, cells) -> None:
        """Check the folder may hold this sweep (empty, or a sweep of the same model); write the manifest."""
        if self.manifest_path.exists():
            try:
                old = json.loads(self.manifest_path.read_text())
            except ValueError:
                raise ValueError(f"{self.manifest_path} is not readable JSON; move it away or use "
                                 "another folder") from None
            if old.get("format") != FORMAT:
                raise ValueError(f"{self.manifest_path} is not a stviz sweep manifest")
            theirs = old.get("model", {})
            if theirs.get("fingerprint") != model_id["fingerprint"]:
                raise ValueError(
                    f"{self.path} holds a sweep of another model ({theirs.get('spec')}, weights "
                    f"{str(theirs.get('fingerprint'))[:12]}); this grid's model is "
                    f"{model_id['spec']} (weights {model_id['fingerprint'][:12]}). Use another "
                    "output folder")
        elif self.path.exists() and any(p.name != ".stviz-lock" for p in self.path.iterdir()):
            raise ValueError(f"{self.path} is not empty and holds no sweep (no sweep.json); use an "
                             "empty or new folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self.cells_dir.mkdir(exist_ok=True)
        for stray in self.cells_dir.glob(".*.tmp.*"):  # a write cut short by a killed driver
            stray.unlink()
        manifest = {"format": FORMAT, "version": VERSION, "model": model_id,
                    "grid": grid.to_dict(), "cells": [c.id for c in cells]}
        self._write_json(self.manifest_path, manifest)

    def stem(self, cell):
        return self.cells_dir / cell.id

    def load_complete(self, cell):
        """The cell's result if its pair exists, matches its checksum and names this cell; else ``None``."""
        try:
            result = sv.load(self.stem(cell))
        except (FileNotFoundError, ValueError, KeyError, OSError):
            return None
        return result if result.config.get("sweep", {}).get("cell") == cell.id else None

    def is_complete(self, cell) -> bool:
        return self.load_complete(cell) is not None

    def discard(self, cell) -> None:
        """Remove a partial result so the cell is redone."""
        for suffix in (".json", ".npz"):
            self.cells_dir.joinpath(cell.id + suffix).unlink(missing_ok=True)

    def save(self, cell, result) -> Path:
        result.config["sweep"] = {"cell": cell.id, **cell.config()}
        return result.save(self.stem(cell))

    def log(self, event: str, cells, **extra) -> None:
        with open(self.path / "log.jsonl", "a") as fh:
            for cell in cells:
                fh.write(json.dumps({"event": event, "cell": cell.id, "label": cell.label(),
                                     "time": round(time.time(), 3), **extra}) + "\n")
            fh.flush()

    def write_failures(self, failed: dict) -> None:
        path = self.path / "failures.json"
        if failed:
            self._write_json(path, failed)
        else:
            path.unlink(missing_ok=True)

    @staticmethod
    def _write_json(path, data):
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
