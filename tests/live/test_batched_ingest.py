"""The daily ingest of day folders holding several intraday batch files (`--batches-per-day`)
loads the same rows as one file per day; the generator's default output is unchanged."""

from __future__ import annotations

import datetime as dt

import duckdb

from datagen.generate import batch_names, generate
from ingestion.entities import ENTITIES
from ingestion.loader import load_days

START = dt.date(2026, 5, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]


def _raw(tmp_path, name: str, batches: int) -> dict[str, list[tuple]]:
    landing = tmp_path / name
    generate(
        persons=300, days=3, start=START, seed=11, out=landing, progress=False, workers=1,
        batches_per_day=batches,
    )  # fmt: skip
    out = {}
    with duckdb.connect(str(tmp_path / f"{name}.duckdb")) as con:
        for entity in ENTITIES:
            result = load_days(con, entity, DAYS, landing, tmp_path / f"{name}_quarantine")
            assert result.ok, result.errors
            columns = ", ".join(f'"{c.name}"' for c in entity.columns)
            out[entity.table] = sorted(
                con.execute(
                    f"select {columns}, _partition_date from raw.{entity.table}"
                ).fetchall(),
                key=repr,
            )
    return out


def test_batch_names_carry_the_batch_end_time():
    assert batch_names(4) == ["0600", "1200", "1800", "2400"]
    assert batch_names(1) == ["2400"]


def test_batched_day_folders_load_the_same_rows_as_one_file_a_day(tmp_path):
    single = _raw(tmp_path, "single", 1)
    batched = _raw(tmp_path, "batched", 4)
    assert sum(map(len, single.values())) > 0
    day = tmp_path / "batched" / "wecom" / "2026-05-02"
    # A batch with no rows of an entity writes no file, so which batches hold messages depends
    # on the draw; every batch of the day holds some entity, and no whole-day file is written.
    assert {p.stem.rsplit("_", 1)[1] for p in day.glob("*_*.jsonl")} == set(batch_names(4))
    assert len(list(day.glob("messages_*.jsonl"))) >= 2
    assert not (day / "messages.jsonl").exists()
    for table, rows in single.items():
        assert batched[table] == rows, table
