"""What the UI shows on every dbt asset (issue 11): the row count and the typed column schema of
its materialisation, read back from a real daily run's event log and compared with the tables
the run built, and an owner on every asset of the definitions."""

import dagster as dg
import duckdb
import pytest

from tests.conftest import make_settings, run_daily, step_errors
from tests.fixtures.tiny_landing import DAY1, DAY2, write_tiny_landing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run_with_events(tmp_path_factory):
    data = tmp_path_factory.mktemp("tiny_metadata")
    write_tiny_landing(data / "landing")
    settings = make_settings(data)
    instance = dg.DagsterInstance.ephemeral()
    result = run_daily(settings, DAY1, DAY2, instance=instance, marts_only=True)
    assert result.success, step_errors(result)
    return settings, instance


def _latest_metadata(instance, key: dg.AssetKey) -> dict:
    event = instance.get_latest_materialization_event(key)
    assert event is not None, f"{key.to_user_string()} was not materialised"
    return event.asset_materialization.metadata


def _warehouse_tables(settings) -> dict[str, tuple[int, list[tuple[str, str]]]]:
    """schema/table -> (rows, [(column, type)]) for every table and view dbt built."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema in ('staging', 'intermediate', 'marts') "
            "order by table_schema, table_name, ordinal_position"
        ).fetchall()
        tables: dict[str, tuple[int, list[tuple[str, str]]]] = {}
        for schema, table, column, data_type in columns:
            name = f"{schema}/{table}"
            if name not in tables:
                rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                tables[name] = (rows, [])
            tables[name][1].append((column, data_type))
    return tables


def test_every_mart_and_staging_model_carries_its_row_count_and_typed_columns(
    tiny_run_with_events,
):
    settings, instance = tiny_run_with_events
    tables = _warehouse_tables(settings)
    marts = sorted(name for name in tables if name.startswith("marts/"))
    assert len(marts) >= 10, marts  # the run built the published marts
    checked = [name for name in tables if name.split("/")[0] in ("marts", "staging")]
    for name in checked:
        rows, columns = tables[name]
        metadata = _latest_metadata(instance, dg.AssetKey(name.split("/")))
        assert metadata["dagster/row_count"].value == rows, name
        schema = metadata["dagster/column_schema"].value
        shown = [(column.name, column.type) for column in schema.columns]
        assert [column for column, _ in shown] == [column for column, _ in columns], name
        # every column is typed, with the warehouse's type (dagster-dbt may add a length)
        for (column, shown_type), (_, data_type) in zip(shown, columns, strict=True):
            assert shown_type, f"{name}.{column} has no type"
            assert shown_type.upper().split("(")[0] in {
                data_type.upper().split("(")[0],
                "CHARACTER VARYING" if data_type.upper() == "VARCHAR" else data_type.upper(),
            }, (name, column, shown_type, data_type)


def test_every_asset_has_an_owner(tmp_path):
    from orchestration.definitions import build_definitions

    specs = build_definitions(make_settings(tmp_path)).resolve_all_asset_specs()
    unowned = [spec.key.to_user_string() for spec in specs if not spec.owners]
    assert len(specs) > 50 and not unowned, unowned
