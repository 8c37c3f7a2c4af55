"""Every path and setting of the platform, each from one environment variable.

Read once, when the definitions load or a command starts (never at import time). Secrets (the
hash salt, the PostgreSQL DSN) are read from the environment where they are used and are never
copied into Dagster resource config, which Dagster stores with every run.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DEFAULT_HASH_SALT = "siyu-dev-salt-change-me"
ALL_SOURCES = ("crm", "wecom", "miniprogram")
ENVIRONMENTS = ("development", "production")
# Settings that must never reach resource config, run storage, logs or metadata.
SECRET_FIELDS = ("hash_salt", "pg_dsn")
_ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
# A DuckDB memory size: 512MB, 4GB, 6GiB, 1.5TB
_MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


class SettingsError(ValueError):
    """A setting has a value the platform cannot run with; the message names the variable."""


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
    sources: tuple[str, ...] = ALL_SOURCES  # SIYU_SOURCES, the brand's systems, default all three
    environment: str = "development"  # SIYU_ENVIRONMENT, development or production
    pg_readers: tuple[str, ...] = ()  # SIYU_PG_READERS, roles granted read access on publish
    # SIYU_DUCKDB_MEMORY_LIMIT, e.g. 4GB: the build database's connections (loads, dbt, model
    # reads) stay under it and spill to <data>/duckdb_tmp; unset = DuckDB's 80% of RAM
    duckdb_memory_limit: str = ""
    # SIYU_LIVE_DIR, default <data>/live: the intraday path's database, baseline and publications
    live_dir: Path | None = None
    # SIYU_LAKE_DIR, default <data>/lake; `off` = no lake: the raw tables as date-partitioned
    # Parquet (warehouse.lake) that Spark and ClickHouse read
    lake_dir: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; a bad value raises SettingsError naming it."""
        env = os.environ if env is None else env
        # absolute, not resolved: serving.duckdb and published/ are symlinks to a publication
        data = Path(os.path.abspath(env.get("SIYU_DATA_DIR") or "data"))

        def path(var: str, default: Path) -> Path:
            return Path(os.path.abspath(env[var])) if env.get(var) else default

        settings = cls(
            data_dir=data,
            landing_dir=path("SIYU_LANDING_DIR", data / "landing"),
            quarantine_dir=path("SIYU_QUARANTINE_DIR", data / "quarantine"),
            warehouse_path=path("SIYU_WAREHOUSE_PATH", data / "warehouse.duckdb"),
            serving_path=path("SIYU_SERVING_PATH", data / "serving.duckdb"),
            published_dir=path("SIYU_PUBLISHED_DIR", data / "published"),
            reports_dir=path("SIYU_REPORTS_DIR", data / "reports"),
            models_dir=path("SIYU_MODELS_DIR", data / "models"),
            restricted_dir=path("SIYU_RESTRICTED_DIR", data / "restricted"),
            start_date=_start_date(env.get("SIYU_START_DATE") or "2026-05-01"),
            hash_salt=env.get("SIYU_HASH_SALT") or DEFAULT_HASH_SALT,
            pg_dsn=env.get("SIYU_PG_DSN") or None,
            dbt_threads=_positive_int(env, "SIYU_DBT_THREADS", 2),
            junk_max_accounts=_positive_int(env, "SIYU_IDENTITY_JUNK_MAX_ACCOUNTS", 5),
            publish_keep_versions=_positive_int(env, "SIYU_PUBLISH_KEEP_VERSIONS", 5),
            sources=parse_sources(env.get("SIYU_SOURCES")),
            environment=_environment(env.get("SIYU_ENVIRONMENT")),
            pg_readers=parse_roles(env.get("SIYU_PG_READERS")),
            duckdb_memory_limit=parse_memory_limit(env.get("SIYU_DUCKDB_MEMORY_LIMIT")),
            live_dir=path("SIYU_LIVE_DIR", data / "live"),
            lake_dir=_lake_dir(env.get("SIYU_LAKE_DIR"), data),
        )
        if settings.environment != "development" and settings.hash_salt == DEFAULT_HASH_SALT:
            raise SettingsError(
                f"SIYU_ENVIRONMENT={settings.environment} but SIYU_HASH_SALT is unset or the "
                "development salt: set SIYU_HASH_SALT to the brand's secret salt"
            )
        return settings

    def as_strings(self) -> dict[str, str]:
        """Every setting but the secrets, as the strings Dagster resource config takes."""
        out = {}
        for f in fields(self):
            if f.name in SECRET_FIELDS:
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = ",".join(value)
            out[f.name] = "" if value is None else str(value)
        return out

    def secret_env(self) -> dict[str, str]:
        """The secrets as environment variables, for a subprocess (dbt) that needs them."""
        env = {"SIYU_HASH_SALT": self.hash_salt, "SIYU_ENVIRONMENT": self.environment}
        if self.pg_dsn:
            env["SIYU_PG_DSN"] = self.pg_dsn
        return env


def _lake_dir(text: str | None, data: Path) -> Path | None:
    if text is None or not text.strip():
        return data / "lake"
    if text.strip().lower() == "off":
        return None
    return Path(os.path.abspath(text.strip()))


def parse_sources(text: str | None) -> tuple[str, ...]:
    """SIYU_SOURCES: a comma-separated subset of crm, wecom, miniprogram (default all three)."""
    if text is None or not text.strip():
        return ALL_SOURCES
    names = [s.strip().lower() for s in text.split(",") if s.strip()]
    unknown = sorted(set(names) - set(ALL_SOURCES))
    if unknown:
        raise SettingsError(
            f"SIYU_SOURCES: unknown source(s) {', '.join(unknown)}; "
            f"use a comma-separated subset of {', '.join(ALL_SOURCES)}"
        )
    return tuple(s for s in ALL_SOURCES if s in names)


def parse_memory_limit(text: str | None) -> str:
    """SIYU_DUCKDB_MEMORY_LIMIT: a DuckDB memory size (`4GB`, `512MB`, `6GiB`), or unset."""
    if not text or not text.strip():
        return ""
    value = text.strip()
    if not _MEMORY_SIZE.match(value):
        raise SettingsError(
            f"SIYU_DUCKDB_MEMORY_LIMIT must be a size such as 4GB or 512MB, got {value!r}"
        )
    return value


# SIYU_WECOM_WEBHOOK_URL: a WeCom group robot's webhook (https://qyapi.weixin.qq.com/cgi-bin/
# webhook/send?key=...) that receives an alert for every failed run; unset = alerts are only
# recorded in <data>/alerts/alerts.jsonl. Its key is a secret: it is read at send time
# (`wecom_webhook_url`) and is not a Settings field, so it never reaches resource config.
WECOM_WEBHOOK_ENV = "SIYU_WECOM_WEBHOOK_URL"


def wecom_webhook_url(env: Mapping[str, str] | None = None) -> str | None:
    """The alert webhook from the environment at the moment of sending, or None when unset."""
    env = os.environ if env is None else env
    return (env.get(WECOM_WEBHOOK_ENV) or "").strip() or None


def alerts_path(data_dir: Path | str) -> Path:
    """Where run-failure alerts are recorded, one JSON object a line: <data>/alerts/alerts.jsonl."""
    return Path(data_dir) / "alerts" / "alerts.jsonl"


def duckdb_temp_dir(data_dir: Path | str) -> Path:
    """Where DuckDB spills what does not fit its memory limit: <data>/duckdb_tmp."""
    return Path(data_dir) / "duckdb_tmp"


def parse_roles(text: str | None) -> tuple[str, ...]:
    """SIYU_PG_READERS: comma-separated PostgreSQL role names (letters, digits, _ and $)."""
    if not text or not text.strip():
        return ()
    roles = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in roles if not _ROLE_NAME.match(r)]
    if bad:
        raise SettingsError(f"SIYU_PG_READERS: not a plain role name: {bad[0]!r}")
    return tuple(dict.fromkeys(roles))


def _positive_int(env: Mapping[str, str], var: str, default: int) -> int:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{var} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise SettingsError(f"{var} must be at least 1, got {value}")
    return value


def _start_date(raw: str) -> str:
    try:
        return dt.date.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        raise SettingsError(f"SIYU_START_DATE must be a date YYYY-MM-DD, got {raw!r}") from None


def _environment(raw: str | None) -> str:
    value = (raw or "development").strip().lower()
    if value not in ENVIRONMENTS:
        raise SettingsError(
            f"SIYU_ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, got {raw!r}"
        )
    return value
