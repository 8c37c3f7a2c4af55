"""Which landed files belong to an extract, and reading them without leaving the landing folder.

Layout (datagen/FORMATS.md): `<landing>/<source>/<YYYY-MM-DD>/<entity>[suffix].<ext>`. Only
regular files directly in such a day folder, inside the landing root once every link is resolved,
are read. Three kinds of entries are reported, each as one line naming its landing path:

* refused (an error of the extract's load: the asset fails, nothing of its days is replaced): an
  entry named like the extract that is a symbolic link (wherever it points), a FIFO, socket or
  device, or a folder; a day folder or source folder that is a link or not a folder. Nothing is
  read from it, so nothing of it is echoed or copied: the quarantine gets only a `.reason.txt`;
* a warning (the load goes on): a file in a day folder of the load whose name matches no extract of
  the source (`order.csv`, `ordres.csv`, `orders.xlsx`), and every entry of a folder not named
  YYYY-MM-DD (`20260801`, `2026-13-45`) or beside the day folders. Each is reported by exactly one
  extract: the one whose name it matches, else the closest name, so a stray file is one warning
  per run and not one per extract;
* everything else is another day's or another extract's business.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.entities import ENTITIES, Entity
from ingestion.reader import RefusedFileError, read_regular_file, refusal

DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Day folder names that are a date written another way, to say what to rename them to.
OTHER_DAY_FORMATS = ("%Y%m%d", "%Y_%m_%d", "%Y.%m.%d", "%Y-%m-%d", "%Y/%m/%d")


@dataclass
class LandedFile:
    day: dt.date
    path: Path
    label: str  # `<source>/<day>/<name>`, the name used in every message


@dataclass
class LandingScan:
    files: list[LandedFile] = field(default_factory=list)  # regular files to read, by day and name
    refused: list[tuple[dt.date, str, str]] = field(default_factory=list)  # (day, label, line)
    warnings: list[tuple[dt.date | None, str, str]] = field(default_factory=list)  # same


def entity_pattern(entity: Entity) -> re.Pattern:
    """Names of one extract's files: `orders.csv`, `orders (1).csv`, `orders_resend.csv`."""
    return re.compile(rf"^{re.escape(entity.name)}([ _\-(].*)?\.{entity.ext}$")


def reporting_entity(source: str, name: str) -> Entity:
    """The extract of `source` that reports the entry `name`: the one whose files it matches, else
    the one with the closest name (ties: the first in ENTITIES)."""
    candidates = [e for e in ENTITIES if e.source == source]
    for e in candidates:
        if entity_pattern(e).match(name):
            return e
    stem = name.split(".", 1)[0].lower()
    return max(candidates, key=lambda e: difflib.SequenceMatcher(None, stem, e.name).ratio())


def scan(entity: Entity, landing_dir: Path, days: list[dt.date]) -> LandingScan:
    """The files of `entity` landed for `days`, the entries refused, and the warnings this
    extract reports (see the module docstring)."""
    out = LandingScan()
    source_dir = landing_dir / entity.source
    kind = _kind(source_dir)
    if kind is None:
        return out
    if kind != "dir" or not days:
        if days:
            out.refused.append((days[0], entity.source, _not_a_folder(entity.source, kind)))
        return out
    wanted = set(days)
    for entry in _entries(out, days[0], source_dir, entity.source):
        day = _day_of(entry.name)
        label = f"{entity.source}/{printable(entry.name)}"
        if day is None:
            _warn_misplaced(out, entity, Path(entry.path), label)
        elif day in wanted:
            day_kind = _kind(Path(entry.path))
            if day_kind != "dir":
                out.refused.append((day, label, _not_a_folder(label, day_kind)))
            else:
                _scan_day(out, entity, day, Path(entry.path), label)
    return out


def read_landed(landed: LandedFile, landing_dir: Path) -> bytes:
    """The bytes of a landed file, refused unless it is a regular file inside the landing root."""
    root = landing_dir.resolve()
    if not landed.path.resolve().is_relative_to(root):
        raise RefusedFileError(
            f"{landed.label}: resolves to a path outside the landing folder; only regular files "
            "inside it are read (rule: regular_file)"
        )
    return read_regular_file(landed.path, landed.label)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(name: str) -> str:
    """A landed entry's name as it appears in messages and lineage: control characters (a newline,
    a tab, an escape) written as `\\xNN`, so every message stays one line and no terminal control
    sequence reaches a console. Shell metacharacters stay as they are: no name is ever passed to a
    shell or spliced into SQL."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name)


def _scan_day(
    out: LandingScan, entity: Entity, day: dt.date, day_dir: Path, day_label: str
) -> None:
    pattern = entity_pattern(entity)
    for entry in _entries(out, day, day_dir, day_label):
        label = f"{day_label}/{printable(entry.name)}"
        path = Path(entry.path)
        if pattern.match(entry.name):
            kind = _kind(path)
            if kind == "file":
                out.files.append(LandedFile(day, path, label))
            else:
                out.refused.append((day, label, refusal(label, kind or "special")))
        elif reporting_entity(entity.source, entry.name) == entity:
            out.warnings.append(
                (
                    day,
                    label,
                    f"{label}: matches no {entity.source} extract (closest: {entity.name}.{entity.ext};"
                    " a name starts with the extract's and ends in its extension, datagen/FORMATS.md);"
                    " not loaded (rule: file_name)",
                )
            )


def _warn_misplaced(out: LandingScan, entity: Entity, path: Path, label: str) -> None:
    """An entry of the source folder that is not a YYYY-MM-DD day folder: every entry inside it
    (or itself) is reported, on every load, since no partition will ever read it."""
    name = path.name
    if _kind(path) != "dir":
        if reporting_entity(entity.source, name) == entity:
            out.warnings.append(
                (
                    None,
                    label,
                    f"{label}: is not in a day folder ({entity.source}/YYYY-MM-DD/); not loaded "
                    "(rule: day_folder)",
                )
            )
        return
    hint = _as_day(name)
    rename = f"rename it {entity.source}/{hint.isoformat()}" if hint else "not a valid date"
    why = f"its day folder {label} is not named YYYY-MM-DD ({rename})"
    entries = _entries(out, None, path, label)
    first = next(e for e in ENTITIES if e.source == entity.source)
    if not entries and entity == first:
        out.warnings.append(
            (
                None,
                label,
                f"{label}: day folder not named YYYY-MM-DD ({rename}); not read (rule: day_folder)",
            )
        )
    for entry in entries:
        if reporting_entity(entity.source, entry.name) == entity:
            out.warnings.append(
                (
                    None,
                    f"{label}/{printable(entry.name)}",
                    f"{label}/{printable(entry.name)}: {why}; not loaded (rule: day_folder)",
                )
            )


def _entries(out: LandingScan, day: dt.date | None, folder: Path, label: str) -> list[os.DirEntry]:
    """The entries of `folder` by name; a folder that cannot be listed is refused (with a day) or
    a warning (a misplaced folder)."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        line = f"{label}: cannot be listed ({exc.strerror}) (rule: readable)"
        if day is None:
            out.warnings.append((None, label, line))
        else:
            out.refused.append((day, label, line))
        return []


def _day_of(name: str) -> dt.date | None:
    if not DAY_FOLDER.match(name):
        return None
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


def _as_day(name: str) -> dt.date | None:
    for fmt in OTHER_DAY_FORMATS:
        try:
            return dt.datetime.strptime(name, fmt).date()
        except ValueError:
            continue
    return None


def _kind(path: Path) -> str | None:
    """file, dir, symlink or special (FIFO, socket, device) without following a link; None if
    there is nothing there."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "special"


def _not_a_folder(label: str, kind: str | None) -> str:
    what = "is a symbolic link (not followed)" if kind == "symlink" else "is not a folder"
    return (
        f"{label}: {what}; only folders and regular files inside the landing folder are read, "
        "deliver the folder itself (rule: regular_file)"
    )
