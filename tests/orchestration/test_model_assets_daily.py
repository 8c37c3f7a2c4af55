"""A brand that cannot train its models yet, through the real jobs: the daily job's marts (real
dbt), the monthly_models job, then the daily job's scoring and dbt after-ML marts.

The brand: `siyu generate` with 300 persons over 30 days, reduced to CRM only (the WeCom and
mini-program folders deleted) with no interactions at all (the SMS sends deleted too), so
fct_interactions is empty, churn has no complete monthly snapshot and CLV too few repeat buyers.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import dagster as dg
import duckdb
import pytest

from orchestration.lib.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from orchestration.lib.settings import REPO_ROOT
from tests.conftest import make_settings, run_daily, step_errors

pytestmark = pytest.mark.slow

FIRST_DAY = dt.date(2026, 5, 1)
LAST_DAY = dt.date(2026, 5, 30)
SIYU = REPO_ROOT / ".venv" / "bin" / "siyu"
MODEL_OUTPUTS = [
    "ml/user_segments",
    "ml/user_churn_scores",
    "ml/user_clv",
    "ml/registration_forecast",
]
AFTER_ML_MARTS = [
    "marts/user_segments",
    "marts/user_churn_scores",
    "marts/user_ltv",
    "marts/registration_forecast",
]


@pytest.fixture(scope="module")
def crm_only_brand(tmp_path_factory):
    data = tmp_path_factory.mktemp("crm_only_30_days")
    landing = data / "landing"
    subprocess.run(
        [
            str(SIYU),
            "generate",
            "--persons",
            "300",
            "--days",
            "30",
            "--out",
            str(landing),
            "--no-progress",
        ],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(landing / "wecom")
    shutil.rmtree(landing / "miniprogram")
    for sends in landing.glob("crm/*/sms_sends*.csv"):
        sends.unlink()
    settings = make_settings(data)
    marts = run_daily(settings, FIRST_DAY, LAST_DAY, marts_only=True)
    assert marts.success, step_errors(marts)
    return settings


def _count(con, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchone()[0]


def _ml_metadata(result, key: str) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey.from_user_string(key)
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_crm_only_brand_of_30_days_trains_what_it_can_and_builds_the_after_ml_marts(
    crm_only_brand,
):
    from orchestration.definitions import build_definitions

    settings = crm_only_brand
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert _count(con, "marts.fct_interactions") == 0
        persons = _count(con, "marts.dim_users")
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()

    monthly = defs.resolve_job_def("monthly_models").execute_in_process(
        partition_key="2026-05-01", instance=instance, raise_on_error=False
    )

    assert monthly.success, step_errors(monthly)
    (check,) = monthly.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["reason"].value.startswith(
        "not trained, nothing promoted: not enough history (2026-05-01 .. 2026-05-30): 0 monthly "
        "snapshot(s)"
    )

    selection = [dg.AssetKey.from_user_string(k) for k in MODEL_OUTPUTS + AFTER_ML_MARTS]
    daily = defs.resolve_job_def("daily").execute_in_process(
        instance=instance,
        tags={
            PARTITION_RANGE_START_TAG: LAST_DAY.isoformat(),
            PARTITION_RANGE_END_TAG: LAST_DAY.isoformat(),
        },
        asset_selection=selection,
        raise_on_error=False,
    )

    assert daily.success, step_errors(daily)
    churn = _ml_metadata(daily, "ml/user_churn_scores")
    assert churn["reason"].startswith(
        "no promoted churn model: the last training was skipped: not enough history"
    )
    assert _ml_metadata(daily, "ml/user_clv")["reason"].startswith(
        "CLV not fitted: too few repeat buyers"
    )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert _count(con, "marts.user_churn_scores") == 0
        segments = dict(
            con.execute("select segment, count(*) from marts.user_segments group by 1").fetchall()
        )
        ltv = con.execute(
            "select count(*), count(clv_365d), count(ltv_formula) from marts.user_ltv"
        ).fetchone()
        forecast_days = con.execute(
            "select min(date), max(date) from marts.registration_forecast"
        ).fetchone()
    # every person segmented; without interactions nobody shares, so no content_sharing
    assert sum(segments.values()) == persons
    assert "content_sharing" not in segments and segments.get("insufficient_data", 0) > 0
    # the formula LTV is there for everyone, the probabilistic CLV for nobody (not fitted)
    assert ltv == (persons, 0, persons)
    assert forecast_days == (LAST_DAY + dt.timedelta(days=1), LAST_DAY + dt.timedelta(days=28))
