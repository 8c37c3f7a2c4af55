"""Owner-only files for personal data, and rewriting a DuckDB file so deleted rows leave its bytes.

The build database (raw phones, names, openids), the quarantine files and the privacy logs are
personal data: owner-only, like the restricted export (0600 files in 0700 folders). The published
serving file and Parquet are for BI readers and are not made private.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import duckdb

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private(path: Path | str) -> Path:
    """chmod a file to 0600 or a folder to 0700 (owner read/write only) and return its path.

    Call it right after creating the file or folder: a process umask of 022 gives 0644 / 0755.
    A folder's contents are not changed; follows a symlink to what it names.
    """
    path = Path(path)
    os.chmod(path, PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)
    return path


def private_dir(path: Path | str, root: Path | str | None = None) -> Path:
    """Create a folder (and missing parents) and make it owner-only; with `root` (an ancestor,
    e.g. the quarantine folder), every folder from `root` down to `path` too."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if root is not None:
        root = Path(root)
        if root != path and root not in path.parents:
            raise ValueError(f"private_dir: {root} is not a folder above {path}")
        for folder in [*path.parents[: len(path.relative_to(root).parts)]][::-1]:
            make_private(folder)
    return make_private(path)


def append_private_jsonl(path: Path | str, records: Iterable[dict]) -> None:
    """Append one JSON line per record to an owner-only file in an owner-only folder (the
    privacy logs: suppression list, erasure audit). A file made earlier with other modes is made
    owner-only too."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        os.fchmod(fd, PRIVATE_FILE)
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")


def fsync_path(path: Path | str) -> None:
    """Flush a file's (or a folder's) contents to disk before a rename makes it visible."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rewrite_duckdb_file(path: Path | str) -> dict[str, int]:
    """Rebuild a DuckDB file so no deleted row survives in its bytes.

    DuckDB marks deleted rows and frees their blocks but does not overwrite them, so an erased
    phone stays readable in the file until the block is reused. This copies every schema, table,
    view, sequence and macro (COPY FROM DATABASE) into a new file in an owner-only folder beside
    it (so its WAL is never readable by others either), checkpoints and closes both, and renames
    the new file over the old one: rename(2) is atomic, the path always names a complete
    database. The source is opened under its own catalog name, so views that name the catalog
    (dbt-duckdb writes "warehouse"."raw"...) keep resolving once the new file has the old name.

    Nothing may write the file meanwhile (DuckDB's file lock refuses a second writer while we
    copy). The new file is 0600. Returns the file's size before and after, in bytes.
    """
    path = Path(path).absolute()
    work = path.with_name(f".{path.name}.rewrite-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    private_dir(work)
    new = work / path.name
    try:
        before = path.stat().st_size
        con = duckdb.connect(str(path))
        try:
            con.execute("checkpoint")
            catalog = con.execute("select current_database()").fetchone()[0]
            con.execute("attach ? as _rewritten", [str(new)])
            try:
                con.execute(f'copy from database "{catalog}" to _rewritten')
                con.execute("checkpoint _rewritten")
            finally:
                con.execute("detach _rewritten")
        finally:
            con.close()
        if new.with_name(new.name + ".wal").exists():
            raise RuntimeError(
                f"rewrite of {path}: {new}.wal remained after checkpoint; "
                "the database file is unchanged"
            )
        make_private(new)
        fsync_path(new)
        os.replace(new, path)
        fsync_path(path.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"bytes_before": before, "bytes_after": path.stat().st_size}
