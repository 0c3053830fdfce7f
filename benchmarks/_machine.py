"""The machine a benchmark ran on, and appending a block to RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for mod in ("numpy", "torch", "tensorflow", "keras"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores{gpu}, Python {platform.python_version()}, "
            f"{', '.join(versions)}")


def record(title: str, body: str) -> None:
    stamp = datetime.date.today().isoformat()
    block = f"\n## {title}, {stamp}\n\nMachine: {machine()}.\n\n{body.strip()}\n"
    with open(Path(__file__).with_name("RESULTS.md"), "a") as fh:
        fh.write(block)
