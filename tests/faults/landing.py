"""Small hand-built landing trees for the fault tests (issue 15), loaded with the real loader.

Each test writes only the files it needs under `<tmp>/landing/<source>/<day>/` and loads them with
`ingestion.loader.load_days` into a DuckDB file in the test's own folder.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import duckdb

from ingestion.entities import entity
from ingestion.loader import LoadResult, load_days
from tests.fixtures.tiny_landing import MEMBERS_HEADER, ORDERS_HEADER

DAY = dt.date(2026, 8, 1)
D = DAY.isoformat()

__all__ = [
    "DAY", "D", "MEMBERS_HEADER", "ORDERS_HEADER", "Tree", "epoch_ms", "epoch_s", "jsonl",
    "landed_records", "rows_lost",
]  # fmt: skip


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

    # every tree of the running test, so the faults' conftest can add up the rows they lost
    instances: list[Tree] = []

    def __init__(self, tmp: Path):
        Tree.instances.append(self)
        self.lost = 0
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
        result = load_days(
            self.con, entity(source, name), list(days), self.landing, self.quarantine, suppressed={}
        )
        self.lost += rows_lost(self, result)
        return result

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


def landed_records(data: bytes, fmt: str) -> int:
    """The data records of a landed file, counted apart from the reader: CSV records after the
    header (blank lines are no record), JSONL non-blank lines."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("gb18030", errors="replace")
    if fmt == "jsonl":
        return sum(1 for line in text.split("\n") if line.strip())
    csv.field_size_limit(1 << 30)
    records = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    return max(len(records) - 1, 0)


def rows_lost(tree: Tree, result: LoadResult) -> int:
    """Landed records of the files a load took as its extract that are neither in the raw table
    nor in the quarantine (a rejected row, or the whole file kept with its reason): must be 0."""
    lost = 0
    for f in result.files:
        if f["status"] == "refused":
            continue  # never read: a link or a special file holds none of the brand's rows
        data = tree.path(f["file"]).read_bytes()
        landed = landed_records(data, result.entity.fmt)
        if f["status"] == "quarantined":
            kept = tree.quarantine / "files" / f["file"]
            lost += 0 if kept.is_file() and kept.read_bytes() == data else landed
            continue
        accounted = tree.con.execute(
            f"select (select count(distinct _row_number) from raw.{result.entity.table} "
            "where _source_file = $file) + (select count(distinct row_number) from "
            "raw._quarantine_rows where source_file = $file and row_number is not null)",
            {"file": f["file"]},
        ).fetchone()[0]
        lost += max(landed - accounted, 0)
    return lost
