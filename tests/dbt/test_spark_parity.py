"""The same dbt project on Spark (dbt-spark, session method) gives DuckDB's published tables.

A small brand (`siyu generate`, 300 persons x 40 days, all three systems) runs through the real
platform on DuckDB (`run_platform`, what `siyu run` does: ingestion, which also writes the raw
lake, inbound intents, dbt, model training and scoring, the after-ML dbt step, audit and
publication). Its ml tables are then exported as Parquet beside the lake (tests/dbt/spark_lake.py),
and one `dbt build --target spark` builds the whole project in one local Spark session from the
lake the platform wrote (dbt_project/macros/cross_db/spark_sources.sql registers the sources), with the
run window the platform's dbt step had. Every table of schema marts (the data contract's tables and
the other published marts) and intermediate.identity_map must then hold the same rows on both
engines: text, dates, timestamps and flags equal, numbers to 1e-9 (money to the cent). Every dbt
data test passes on Spark too (identity convergence among them), and the salt, passed through the
environment only, is in no file dbt wrote and in none of its console output.

Runs with the `spark` extra and Java 17 (`make test-spark`); without pyspark it is skipped.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import time
from contextlib import redirect_stderr
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_settings
from tests.dbt.spark_lake import export_ml, raw_lake_rows

pytest.importorskip("pyspark", reason="needs the spark extra: make test-spark")
pytest.importorskip("dbt.adapters.spark", reason="needs the spark extra: make test-spark")

pytestmark = [pytest.mark.slow, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
DBT = REPO / ".venv" / "bin" / "dbt"
# pasted into SQL it would break it or change it: it must only ever be data
SALT = "spark-parity's {{ 6 * 7 }} | 盐"
TOLERANCE = 1e-9
# Tables whose Spark rows are allowed to differ, with the reason (none today).
KNOWN_DIFFERENCES: dict[str, str] = {}


@dataclass(frozen=True)
class Builds:
    data: Path
    duckdb_path: Path
    spark_warehouse: Path
    spark_results: dict
    spark_output: str
    spark_files: Path
    spark_seconds: float
    duckdb_seconds: float


def _spark_env(data: Path, lake: Path, start: dt.date, end: dt.date) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update(
        SIYU_DBT_TARGET="spark",
        SIYU_DATA_DIR=str(data),
        SIYU_LAKE_DIR=str(lake),
        SIYU_SPARK_DIR=str(data / "spark"),
        SIYU_HASH_SALT=SALT,
        # the window the platform's dbt step built the marts with
        SIYU_DBT_WINDOW_START=start.isoformat(),
        SIYU_DBT_WINDOW_END=(end + dt.timedelta(days=1)).isoformat(),
        SPARK_LOCAL_IP=os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
    )
    return env


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> Builds:
    import dagster as dg

    from orchestration.cli import landed_days, run_platform
    from orchestration.cli import main as siyu

    data = tmp_path_factory.mktemp("spark_parity")
    generate = ["generate", "--persons", "300", "--days", "40", "--start", "2026-05-01",
                "--seed", "7", "--out", str(data / "landing"), "--no-progress"]  # fmt: skip
    assert siyu(generate) == 0

    started = time.monotonic()
    env = pytest.MonkeyPatch()
    env.setenv("SIYU_HASH_SALT", SALT)  # read by the dbt subprocess of the platform's dbt step
    env.delenv("DAGSTER_HOME", raising=False)
    settings = make_settings(data, SIYU_HASH_SALT=SALT)
    days = landed_days(settings.landing_dir, settings.sources)
    console = io.StringIO()
    try:
        with dg.DagsterInstance.ephemeral() as instance, redirect_stderr(console):
            code = run_platform(settings, days[0], days[-1], instance, log_path=data / "run.log")
    finally:
        env.undo()
    assert code == 0, console.getvalue()[-3000:]
    duckdb_seconds = time.monotonic() - started

    # the raw lake as the platform's loads wrote it (SIYU_LAKE_DIR, default <data>/lake)
    lake = settings.lake_dir
    raw = raw_lake_rows(settings.warehouse_path, lake)
    assert len(raw) == 13 and all(db == in_lake > 0 for db, in_lake in raw.values()), raw
    written = export_ml(settings.warehouse_path, lake)
    assert written["user_segments"] > 0 and written["inbound_message_intents"] > 0, written

    files = data / "spark_dbt"
    started = time.monotonic()
    result = subprocess.run(
        [str(DBT), "build", "--target", "spark", "--project-dir", ".", "--profiles-dir", ".",
         "--target-path", str(files / "target"), "--log-path", str(files / "logs")],
        cwd=DBT_PROJECT, env=_spark_env(data, lake, days[0], days[-1]),
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    spark_seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    results_file = files / "target" / "run_results.json"
    assert results_file.exists(), output[-5000:]
    return Builds(
        data=data,
        duckdb_path=settings.warehouse_path,
        spark_warehouse=data / "spark" / "warehouse",
        spark_results=json.loads(results_file.read_text()),
        spark_output=output,
        spark_files=files,
        spark_seconds=spark_seconds,
        duckdb_seconds=duckdb_seconds,
    )


def test_every_node_builds_and_every_data_test_passes_on_spark(builds):
    failed = [
        (r["unique_id"], r["status"], (r.get("message") or "")[:300])
        for r in builds.spark_results["results"]
        if r["status"] not in ("success", "pass")
    ]
    assert not failed, failed
    ids = {r["unique_id"] for r in builds.spark_results["results"]}
    assert "test.siyu.assert_identity_components_converged" in ids
    print(
        f"DuckDB platform run {builds.duckdb_seconds:.0f} s, Spark dbt build {builds.spark_seconds:.0f} s"
    )


def _published_tables(con) -> list[tuple[str, str]]:
    marts = con.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
    ).fetchall()
    return [("marts", t) for (t,) in marts] + [("intermediate", "identity_map")]


def _spark_table(con, builds: Builds, schema: str, table: str) -> pd.DataFrame | None:
    """A Spark table's rows, read from its Parquet folder (<warehouse>/<schema>.db/<table>)."""
    folder = builds.spark_warehouse / f"{schema}.db" / table
    if not folder.is_dir():
        return None
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        return pd.DataFrame()
    return con.execute("select * from read_parquet(?)", [files]).df()


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for column in sorted(frame.columns):
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            out[column] = values.astype("datetime64[us]")
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            out[column] = values.astype("float64")
        else:
            non_null = values.dropna()
            if len(non_null) and all(
                isinstance(v, (int, float, np.number)) or type(v).__name__ == "Decimal"
                for v in non_null
            ):
                out[column] = pd.to_numeric(values.astype(object), errors="raise").astype("float64")
            elif len(non_null) and all(isinstance(v, dt.date) for v in non_null):
                out[column] = pd.to_datetime(values).astype("datetime64[us]")
            else:
                out[column] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(out)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order: exact columns first, numbers rounded (1e-6) after them."""
    keys = frame.copy()
    order = []
    for column in frame.columns:
        key = f"__key_{column}"
        if frame[column].dtype == "float64":
            keys[key] = frame[column].round(6).fillna(-1e300)
        else:
            keys[key] = frame[column].astype(str)
            order.append(key)
    order += [c for c in keys.columns if c.startswith("__key_") and c not in order]
    return frame.loc[keys.sort_values(order, kind="stable").index].reset_index(drop=True)


def _differences(duck: pd.DataFrame, spark: pd.DataFrame) -> list[str]:
    if sorted(duck.columns) != sorted(spark.columns):
        return [f"columns: DuckDB {sorted(duck.columns)} Spark {sorted(spark.columns)}"]
    if len(duck) != len(spark):
        return [f"rows: DuckDB {len(duck)} Spark {len(spark)}"]
    if duck.empty:
        return []
    duck, spark = _sorted(_normalised(duck)), _sorted(_normalised(spark))
    problems = []
    for column in duck.columns:
        a, b = duck[column], spark[column]
        if a.dtype == "float64" or b.dtype == "float64":
            a, b = a.astype("float64"), b.astype("float64")
            same = np.isclose(a, b, rtol=TOLERANCE, atol=TOLERANCE) | (a.isna() & b.isna())
        else:
            same = (a == b) | (a.isna() & b.isna())
        if not same.all():
            first = int(np.flatnonzero(~np.asarray(same))[0])
            problems.append(
                f"{column}: {int((~same).sum())} rows differ, e.g. DuckDB {a.iloc[first]!r} "
                f"Spark {b.iloc[first]!r}"
            )
    return problems


def test_every_published_table_and_identity_map_equal_duckdb(builds):
    con = duckdb.connect(str(builds.duckdb_path), read_only=True)
    try:
        tables = _published_tables(con)
        compared, mismatched = [], {}
        for schema, table in tables:
            duck = con.execute(f"select * from {schema}.{table}").df()
            spark = _spark_table(con, builds, schema, table)
            if spark is None:
                mismatched[table] = ["not built on Spark"]
                continue
            if spark.empty and spark.columns.empty:
                spark = duck.iloc[0:0]  # an empty table without a file: its rows are compared
                if len(duck):
                    mismatched[table] = [f"rows: DuckDB {len(duck)} Spark 0"]
                    continue
            problems = _differences(duck, spark)
            if problems:
                mismatched[table] = problems
            compared.append((table, len(duck)))
    finally:
        con.close()
    unexpected = {t: p for t, p in mismatched.items() if t not in KNOWN_DIFFERENCES}
    assert not unexpected, unexpected
    # the data contract's tables are all among them, with rows
    contract = {"dim_users", "fct_orders", "fct_interactions", "user_rfm", "retention_cohorts",
                "retention_summary", "interaction_retention", "engagement_daily", "user_ltv",
                "experiment_results", "kpi_daily", "user_segments", "user_churn_scores",
                "next_best_actions", "registration_forecast", "identity_map"}  # fmt: skip
    assert contract <= {t for t, _ in compared}
    empty = {t for t, n in compared if n == 0}
    # no churn model trains on 40 days (it needs two monthly snapshots with complete windows)
    assert empty <= {"user_churn_scores"}, empty
    print("compared:", ", ".join(f"{t} ({n})" for t, n in compared))


def test_identity_resolution_converges_to_the_same_persons_on_spark(builds):
    con = duckdb.connect(str(builds.duckdb_path), read_only=True)
    try:
        duck = con.execute(
            "select id_type, id_value, person_id from intermediate.identity_map"
        ).df()
        spark = _spark_table(con, builds, "intermediate", "identity_map")
    finally:
        con.close()
    merged = duck.merge(spark, on=["id_type", "id_value"], how="outer", suffixes=("_duck", "_spark"),
                        indicator=True)  # fmt: skip
    assert (merged["_merge"] == "both").all()
    same = (merged["person_id_duck"] == merged["person_id_spark"]) | (
        merged["person_id_duck"].isna() & merged["person_id_spark"].isna()
    )
    assert same.all(), merged[~same].head()
    assert duck["person_id"].nunique() > 100


def test_the_salt_is_in_no_file_or_output_of_the_spark_build(builds):
    assert SALT not in builds.spark_output
    leaks = []
    for path in builds.spark_files.rglob("*"):
        if path.is_file() and SALT.encode() in path.read_bytes():
            leaks.append(str(path))
    assert not leaks, leaks
    # the compiled models name the environment variable, never its value
    compiled = builds.spark_files / "target" / "compiled" / "siyu" / "models"
    identity_map = compiled / "intermediate" / "identity" / "identity_map.sql"
    assert "getenv', 'SIYU_HASH_SALT'" in identity_map.read_text()
