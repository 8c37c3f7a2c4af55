"""Publication of the marts: gated by the caller, atomic for readers, versioned, rollbackable.

``publish`` copies the published tables from the build database into a new versioned DuckDB file
and Parquet folder and swaps them in atomically (and, with a DSN, into PostgreSQL schema
``marts``); ``rollback`` makes a kept version live again; ``read_log`` is the publication history.
No Dagster here: the orchestration layer calls these after its blocking checks pass.
"""

from publishing.log import read_log, record_blocked
from publishing.serving import (
    PUBLICATION_TABLE,
    VERSION_COLUMN,
    Publication,
    PublishError,
    list_versions,
    live_parquet_dir,
    live_version,
    publish,
    rollback,
)

__all__ = [
    "PUBLICATION_TABLE",
    "VERSION_COLUMN",
    "Publication",
    "PublishError",
    "list_versions",
    "live_parquet_dir",
    "live_version",
    "publish",
    "read_log",
    "record_blocked",
    "rollback",
]
