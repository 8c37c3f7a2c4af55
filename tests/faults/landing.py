"""Small hand-built landing trees for the fault tests (issue 15), loaded with the real loader.

Each test writes only the files it needs under `<tmp>/landing/<source>/<day>/` and loads them with
`ingestion.loader.load_days` into a DuckDB file in the test's own folder.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from ingestion.entities import entity
from ingestion.loader import LoadResult, load_days
from tests.fixtures.tiny_landing import MEMBERS_HEADER, ORDERS_HEADER

DAY = dt.date(2026, 8, 1)
D = DAY.isoformat()

__all__ = ["DAY", "D", "MEMBERS_HEADER", "ORDERS_HEADER", "Tree", "epoch_ms", "epoch_s", "jsonl"]


def epoch_s(day: dt.date, hh: int = 10, mm: int = 0) -> int:
    """Epoch seconds of a Shanghai local time (UTC+8)."""
    local = dt.datetime.combine(day, dt.time(hh, mm))
    return int((local - dt.timedelta(hours=8)).replace(tzinfo=dt.UTC).timestamp())


def epoch_ms(day: dt.date, hh: int = 10, mm: int = 0) -> int:
    return epoch_s(day, hh, mm) * 1000


def jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


class Tree:
    """A landing tree, its quarantine folder and a build database under one tmp folder."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.landing = tmp / "landing"
        self.quarantine = tmp / "quarantine"
        self.landing.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(tmp / "warehouse.duckdb"))

    def path(self, rel: str) -> Path:
        return self.landing / rel

    def write(self, rel: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        p = self.path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return p

    def load(self, source: str, name: str, days: tuple[dt.date, ...] = (DAY,)) -> LoadResult:
        return load_days(
            self.con, entity(source, name), list(days), self.landing, self.quarantine, suppressed={}
        )

    def raw(self, table: str) -> list[dict]:
        return self._dicts(f"select * from raw.{table} order by _source_file, _row_number")

    def quarantined(self) -> list[dict]:
        return self._dicts(
            "select * from raw._quarantine_rows order by source_file, row_number, rule"
        )

    def _dicts(self, sql: str) -> list[dict]:
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def quarantine_files(self) -> dict[str, bytes]:
        """Every file under the quarantine folder, by path relative to it."""
        if not self.quarantine.exists():
            return {}
        return {
            str(p.relative_to(self.quarantine)): p.read_bytes()
            for p in sorted(self.quarantine.rglob("*"))
            if p.is_file()
        }
