"""benchmarks/backfill_overhead.py compares like with like: the loader alone and the single-run
backfill of `raw/extracts` load the same rows into every raw table, and the result names the
events the backfill recorded in its persistent run storage (one planned and one materialised
event per day at least). Its timings are reported, never asserted."""

import json

import pytest

from benchmarks.backfill_overhead import main

pytestmark = pytest.mark.slow


def test_backfill_and_loader_alone_load_the_same_rows(tmp_path, capsys):
    days = 12
    assert main(["--persons", "150", "--days", str(days), "--dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "backfill.json").read_text())
    assert result["agree"], result["raw_rows"]
    loaded = result["raw_rows"]["load"]
    extracts = {name: rows for name, rows in loaded.items() if not name.startswith("_")}
    assert sum(extracts.values()) == result["load"]["rows_loaded"] > 0
    assert result["backfill"]["materialisations"] == days
    assert result["backfill"]["events"] >= 2 * days
    assert result["overhead_s"] == pytest.approx(
        result["backfill"]["wall_s"] - result["load"]["wall_s"], abs=0.01
    )
    assert "Both loaded the same rows: yes" in capsys.readouterr().out
