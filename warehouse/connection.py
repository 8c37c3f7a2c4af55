"""Opening the build database: one short-lived connection per step.

dbt runs in a subprocess and DuckDB allows one writing process, so no caller keeps a connection
open across steps. With a memory limit big joins spill to `temp_directory` instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.files import make_private


def duckdb_config(memory_limit: str = "", temp_directory: str = "") -> dict[str, str]:
    """DuckDB settings for a memory limit; the spill folder only matters when one is set."""
    config = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
        if temp_directory:
            Path(temp_directory).mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = temp_directory
    return config


@contextmanager
def connect(
    path: str | Path, read_only: bool = False, memory_limit: str = "", temp_directory: str = ""
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the build database at `path`, closed on exit. A writable database file is
    made owner-only (0600): it holds raw phones, names and openids."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        str(path), read_only=read_only, config=duckdb_config(memory_limit, temp_directory)
    )
    if not read_only:
        make_private(path)
    try:
        yield con
    finally:
        con.close()
