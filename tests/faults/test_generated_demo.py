"""The synthetic demo keeps loading cleanly under the fault rules (issue 15): every value the
generator writes (datagen/FORMATS.md) is a known value, no timestamp is in the future of its
folder, no amount is negative, and every file and folder it writes is one the loader reads."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from datagen.generate import generate
from ingestion.entities import ENTITIES
from ingestion.loader import load_days

pytestmark = pytest.mark.fault("clean baseline")


def test_the_generated_demo_loads_with_no_quarantined_row_and_no_warning(tmp_path):
    start = dt.date(2026, 5, 1)
    generate(500, 20, start, 42, tmp_path / "landing", progress=False, workers=1)
    days = [start + dt.timedelta(days=i) for i in range(20)]
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    loaded = 0
    for e in ENTITIES:
        result = load_days(
            con, e, days, tmp_path / "landing", tmp_path / "quarantine", suppressed={}
        )
        assert result.ok, result.errors
        assert result.rows_quarantined == 0, con.execute(
            "select message from raw._quarantine_rows limit 5"
        ).fetchall()
        assert result.warnings == []
        loaded += result.rows_loaded
    assert loaded > 5000
