"""The dbt unit tests (`unit_tests:` in the project's yml: the next-best-action rules, the RFM
tiers, the over-touch rule) run for real: `dbt test --select test_type:unit` on a warehouse
whose relations exist but are empty (`dbt build --empty`: a unit test reads its inputs' column
types from them). Each unit test must pass; and one with a wrong expectation must fail, so the
run is known to check something."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from ingestion.entities import ENTITIES
from ingestion.loader import ensure_raw_tables
from ml.workflows.contract import ML_TABLE_COLUMNS, ml_frame

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
DBT = REPO / ".venv" / "bin" / "dbt"
# the rule models each must have a unit test (the brief of the dbt project's tidy-up)
RULE_MODELS = {
    "int_activation__chosen_rules",
    "int_activation__capped_actions",
    "int_activation__frequency_caps",
    "int_activation__send_windows",
    "user_rfm",
    "engagement_daily",
}


def dbt(project: Path, db: Path, target: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(target),
        "SIYU_WAREHOUSE_PATH": str(db),
        "SIYU_DBT_THREADS": "4",
        "DBT_LOG_PATH": str(target / "logs"),
    }
    return subprocess.run(
        [str(DBT), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )


def empty_warehouse(db: Path) -> None:
    """Every raw and ml table the sources name, empty and typed as the platform writes them."""
    con = duckdb.connect(str(db))
    try:
        for entity in ENTITIES:
            ensure_raw_tables(con, entity)
        con.execute("create schema if not exists ml")
        for table in ML_TABLE_COLUMNS:
            frame = ml_frame(table)
            con.register("_empty", frame)
            con.execute(f"create or replace table ml.{table} as select * from _empty")
            con.unregister("_empty")
    finally:
        con.close()


def unit_results(target: Path) -> dict[str, str]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unit")
    db = tmp / "warehouse.duckdb"
    empty_warehouse(db)
    proc = dbt(DBT_PROJECT, db, tmp / "target", "build", "--empty", "--exclude", "test_type:unit")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return tmp, db


def test_unit_tests_pass(built):
    tmp, db = built
    target = tmp / "target_unit"
    proc = dbt(DBT_PROJECT, db, target, "test", "--select", "test_type:unit")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    results = unit_results(target)
    tested = {uid.split(".")[2] for uid in results}
    assert tested >= RULE_MODELS, f"rule models without a unit test: {RULE_MODELS - tested}"
    assert set(results.values()) == {"pass"}, results


def test_a_wrong_expectation_fails(built, tmp_path):
    """The same run on a copy of the project whose RFM tier expectation is wrong fails that test."""
    tmp, db = built
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    spec = project / "models" / "marts" / "measurement" / "_measurement__unit_tests.yml"
    text = spec.read_text(encoding="utf-8")
    right = "r3_score: 1, m3_score: 1, rfm_tier: churned"
    assert right in text
    spec.write_text(
        text.replace(right, "r3_score: 1, m3_score: 1, rfm_tier: other"), encoding="utf-8"
    )
    target = tmp_path / "target"
    proc = dbt(project, db, target, "test", "--select", "test_type:unit")
    assert proc.returncode != 0
    failed = {uid for uid, status in unit_results(target).items() if status != "pass"}
    assert failed == {"unit_test.siyu.user_rfm.rfm_tiers_from_recency_and_monetary_thirds"}
