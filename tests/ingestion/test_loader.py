import duckdb

from ingestion.entities import ENTITIES, entity
from ingestion.loader import load_partition
from tests.fixtures.tiny_landing import DAY1, DAY2


def _counts(con):
    return {
        e.table: con.execute(f"select count(*) from raw.{e.table}").fetchone()[0] for e in ENTITIES
    } | {"_quarantine_rows": con.execute("select count(*) from raw._quarantine_rows").fetchone()[0]}


def test_loading_a_partition_twice_changes_no_count(tiny_data):
    con = duckdb.connect(str(tiny_data / "w.duckdb"))
    for _ in range(2):
        for e in ENTITIES:
            for day in (DAY1, DAY2):
                r = load_partition(con, e, day, tiny_data / "landing", tiny_data / "quarantine")
                assert r.ok, r.errors
        if _ == 0:
            first = _counts(con)
    assert _counts(con) == first
    assert first["crm__orders"] == 3 + 4  # day 1: C1 twice + C3; day 2: resend (C1 x2, C3) + C4
    assert first["_quarantine_rows"] == 3
    lineage = con.execute(
        "select distinct _source_file, _partition_date from raw.crm__orders order by 1"
    ).fetchall()
    assert [f for f, _ in lineage] == [
        "crm/2026-05-01/orders.csv",
        "crm/2026-05-02/orders.csv",
        "crm/2026-05-02/orders_resend.csv",
    ]


def test_bad_file_fails_the_entity_and_is_quarantined_other_entities_load(tiny_data):
    bad = tiny_data / "landing" / "crm" / DAY1.isoformat() / "members.csv"
    bad.write_bytes(bad.read_bytes()[:-30])  # cut mid-row: truncated
    con = duckdb.connect(str(tiny_data / "w.duckdb"))
    r = load_partition(
        con, entity("crm", "members"), DAY1, tiny_data / "landing", tiny_data / "quarantine"
    )
    assert not r.ok
    assert len(r.errors) == 1 and r.errors[0].startswith("crm/2026-05-01/members.csv: truncated")
    q = tiny_data / "quarantine" / "files" / "crm" / DAY1.isoformat()
    assert (q / "members.csv").read_bytes() == bad.read_bytes()
    assert "truncated" in (q / "members.csv.reason.txt").read_text(encoding="utf-8")
    assert con.execute("select count(*) from raw.crm__members").fetchone()[0] == 0
    ok = load_partition(
        con, entity("crm", "orders"), DAY1, tiny_data / "landing", tiny_data / "quarantine"
    )
    assert ok.ok and ok.rows_loaded == 3


def test_rejected_rows_are_written_to_quarantine_with_reason(tiny_data):
    con = duckdb.connect(str(tiny_data / "w.duckdb"))
    load_partition(
        con, entity("crm", "orders"), DAY1, tiny_data / "landing", tiny_data / "quarantine"
    )
    text = (
        tiny_data / "quarantine" / "rows" / "crm" / DAY1.isoformat() / "orders.rejected.jsonl"
    ).read_text(encoding="utf-8")
    assert "crm/2026-05-01/orders.csv row 3: 订单金额 is not a number" in text
