"""SIYU_DUCKDB_MEMORY_LIMIT: one setting bounds every DuckDB connection the platform opens (the
loads and model reads through WarehouseResource, dbt's through the dbt-duckdb plugin), which
spill to <data>/duckdb_tmp instead of failing; a value that is not a size is refused in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from orchestration.lib.settings import Settings, SettingsError, duckdb_temp_dir
from tests.conftest import make_settings

PLUGINS = Path(__file__).resolve().parents[2] / "dbt_project" / "plugins"


def _setting(con, name: str) -> str:
    return con.execute("select current_setting(?)", [name]).fetchone()[0]


def test_the_warehouse_connections_take_the_limit_and_spill_folder(tmp_path):
    settings = make_settings(tmp_path, SIYU_DUCKDB_MEMORY_LIMIT="1GB")
    warehouse = WarehouseResource(
        path=str(settings.warehouse_path),
        memory_limit=settings.duckdb_memory_limit,
        temp_directory=str(duckdb_temp_dir(settings.data_dir)),
    )
    with warehouse.connect() as con:
        assert _setting(con, "memory_limit") == "953.6 MiB"  # 1GB as DuckDB shows it
        assert _setting(con, "temp_directory") == str(tmp_path / "duckdb_tmp")
    with WarehouseResource(path=str(settings.warehouse_path)).connect() as con:
        assert _setting(con, "memory_limit") != "953.6 MiB"  # unset: DuckDB's own default


def test_dbt_connections_take_the_limit_through_the_plugin(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, SIYU_DUCKDB_MEMORY_LIMIT="512MB")
    env = SiyuSettingsResource(**settings.as_strings()).dbt_env()
    assert env["SIYU_DUCKDB_MEMORY_LIMIT"] == "512MB"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(PLUGINS))
    sys.modules.pop("siyu_secrets", None)
    from siyu_secrets import Plugin

    plugin = Plugin(name="siyu_secrets", plugin_config={})
    con = duckdb.connect()
    plugin.configure_connection(con)
    assert _setting(con, "memory_limit") == "488.2 MiB"
    assert _setting(con, "temp_directory") == str(tmp_path / "duckdb_tmp")


@pytest.mark.parametrize("value", ["lots", "4GB'; drop table x; --", "-1GB", "4 G"])
def test_a_value_that_is_not_a_size_is_refused(tmp_path, value):
    with pytest.raises(SettingsError, match="SIYU_DUCKDB_MEMORY_LIMIT"):
        Settings.from_env({"SIYU_DATA_DIR": str(tmp_path), "SIYU_DUCKDB_MEMORY_LIMIT": value})
