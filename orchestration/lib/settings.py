"""Every path and setting of the platform, each from one environment variable.

Read once, when the definitions load or a command starts (never at import time).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DEFAULT_HASH_SALT = "siyu-dev-salt-change-me"


@dataclass(frozen=True)
class Settings:
    """Documented in the README's configuration table; the env var is in each field's comment."""

    data_dir: Path  # SIYU_DATA_DIR, default ./data
    landing_dir: Path  # SIYU_LANDING_DIR, default <data>/landing
    quarantine_dir: Path  # SIYU_QUARANTINE_DIR, default <data>/quarantine
    warehouse_path: Path  # SIYU_WAREHOUSE_PATH, default <data>/warehouse.duckdb
    serving_path: Path  # SIYU_SERVING_PATH, default <data>/serving.duckdb
    published_dir: Path  # SIYU_PUBLISHED_DIR, default <data>/published
    reports_dir: Path  # SIYU_REPORTS_DIR, default <data>/reports
    models_dir: Path  # SIYU_MODELS_DIR, default <data>/models
    restricted_dir: Path  # SIYU_RESTRICTED_DIR, default <data>/restricted
    start_date: str  # SIYU_START_DATE, first daily partition, default 2026-05-01
    hash_salt: str  # SIYU_HASH_SALT, secret salt for pseudonymous keys
    pg_dsn: str | None  # SIYU_PG_DSN, PostgreSQL to publish to; unset = no PostgreSQL
    dbt_threads: int  # SIYU_DBT_THREADS, default 2
    junk_max_accounts: int  # SIYU_IDENTITY_JUNK_MAX_ACCOUNTS, default 5
    publish_keep_versions: int  # SIYU_PUBLISH_KEEP_VERSIONS, default 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        # absolute, not resolved: serving.duckdb and published/ are symlinks to a publication
        data = Path(os.path.abspath(env.get("SIYU_DATA_DIR", "data")))

        def path(var: str, default: Path) -> Path:
            return Path(os.path.abspath(env[var])) if env.get(var) else default

        return cls(
            data_dir=data,
            landing_dir=path("SIYU_LANDING_DIR", data / "landing"),
            quarantine_dir=path("SIYU_QUARANTINE_DIR", data / "quarantine"),
            warehouse_path=path("SIYU_WAREHOUSE_PATH", data / "warehouse.duckdb"),
            serving_path=path("SIYU_SERVING_PATH", data / "serving.duckdb"),
            published_dir=path("SIYU_PUBLISHED_DIR", data / "published"),
            reports_dir=path("SIYU_REPORTS_DIR", data / "reports"),
            models_dir=path("SIYU_MODELS_DIR", data / "models"),
            restricted_dir=path("SIYU_RESTRICTED_DIR", data / "restricted"),
            start_date=env.get("SIYU_START_DATE", "2026-05-01"),
            hash_salt=env.get("SIYU_HASH_SALT", DEFAULT_HASH_SALT),
            pg_dsn=env.get("SIYU_PG_DSN") or None,
            dbt_threads=int(env.get("SIYU_DBT_THREADS", "2")),
            junk_max_accounts=int(env.get("SIYU_IDENTITY_JUNK_MAX_ACCOUNTS", "5")),
            publish_keep_versions=int(env.get("SIYU_PUBLISH_KEEP_VERSIONS", "5")),
        )

    def as_strings(self) -> dict[str, str]:
        return {
            f.name: "" if getattr(self, f.name) is None else str(getattr(self, f.name))
            for f in fields(self)
        }
