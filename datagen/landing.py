"""Intraday landing for tests and benchmarks: hold back one day of a generated brand, then land
its batch files one batch at a time, as an upstream system should (written under a temporary name
and renamed into place, so a reader never sees half a file)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

SOURCES = ("crm", "wecom", "miniprogram")


def land_all_but_day(
    generated: Path, landing: Path, held: Path, day: dt.date, sources: Iterable[str] = SOURCES
) -> None:
    """Copy every source of `generated` into `landing`, moving the folder of `day` to `held`."""
    for source in sources:
        shutil.copytree(generated / source, landing / source)
        (held / source).mkdir(parents=True)
        shutil.move(landing / source / day.isoformat(), held / source)


def land_batch(
    held: Path, landing: Path, day: dt.date, batch: str, sources: Iterable[str] = SOURCES
) -> list[Path]:
    """Land the held files of `batch` (`<entity>_<batch>.<ext>`) of `day`; returns their paths."""
    landed = []
    for source in sources:
        target = landing / source / day.isoformat()
        target.mkdir(parents=True, exist_ok=True)
        for f in sorted((held / source / day.isoformat()).glob(f"*_{batch}.*")):
            tmp = target / f".{f.name}.tmp"
            shutil.copyfile(f, tmp)
            os.replace(tmp, target / f.name)
            landed.append(target / f.name)
    return landed
