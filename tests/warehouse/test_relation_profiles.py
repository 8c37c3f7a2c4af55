"""warehouse.tables.relation_profiles (what every dbt materialisation shows in the UI) and its
attachment to dbt events (orchestration/lib/dbt_metadata.py), on a real DuckDB file."""

import dagster as dg
import duckdb

from orchestration.lib.dbt_metadata import event_relation, with_table_metadata
from warehouse.tables import RelationProfile, relation_profiles


def _warehouse(path):
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute('create table marts.user_rfm (person_id varchar, "as of" date, score integer)')
    con.execute("insert into marts.user_rfm values ('a', date '2026-01-01', 5), ('b', null, 1)")
    con.execute("create table marts.empty_mart (n bigint)")
    con.execute("create view marts.rfm_view as select person_id from marts.user_rfm")
    con.execute("create schema other")
    con.execute("create table other.user_rfm (x double)")
    return con


def test_counts_tables_types_columns_in_order_and_leaves_views_uncounted(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb")
    profiles = relation_profiles(
        con,
        [("marts", "user_rfm"), ("marts", "empty_mart"), ("marts", "rfm_view"), ("marts", "gone")],
    )
    assert profiles == {
        ("marts", "user_rfm"): RelationProfile(
            2, (("person_id", "VARCHAR"), ("as of", "DATE"), ("score", "INTEGER"))
        ),
        ("marts", "empty_mart"): RelationProfile(0, (("n", "BIGINT"),)),
        ("marts", "rfm_view"): RelationProfile(None, (("person_id", "VARCHAR"),)),
    }
    assert relation_profiles(con, []) == {}


def test_events_get_their_relations_metadata_and_checks_pass_through(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb")
    manifest = {
        "metadata": {"adapter_type": "duckdb"},
        "nodes": {
            "model.siyu.user_rfm": {"schema": "marts", "alias": "user_rfm", "name": "user_rfm"},
            "model.siyu.rfm_view": {"schema": "marts", "alias": None, "name": "rfm_view"},
        },
    }
    built = dg.Output(None, "user_rfm", metadata={"unique_id": "model.siyu.user_rfm", "k": 1})
    view = dg.AssetMaterialization("rfm_view", metadata={"unique_id": "model.siyu.rfm_view"})
    check = dg.AssetCheckResult(passed=True, asset_key="user_rfm", check_name="unique_person_id")
    events = [built, view, check]
    relations = [event_relation(event, manifest) for event in events]
    assert relations == [("marts", "user_rfm"), ("marts", "rfm_view"), None]
    out = list(with_table_metadata(events, manifest, relation_profiles(con, relations[:2])))

    assert out[0].metadata["dagster/row_count"].value == 2
    assert out[0].metadata["k"].value == 1  # dbt's own metadata is kept
    assert [(c.name, c.type) for c in out[0].metadata["dagster/column_schema"].value.columns] == [
        ("person_id", "VARCHAR"),
        ("as of", "DATE"),
        ("score", "INTEGER"),
    ]
    assert out[0].metadata["dagster/storage_kind"].value == "duckdb"
    assert "dagster/row_count" not in out[1].metadata  # a view is not counted
    assert out[1].metadata["dagster/column_schema"].value.columns[0].name == "person_id"
    assert out[2] is check
