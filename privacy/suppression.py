"""The suppression list: erased persons' identifiers, stored only as salted reference hashes, so
later loads drop rows that still carry them (the loader applies it to every extract)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from privacy.hashing import (
    normalize_phone,
    normalize_series,
    reference_hash,
    split_list,
)
from privacy.identifiers import IDENTIFIER_COLUMNS
from warehouse.files import append_private_jsonl

SCHEMA = "privacy"
TABLE = f"{SCHEMA}.suppression_list"
_PHONE_LIKE = re.compile(r"\+?[0-9][0-9 \-]{9,20}[0-9]")
_TOKEN = re.compile(r"[A-Za-z0-9_\-@.]{6,}")


def base_type(id_type: str) -> str:
    return id_type.removesuffix("_list")


@dataclass
class Suppression:
    """Reference hashes of suppressed identifiers, by identifier type, and the salt they use."""

    salt: str
    hashes: dict[str, set[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.hashes.values())

    def contains(self, id_type: str, normalised: str | None) -> bool:
        return bool(normalised) and reference_hash(
            id_type, normalised, self.salt
        ) in self.hashes.get(id_type, ())

    def _column_mask(self, values: pd.Series, id_type: str) -> pd.Series:
        kind = base_type(id_type)
        wanted = self.hashes.get(kind)
        if not wanted:
            return pd.Series(False, index=values.index)
        if id_type.endswith("_list"):
            items = values.map(split_list).explode()
            items = items[items.notna()]
            norm = normalize_series(kind, items)
            hit = norm.map(
                lambda v: (
                    reference_hash(kind, v, self.salt) in wanted if isinstance(v, str) else False
                )
            )
            return hit.groupby(level=0).any().reindex(values.index, fill_value=False).astype(bool)
        norm = normalize_series(kind, values)
        uniques = norm.dropna().unique()
        bad = {v for v in uniques if reference_hash(kind, v, self.salt) in wanted}
        return norm.isin(bad).fillna(False).astype(bool)

    def row_mask(self, frame: pd.DataFrame, table: str) -> pd.Series:
        """True for rows of raw table `table` (e.g. `crm__members`) that carry a suppressed identifier."""
        mask = pd.Series(False, index=frame.index)
        for column, id_type in IDENTIFIER_COLUMNS.get(table, {}).items():
            if column in frame:
                mask |= self._column_mask(frame[column], id_type)
        return mask

    def text_matches(self, text: str | None) -> bool:
        """Whether free text (a rejected row's raw record) mentions a suppressed identifier."""
        if not text or not self:
            return False
        candidates = {("phone", p) for p in map(normalize_phone, _PHONE_LIKE.findall(text)) if p}
        tokens = set(_TOKEN.findall(text))
        for kind in self.hashes:
            if kind != "phone":
                candidates |= {(kind, t) for t in tokens}
        return any(self.contains(kind, value) for kind, value in candidates)


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"create table if not exists {TABLE} (id_type varchar, reference_hash varchar, "
        "erasure_id varchar, suppressed_at timestamp)"
    )


def load(con: duckdb.DuckDBPyConnection, salt: str, path: Path | None = None) -> Suppression:
    """The suppression list of the build database (and of the JSONL file at `path`, if given)."""
    out = Suppression(salt)
    rows: list[tuple[str, str]] = []
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name = 'suppression_list'",
        [SCHEMA],
    ).fetchall()[0][0]
    if exists:
        rows += con.execute(f"select id_type, reference_hash from {TABLE}").fetchall()
    if path is not None and Path(path).exists():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                rows.append((rec["id_type"], rec["reference_hash"]))
    for id_type, h in rows:
        out.hashes.setdefault(id_type, set()).add(h)
    return out


def add(
    con: duckdb.DuckDBPyConnection,
    identifiers: Iterable[tuple[str, str]],
    salt: str,
    erasure_id: str,
    path: Path | None = None,
) -> int:
    """Add normalised (id_type, id_value) pairs, hashed, to the table and the JSONL file."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    frame = pd.DataFrame(
        [
            {
                "id_type": t,
                "reference_hash": reference_hash(t, v, salt),
                "erasure_id": erasure_id,
                "suppressed_at": now,
            }
            for t, v in sorted(set(identifiers))
        ],
        columns=["id_type", "reference_hash", "erasure_id", "suppressed_at"],
    )
    ensure_table(con)
    con.register("_supp", frame)
    try:
        con.execute(
            f"insert into {TABLE} select * from _supp where reference_hash not in "
            f"(select reference_hash from {TABLE})"
        )
    finally:
        con.unregister("_supp")
    if path is not None:
        append_private_jsonl(
            path,
            [
                {**rec, "suppressed_at": rec["suppressed_at"].isoformat()}
                for rec in frame.to_dict("records")
            ],
        )
    return len(frame)
