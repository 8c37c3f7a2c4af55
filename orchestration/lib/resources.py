"""Dagster resources: the build database and the platform's paths and settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.lib.settings import (
    DEFAULT_HASH_SALT,
    duckdb_temp_dir,
    parse_roles,
    parse_sources,
)
from warehouse.connection import connect


class WarehouseResource(dg.ConfigurableResource):
    """The build database (warehouse.connection.connect). With a memory limit
    (SIYU_DUCKDB_MEMORY_LIMIT) big joins spill to `temp_directory` instead of failing."""

    path: str
    memory_limit: str = ""
    temp_directory: str = ""

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(
            self.path,
            read_only=read_only,
            memory_limit=self.memory_limit,
            temp_directory=self.temp_directory,
        ) as con:
            yield con


class SiyuSettingsResource(dg.ConfigurableResource):
    """Paths and settings the assets need, from `Settings.as_strings()` at definitions load.

    Dagster stores resource config with every run, so the secrets are not fields: they are read
    from the process environment when an asset needs them (`read_hash_salt`, `read_pg_dsn`).
    """

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
    dbt_threads: int = 2
    junk_max_accounts: int = 5
    publish_keep_versions: int = 5
    sources: str = "crm,wecom,miniprogram"
    environment: str = "development"
    pg_readers: str = ""
    duckdb_memory_limit: str = ""
    live_dir: str = ""  # SIYU_LIVE_DIR; empty = <data_dir>/live
    lake_dir: str = ""  # SIYU_LAKE_DIR (default <data>/lake); empty = no raw lake (`off`)

    @property
    def live_path(self) -> Path:
        return Path(self.live_dir) if self.live_dir else Path(self.data_dir) / "live"

    @property
    def lake_path(self) -> Path | None:
        return Path(self.lake_dir) if self.lake_dir else None

    @property
    def source_list(self) -> tuple[str, ...]:
        return parse_sources(self.sources)

    @property
    def pg_reader_roles(self) -> tuple[str, ...]:
        return parse_roles(self.pg_readers)

    def read_hash_salt(self) -> str:
        """SIYU_HASH_SALT from the environment (validated when the settings were loaded)."""
        return os.environ.get("SIYU_HASH_SALT") or DEFAULT_HASH_SALT

    def read_pg_dsn(self) -> str | None:
        return os.environ.get("SIYU_PG_DSN") or None

    def dbt_env(self) -> dict[str, str]:
        """Environment the dbt subprocess reads in profiles.yml and dbt_project.yml. The salt is
        inherited from this process's environment and bound by the profile's plugin."""
        return {
            "SIYU_WAREHOUSE_PATH": self.warehouse_path,
            "SIYU_DBT_THREADS": str(self.dbt_threads),
            "SIYU_IDENTITY_JUNK_MAX_ACCOUNTS": str(self.junk_max_accounts),
            "SIYU_ENVIRONMENT": self.environment,
            # the dbt-duckdb plugin sets these on every connection dbt opens
            "SIYU_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "SIYU_DUCKDB_TEMP_DIR": str(duckdb_temp_dir(self.data_dir)),
        }
