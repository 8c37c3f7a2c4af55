"""The hash salt is data, never code: it reaches DuckDB as a bound parameter (dbt plugin
`plugins/siyu_secrets.py`), so it is on no command line, in no log, compiled model, run storage
or published file, and no character of it can change the SQL. A standalone `dbt` reads the same
settings from the environment as the platform does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from privacy.hashing import salted_hash
from tests.conftest import make_settings, run_daily, step_errors
from tests.fixtures.tiny_landing import DAY1, DAY2, write_tiny_landing

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
DBT = REPO / ".venv" / "bin" / "dbt"
# an apostrophe, a Jinja block and SQL: each would break or change the SQL if pasted into it
CANARY = "c4n4ry-salt' || error('injected') || '{{ 7 * 7 }}"


def _dbt(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SIYU_")},
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "logs"),
        "SIYU_WAREHOUSE_PATH": str(tmp / "warehouse.duckdb"),
        **env,
    }
    return subprocess.run(
        [str(DBT), *args, "--profiles-dir", "."],
        cwd=DBT_PROJECT,
        env=full_env,
        capture_output=True,
        text=True,
    )


def _show(expression: str, tmp: Path, **env: str) -> str:
    proc = _dbt(["show", "--inline", f"select {expression} as v", "--output", "json"], tmp, **env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def files_holding(text: str, *roots: Path) -> list[str]:
    needle = text.encode()
    hits = []
    for root in roots:
        for path in root.rglob("*") if root.exists() else []:
            if path.is_file() and not path.is_symlink():
                try:
                    if needle in path.read_bytes():
                        hits.append(str(path))
                except OSError:
                    continue
    return hits


def test_the_salt_hashes_as_data_and_equals_the_python_hash(tmp_path):
    out = _show("{{ salted_hash(\"'13800138000'\") }}", tmp_path, SIYU_HASH_SALT=CANARY)
    assert salted_hash("13800138000", CANARY) in out
    assert not files_holding(CANARY, tmp_path)  # not in the compiled SQL, not in dbt.log


def test_production_refuses_the_development_salt(tmp_path):
    proc = _dbt(["show", "--inline", "select 1 as v"], tmp_path, SIYU_ENVIRONMENT="production")
    assert proc.returncode != 0
    assert "SIYU_HASH_SALT is unset or the development salt" in proc.stdout + proc.stderr
    ok = _dbt(
        ["show", "--inline", "select 1 as v"],
        tmp_path,
        SIYU_ENVIRONMENT="production",
        SIYU_HASH_SALT=CANARY,
    )
    assert ok.returncode == 0, ok.stdout[-2000:]


def test_standalone_dbt_reads_the_junk_limit_from_the_environment(tmp_path):
    assert '"v": 5' in _show("{{ siyu.junk_max_accounts() }}", tmp_path)
    assert '"v": 2' in _show(
        "{{ siyu.junk_max_accounts() }}", tmp_path, SIYU_IDENTITY_JUNK_MAX_ACCOUNTS="2"
    )
    bad = _dbt(
        ["show", "--inline", "select {{ siyu.junk_max_accounts() }} as v"],
        tmp_path,
        SIYU_IDENTITY_JUNK_MAX_ACCOUNTS="5 or 1=1",
    )
    assert bad.returncode != 0 and "must be a whole number" in bad.stdout


def test_no_log_run_storage_or_output_holds_the_salt(tmp_path, monkeypatch):
    """A real daily run with the canary salt: the salt is in no file it leaves behind."""
    monkeypatch.setenv("SIYU_HASH_SALT", CANARY)
    started = tmp_path / "started"
    started.touch()
    write_tiny_landing(tmp_path / "landing")
    settings = make_settings(tmp_path, SIYU_HASH_SALT=CANARY)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    with dg.DagsterInstance.local_temp(str(dagster_home)) as instance:
        result = run_daily(settings, DAY1, DAY2, instance=instance, marts_only=True)
        assert result.success, step_errors(result)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        identifiers = con.execute(
            "select id_type, id_value, person_id from intermediate.identity_map "
            "where person_id is not null"
        ).fetchall()
    # every person_id is the Python salted hash, under the canary, of one of its identifiers
    # (its anchor): the canary was used whole, as data
    by_person: dict[str, set[str]] = {}
    for id_type, id_value, person_id in identifiers:
        by_person.setdefault(person_id, set()).add(f"{id_type}:{id_value}")
    assert by_person
    for person_id, nodes in by_person.items():
        assert person_id in {"p_" + salted_hash(n, CANARY)[:16] for n in nodes}, person_id
    # files written during the run by dbt under dbt_project/ (target, logs)
    dbt_files = [
        p
        for p in DBT_PROJECT.rglob("*")
        if p.is_file() and p.stat().st_mtime >= started.stat().st_mtime
    ]
    leaked = files_holding(CANARY, dagster_home, tmp_path)
    leaked += [str(p) for p in dbt_files if CANARY.encode() in p.read_bytes()]
    assert not leaked, leaked


def test_the_dbt_plugin_and_the_settings_share_the_development_salt_rule():
    """The plugin runs inside a standalone dbt, so it cannot import the platform's settings; its
    copy of the development salt and the production rule must stay the same as theirs."""
    import importlib.util

    from orchestration.lib.settings import DEFAULT_HASH_SALT, Settings, SettingsError

    spec = importlib.util.spec_from_file_location(
        "siyu_secrets", DBT_PROJECT / "plugins" / "siyu_secrets.py"
    )
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    assert plugin.DEFAULT_HASH_SALT == DEFAULT_HASH_SALT
    production = {"SIYU_ENVIRONMENT": "production"}
    with pytest.raises(plugin.SecretSaltError) as from_plugin:
        plugin.hash_salt_from_env(production)
    with pytest.raises(SettingsError) as from_settings:
        Settings.from_env(production)
    for message in (str(from_plugin.value), str(from_settings.value)):
        assert "SIYU_HASH_SALT is unset or the development salt" in message
    assert plugin.hash_salt_from_env({**production, "SIYU_HASH_SALT": CANARY}) == CANARY
