"""`siyu faults`' table (tests/faults/table.py): faults by kind, a failed or skipped case is not
survived, rows lost add up over the cases that count them."""

from __future__ import annotations

from tests.faults.table import markdown, summarise


def _case(kind: str, survived: bool, rows_lost: int | None, seconds: float = 1.0) -> dict:
    return {"test": f"t::{kind}", "kind": kind, "survived": survived, "seconds": seconds,
            "rows_lost": rows_lost}  # fmt: skip


def test_cases_add_up_by_kind():
    rows = summarise(
        [
            _case("encodings", True, 0),
            _case("encodings", False, 2),
            _case("encodings", True, None),
            _case("crash and disk", True, None, seconds=100.0),
        ]
    )
    assert rows == [
        {"kind": "crash and disk", "tried": 1, "survived": 1, "failed": 0, "rows_lost": None,
         "rows_counted_in": 0, "seconds": 100.0},
        {"kind": "encodings", "tried": 3, "survived": 2, "failed": 1, "rows_lost": 2,
         "rows_counted_in": 2, "seconds": 3.0},
    ]  # fmt: skip
    table = markdown(rows)
    assert "| encodings | 3 | 2 | 1 | 2 (2) | 3.0 |" in table
    assert "| crash and disk | 1 | 1 | 0 | - | 100.0 |" in table
    assert table.splitlines()[-1] == "| **all** | 4 | 3 | 1 | 2 (2) | 103.0 |"
