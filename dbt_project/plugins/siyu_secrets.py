"""dbt-duckdb plugin: hands the platform's secrets, and the run's day window, to DuckDB as data,
never as SQL text.

The hash salt is read from the environment of the dbt process (`SIYU_HASH_SALT`) and bound as a
parameter of `SET VARIABLE` on every connection and cursor dbt opens; models read it with
`getvariable('siyu_hash_salt')` (macro `salted_hash`). So the salt never appears in a compiled
model, a dbt log, a command line or Dagster's run storage, and an apostrophe or `{{ }}` in it is
just a character. Outside development (`SIYU_ENVIRONMENT`, default `development`) the
development salt is refused.

The run's window of business days [start, end) comes the same way (`SIYU_DBT_WINDOW_START`,
`SIYU_DBT_WINDOW_END`, set by the Dagster dbt step; default: every day) and is read with
`getvariable('siyu_window_start')` (macros/run_window.sql). Passed as `--vars` it would change
dbt's project configuration every run, and dbt re-parses the whole project whenever that changes.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

# Same value as orchestration.lib.settings.DEFAULT_HASH_SALT (a test keeps the two equal).
DEFAULT_HASH_SALT = "siyu-dev-salt-change-me"
SALT_VARIABLE = "siyu_hash_salt"
WINDOW_VARIABLES = {
    # DuckDB variable: (environment variable, default when unset: every day)
    "siyu_window_start": ("SIYU_DBT_WINDOW_START", "1900-01-01"),
    "siyu_window_end": ("SIYU_DBT_WINDOW_END", "2999-12-31"),
}


class SecretSaltError(RuntimeError):
    """The salt cannot be used in this environment."""


def hash_salt_from_env(env: dict[str, str] | os._Environ | None = None) -> str:
    env = os.environ if env is None else env
    salt = env.get("SIYU_HASH_SALT") or DEFAULT_HASH_SALT
    environment = (env.get("SIYU_ENVIRONMENT") or "development").strip().lower()
    if salt == DEFAULT_HASH_SALT and environment != "development":
        raise SecretSaltError(
            f"SIYU_ENVIRONMENT={environment} but SIYU_HASH_SALT is unset or the development salt: "
            "set SIYU_HASH_SALT to the brand's secret salt (every person_id depends on it)"
        )
    return salt


def window_from_env(env: dict[str, str] | os._Environ | None = None) -> dict[str, dt.date]:
    """The run window's DuckDB variables, as dates (a malformed date fails the run at start)."""
    env = os.environ if env is None else env
    out = {}
    for variable, (name, default) in WINDOW_VARIABLES.items():
        text = (env.get(name) or default).strip()
        try:
            out[variable] = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name} must be a date YYYY-MM-DD, got {text!r}") from None
    return out


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        # fail at start-up, before any model runs, when the salt cannot be used
        self._salt = hash_salt_from_env()
        self._window = window_from_env()
        # SIYU_DUCKDB_MEMORY_LIMIT (validated by the platform's settings): dbt's joins spill to
        # SIYU_DUCKDB_TEMP_DIR instead of failing
        self._memory_limit = (os.environ.get("SIYU_DUCKDB_MEMORY_LIMIT") or "").strip()
        self._temp_dir = (os.environ.get("SIYU_DUCKDB_TEMP_DIR") or "").strip()

    def _bind(self, conn) -> None:
        conn.execute(f"set variable {SALT_VARIABLE} = ?", [self._salt])
        for variable, day in self._window.items():
            conn.execute(f"set variable {variable} = ?::date", [day.isoformat()])

    def configure_connection(self, conn) -> None:
        if self._memory_limit:
            conn.execute("set memory_limit = ?", [self._memory_limit])
            if self._temp_dir:
                os.makedirs(self._temp_dir, exist_ok=True)
                conn.execute("set temp_directory = ?", [self._temp_dir])
        self._bind(conn)

    def configure_cursor(self, cursor) -> None:
        # DuckDB variables belong to one connection; dbt's threads each use a cursor
        self._bind(cursor)
