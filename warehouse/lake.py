"""The raw lake: every raw extract table as date-partitioned Parquet that any engine reads.

    <lake>/raw/<source>/<extract>/day=YYYY-MM-DD/data_0.parquet

One folder per extract and landing day (Hive-style, so DuckDB, Spark and ClickHouse prune by
`day`), holding exactly the rows of `raw.<source>__<extract>` for that day, every column as the
build database has it (values as text, the lineage columns `_source_file`, `_row_number`,
`_loaded_at`, `_partition_date`). A load rewrites the days it loaded (`write_raw_days`): each day's
folder is written beside the lake and renamed into place, so a reader sees a day's old rows or its
new ones, never half; a day that no longer has rows loses its folder. The lake holds raw personal
data: folders are owner-only (0700), files 0600, like the quarantine, and `siyu erase` rewrites
the days that held an erased person (`privacy.lake`).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb

from warehouse.files import PRIVATE_FILE, make_private, private_dir

RAW_LAKE_FOLDER = "raw"
DAY_PARTITION = "day"
_STAGING_FOLDER = ".staging"
# zstd: about half the size of snappy on these text columns, and every engine here reads it
_COPY_OPTIONS = "format parquet, compression zstd, partition_by (day)"


def raw_table_dir(lake_dir: Path | str, table: str) -> Path:
    """`<lake>/raw/<source>/<extract>` of the raw table `<source>__<extract>`."""
    source, sep, extract = table.partition("__")
    if not sep or not source or not extract:
        raise ValueError(f"raw lake: {table!r} is not a raw table name <source>__<extract>")
    return Path(lake_dir) / RAW_LAKE_FOLDER / source / extract


def day_dir(lake_dir: Path | str, table: str, day: dt.date) -> Path:
    return raw_table_dir(lake_dir, table) / f"{DAY_PARTITION}={day.isoformat()}"


def parquet_glob(lake_dir: Path | str, table: str) -> str:
    """The glob every day file of `table` matches (for read_parquet, Spark or ClickHouse)."""
    return str(raw_table_dir(lake_dir, table) / f"{DAY_PARTITION}=*" / "*.parquet")


def lake_days(lake_dir: Path | str, table: str) -> list[dt.date]:
    """The days `table` has a folder for, in order."""
    root = raw_table_dir(lake_dir, table)
    if not root.is_dir():
        return []
    prefix = f"{DAY_PARTITION}="
    return sorted(
        dt.date.fromisoformat(p.name[len(prefix) :])
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(prefix)
    )


def write_raw_days(
    con: duckdb.DuckDBPyConnection,
    table: str,
    days: Iterable[dt.date],
    lake_dir: Path | str,
    schema: str = "raw",
) -> dict[dt.date, int]:
    """Make the lake's folders of `days` hold exactly the rows of `<schema>.<table>` for those
    days (one DuckDB COPY, then one rename per day). Returns the rows written per day; a day with
    no rows is 0 and has no folder afterwards."""
    days = sorted(set(days))
    if not days:
        return {}
    lake_dir = Path(lake_dir)
    target = raw_table_dir(lake_dir, table)
    private_dir(target, root=lake_dir)
    staging = lake_dir / _STAGING_FOLDER / uuid.uuid4().hex
    private_dir(staging, root=lake_dir)
    day_list = ", ".join(f"date '{d.isoformat()}'" for d in days)
    try:
        rows = dict(
            con.execute(
                f"select _partition_date, count(*) from {schema}.{table} "
                f"where _partition_date in ({day_list}) group by all"
            ).fetchall()
        )
        if rows:
            staged = staging / "copy"
            con.execute(
                f"copy (select *, _partition_date as {DAY_PARTITION} from {schema}.{table} "
                f"where _partition_date in ({day_list})) to '{_sql_path(staged)}' "
                f"({_COPY_OPTIONS})"
            )
        for day in days:
            _replace_day(target, staging / "copy" / f"{DAY_PARTITION}={day.isoformat()}", day)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {d: int(rows.get(d, 0)) for d in days}


def _replace_day(target: Path, staged: Path, day: dt.date) -> None:
    """Swap the staged folder of `day` into `target` (or remove the day's folder when nothing was
    staged). The old folder is renamed aside first, so the swap is two renames."""
    final = target / f"{DAY_PARTITION}={day.isoformat()}"
    old = target / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
    had_old = final.exists()
    if had_old:
        os.replace(final, old)
    if staged.is_dir():
        make_private(staged)
        for f in staged.iterdir():
            os.chmod(f, PRIVATE_FILE)
        os.replace(staged, final)
    if had_old:
        shutil.rmtree(old)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
