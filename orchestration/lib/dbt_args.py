"""Pure builders for the dbt command line: unit-tested without running dbt."""

from __future__ import annotations

import datetime as dt
import json


def dbt_vars(window_start: dt.date | None, window_end: dt.date | None) -> dict[str, object]:
    """`--vars` for a hand-run dbt over the business days [window_start, window_end); they take
    precedence over the window Dagster hands dbt as data (`dbt_window_env`, macros/run_window.sql).

    Without a window incremental models take every loaded day. Settings reach dbt through its
    environment (dbt_project.yml, profiles.yml), and secrets never go on the command line, which
    Dagster logs and stores with the run.
    """
    out: dict[str, object] = {}
    if window_start is not None and window_end is not None:
        if window_end <= window_start:
            raise ValueError(f"empty partition window {window_start} .. {window_end}")
        out["min_date"] = window_start.isoformat()
        out["max_date"] = window_end.isoformat()
    return out


def dbt_window_env(window_start: dt.date | None, window_end: dt.date | None) -> dict[str, str]:
    """The run window for the dbt subprocess's environment: the dbt-duckdb plugin binds it as
    DuckDB variables (dbt_project/plugins/siyu_secrets.py). Not `--vars`: a var that changes every
    run makes dbt re-parse the whole project every run. Without a window, every loaded day."""
    window = dbt_vars(window_start, window_end)
    if not window:
        return {}
    return {"SIYU_DBT_WINDOW_START": window["min_date"], "SIYU_DBT_WINDOW_END": window["max_date"]}


def dbt_build_args(vars_: dict[str, object], full_refresh: bool = False) -> list[str]:
    args = ["build"]
    if vars_:
        args += ["--vars", json.dumps(vars_, sort_keys=True)]
    if full_refresh:
        args.append("--full-refresh")
    return args
