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


def _table(con, table):
    return con.execute(f"select * exclude (_loaded_at) from raw.{table} order by all").fetchall()


def test_loading_in_batches_of_one_file_equals_one_batch(tiny_data):
    """load_days validates and inserts batch by batch (BATCH_BYTES) in one transaction: the
    rows, rejects and per-file counts are the same whatever the batch size."""
    from ingestion.loader import load_days

    results = {}
    for name, batch_bytes in (("one", 1 << 40), ("per_file", 1)):
        con = duckdb.connect(str(tiny_data / f"{name}.duckdb"))
        results[name] = (
            [
                load_days(
                    con,
                    e,
                    [DAY1, DAY2],
                    tiny_data / "landing",
                    tiny_data / f"q_{name}",
                    batch_bytes=batch_bytes,
                )
                for e in ENTITIES
            ],
            {e.table: _table(con, e.table) for e in ENTITIES},
            con.execute(
                "select * exclude (_loaded_at) from raw._quarantine_rows order by all"
            ).fetchall(),
        )
    one, per_file = results["one"], results["per_file"]
    assert one[1] == per_file[1] and one[2] == per_file[2]
    assert sum(len(t) for t in one[1].values()) > 0 and one[2]  # rows and rejects to compare
    for a, b in zip(one[0], per_file[0], strict=True):
        assert (a.rows_loaded, a.rows_quarantined, a.bytes_read) == (
            b.rows_loaded,
            b.rows_quarantined,
            b.bytes_read,
        )
        assert [f["rows"] for f in a.files] == [f["rows"] for f in b.files]


def test_a_bad_file_in_a_later_batch_rolls_back_the_earlier_batches(tiny_data):
    from ingestion.loader import load_days

    orders = entity("crm", "orders")
    con = duckdb.connect(str(tiny_data / "w.duckdb"))
    first = load_days(con, orders, [DAY1, DAY2], tiny_data / "landing", tiny_data / "quarantine")
    assert first.ok
    before = _table(con, orders.table)
    bad = tiny_data / "landing" / "crm" / DAY2.isoformat() / "orders.csv"
    bad.write_bytes(b"\xff\xfe\x00 not a CSV export")  # a whole-file error: encoding
    again = load_days(
        con, orders, [DAY1, DAY2], tiny_data / "landing", tiny_data / "quarantine", batch_bytes=1
    )
    assert not again.ok and again.errors[0].startswith("crm/2026-05-02/orders.csv:")
    # day 1's batch was inserted before day 2's file failed: the transaction took it back
    assert _table(con, orders.table) == before


def test_a_load_parses_with_the_system_arrow_pool(tiny_data):
    """Arrow's default pool keeps freed batch buffers (ingestion.loader.use_system_arrow_pool)."""
    import pyarrow as pa

    pa.set_memory_pool(pa.mimalloc_memory_pool())
    con = duckdb.connect(str(tiny_data / "w.duckdb"))
    r = load_partition(con, entity("crm", "orders"), DAY1, tiny_data / "landing", tiny_data / "q")
    assert r.ok and r.rows_loaded == 3
    assert pa.default_memory_pool().backend_name == "system"
