"""Dagster resources: the build database and the platform's paths and settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb


class WarehouseResource(dg.ConfigurableResource):
    """The build database. Connections are short-lived: dbt runs in a subprocess and DuckDB
    allows one writing process, so no asset keeps a connection open across steps."""

    path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path, read_only=read_only)
        try:
            yield con
        finally:
            con.close()


class SiyuSettingsResource(dg.ConfigurableResource):
    """Paths and settings the assets need, from `Settings.from_env()` at definitions load."""

    data_dir: str
    landing_dir: str
    quarantine_dir: str
    warehouse_path: str
    serving_path: str
    published_dir: str
    reports_dir: str
    models_dir: str
    restricted_dir: str
    start_date: str
    hash_salt: str
    pg_dsn: str = ""
    dbt_threads: int = 2
    junk_max_accounts: int = 5
    publish_keep_versions: int = 5

    def dbt_env(self) -> dict[str, str]:
        """Environment the dbt subprocess reads in profiles.yml."""
        return {
            "SIYU_WAREHOUSE_PATH": self.warehouse_path,
            "SIYU_DBT_THREADS": str(self.dbt_threads),
        }
