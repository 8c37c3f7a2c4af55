"""The code location loads, and its asset keys and checks are what we publish (a rename shows)."""

import dagster as dg

from tests.conftest import make_settings

EXPECTED_ASSET_KEYS = {
    "raw/extracts",
    "intermediate/identity_map",
    "marts/dim_users",
    "marts/fct_orders",
    "marts/fct_interactions",
}


def _defs(tmp_path):
    from orchestration.definitions import build_definitions

    return build_definitions(make_settings(tmp_path))


def test_definitions_load_and_validate(tmp_path):
    defs = _defs(tmp_path)
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("daily") is not None
    assert {s.name for s in defs.schedules} >= {"daily_at_0600_shanghai"}
    assert {s.name for s in defs.sensors} >= {"new_landing_day"}


def test_asset_keys_snapshot(tmp_path):
    keys = {k.to_user_string() for k in _defs(tmp_path).resolve_asset_graph().get_all_asset_keys()}
    missing = EXPECTED_ASSET_KEYS - keys
    assert not missing, missing


def test_schedule_runs_previous_day_at_0600_shanghai(tmp_path):
    schedule = next(s for s in _defs(tmp_path).schedules if s.name == "daily_at_0600_shanghai")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"


def test_identity_checks_come_from_dbt_tests(tmp_path):
    graph = _defs(tmp_path).resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("marts/dim_users", "unique_dim_users_person_id") in checks
    assert ("marts/fct_orders", "unique_fct_orders_order_id") in checks


def test_every_raw_table_is_the_one_ingestion_asset(tmp_path):
    """dbt's raw sources all map to raw/extracts: one asset, two events per day, whatever the
    number of extracts (orchestration/defs/ingestion.py)."""
    graph = _defs(tmp_path).resolve_asset_graph()
    children = {k.to_user_string() for k in graph.get(dg.AssetKey(["raw", "extracts"])).child_keys}
    assert {"staging/stg_crm__orders", "staging/stg_wecom__messages"} <= children
    staging = {k for k in children if k.startswith("staging/")}
    assert len(staging) == 13  # the 12 extracts and miniprogram visit_stats (issue 14)
    # and the intent step, which classifies the raw inbound messages before dbt runs
    assert children - staging == {"ml/inbound_message_intents"}
    assert not [
        k for k in graph.get_all_asset_keys() if k.path[0] == "raw" and k.path[1] != "extracts"
    ]


def test_a_crm_only_brand_runs_the_same_job(tmp_path):
    """SIYU_SOURCES=crm: raw/extracts loads only the CRM (tests/integration/test_shapes_crm.py)."""
    from orchestration.definitions import build_definitions

    defs = build_definitions(make_settings(tmp_path, SIYU_SOURCES="crm"))
    job_keys = {
        k.to_user_string() for k in defs.resolve_job_def("daily").asset_layer.executable_asset_keys
    }
    assert {"raw/extracts", "marts/dim_users"} <= job_keys
