"""The real daily job, in-process, on the tiny hand-written landing tree."""

import duckdb
import pytest

from tests.conftest import make_settings, run_daily, step_errors
from tests.fixtures.tiny_landing import DAY1, DAY2, EXPECTED_PERSONS, JUNK, write_tiny_landing

pytestmark = pytest.mark.slow

TABLES = [
    "raw.crm__orders",
    "raw._quarantine_rows",
    "intermediate.identity_map",
    "marts.dim_users",
    "marts.fct_orders",
    "marts.fct_interactions",
]


def _counts(path):
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}


def test_identity_resolution_matches_the_known_persons(tiny_run):
    with duckdb.connect(str(tiny_run.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select id_type, id_value, person_id from intermediate.identity_map"
        ).fetchall()
        n_users = con.execute("select count(*) from marts.dim_users").fetchone()[0]
        orders = dict(con.execute("select order_id, amount from marts.fct_orders").fetchall())
        consent = dict(
            con.execute(
                "select m.id_value, d.consent_marketing from marts.dim_users d join intermediate.identity_map m "
                "using (person_id) where m.id_type = 'member_id'"
            ).fetchall()
        )
    persons: dict[str, set] = {}
    for id_type, id_value, person_id in rows:
        if person_id is None:
            assert (id_type, id_value) in JUNK
            continue
        persons.setdefault(person_id, set()).add((id_type, id_value))
    assert sorted(map(sorted, persons.values())) == sorted(map(sorted, EXPECTED_PERSONS))
    assert n_users == len(EXPECTED_PERSONS)
    # duplicates and the re-delivered file are counted once; the bad row was quarantined
    assert set(orders) == {"crm:C1", "crm:C3", "crm:C4", "mp:W1"}
    assert float(orders["mp:W1"]) == 129.0  # 12900 fen
    # M1 unsubscribed on day 2: no marketing consent any more
    assert consent["M1"] is False and consent["M2"] is True


def test_rerunning_a_partition_changes_no_count(tmp_path):
    write_tiny_landing(tmp_path / "landing")
    settings = make_settings(tmp_path)
    assert run_daily(settings, DAY1, DAY2, marts_only=True).success
    before = _counts(settings.warehouse_path)
    result = run_daily(settings, DAY2, DAY2, marts_only=True)
    assert result.success, step_errors(result)
    assert _counts(settings.warehouse_path) == before


def test_a_bad_file_fails_its_asset_with_one_line_and_is_quarantined(tmp_path):
    write_tiny_landing(tmp_path / "landing")
    bad = tmp_path / "landing" / "crm" / DAY1.isoformat() / "orders.csv"
    bad.write_bytes(bad.read_bytes().replace("订单号".encode("gbk"), "单号".encode("gbk")))
    settings = make_settings(tmp_path)
    result = run_daily(settings, DAY1, DAY1, marts_only=True)
    assert not result.success
    errors = step_errors(result)
    assert any("crm/2026-05-01/orders.csv: missing required column 订单号" in e for e in errors), (
        errors
    )
    assert (settings.quarantine_dir / "files" / "crm" / "2026-05-01" / "orders.csv").exists()
    # the other sources still loaded
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from raw.wecom__messages").fetchone()[0] == 3
        assert con.execute("select count(*) from raw.crm__members").fetchone()[0] == 4
