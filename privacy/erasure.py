"""Erasure (PIPL art. 47): remove persons from the build database and the files around it, add
their identifiers to the suppression list and write an audit entry.

`plan` resolves who is erased without changing anything; `erase_build_db` works on one open
connection to the build database; `scrub_files` rewrites the quarantine and restricted files.
The publications are cleaned by `privacy.publications`, the build database file is rewritten by
`warehouse.files.rewrite_duckdb_file`; the live folder (intraday path) by `privacy.live` with the
same functions (`erase_raw`, `erase_rows`); orchestration.erase_cli runs them in that order.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from privacy import suppression
from privacy.hashing import ID_TYPES, normalize_identifier, reference_hash, salted_hash
from privacy.identifiers import IDENTIFIER_COLUMNS
from warehouse.files import append_private_jsonl

AUDIT_TABLE = "privacy.erasure_audit"
IDENTITY_MAP = "intermediate.identity_map"
# schemas whose rows are never person data (the suppression list and audit keep hashes only)
SKIP_SCHEMAS = {"privacy", "information_schema", "pg_catalog"}
# free-text tables where an identifier may sit inside a longer value: redacted, not deleted
REDACT_SCHEMAS = {"audit"}
REDACTED = "[erased]"


@dataclass
class ErasureRequest:
    identifiers: list[tuple[str, str]]  # (id_type, value) as given
    requested_by: str = field(default_factory=getpass.getuser)

    def normalised(self) -> list[tuple[str, str]]:
        out = []
        for id_type, value in self.identifiers:
            if id_type not in ID_TYPES:
                raise ValueError(
                    f"erase: unknown identifier type {id_type!r}; use one of {', '.join(ID_TYPES)}"
                )
            norm = normalize_identifier(id_type, value)
            if norm is None:
                raise ValueError(
                    f"erase: {id_type} {value!r} is not a valid identifier "
                    "(a phone must be a mainland mobile number)"
                )
            out.append((id_type, norm))
        return sorted(set(out))


@dataclass
class ErasureResult:
    erasure_id: str
    person_ids: list[str]
    identifiers: list[tuple[str, str]]  # every identifier erased and suppressed (normalised)
    counts: dict[str, int] = field(default_factory=dict)  # table or file -> rows removed

    @property
    def erased_values(self) -> set[str]:
        """Strings that must not appear anywhere once done: ids, values and identity node ids."""
        return (
            {v for _, v in self.identifiers}
            | {f"{t}:{v}" for t, v in self.identifiers}
            | set(self.person_ids)
        )


def read_request_csv(path: Path) -> list[tuple[str, str]]:
    """A CSV with columns id_type,id_value (one identifier a row)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"id_type", "id_value"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"erase: {path} needs columns id_type,id_value (missing {', '.join(sorted(missing))})"
        )
    return [(r.id_type.strip(), r.id_value) for r in frame.itertuples() if r.id_value.strip()]


def _exists(con, schema: str, table: str) -> bool:
    return (
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
        > 0
    )


def resolve(
    con: duckdb.DuckDBPyConnection, identifiers: list[tuple[str, str]]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Persons of the given (normalised) identifiers via identity_map, and every identifier of
    those persons. Junk identifiers (person_id null, shared by many) are never erased."""
    if not _exists(con, "intermediate", "identity_map"):
        return [], list(identifiers)
    frame = pd.DataFrame(identifiers, columns=["id_type", "id_value"])
    con.register("_req", frame)
    try:
        persons = [
            r[0]
            for r in con.execute(
                f"select distinct m.person_id from {IDENTITY_MAP} m inner join _req r "
                "on m.id_type = r.id_type and m.id_value = r.id_value where m.person_id is not null"
            ).fetchall()
        ]
    finally:
        con.unregister("_req")
    ids = set(identifiers)
    if persons:
        ids |= set(
            con.execute(
                f"select id_type, id_value from {IDENTITY_MAP} where person_id in (select unnest(?))",
                [persons],
            ).fetchall()
        )
    return sorted(persons), sorted(ids)


def suppression_of(identifiers: Iterable[tuple[str, str]], salt: str) -> suppression.Suppression:
    """A suppression list holding just these (normalised) identifiers: what `erase_raw` matches
    raw rows against."""
    supp = suppression.Suppression(salt)
    for id_type, value in identifiers:
        supp.hashes.setdefault(id_type, set()).add(reference_hash(id_type, value, salt))
    return supp


def live_identity_hashes(identifiers: Iterable[tuple[str, str]], salt: str) -> set[str]:
    """The identifiers as the live baseline's identity keys them (`warehouse.live`:
    md5(<salt>|<id_type>:<id_value>)), so rows holding only the hash go too."""
    return {salted_hash(f"{t}:{v}", salt) for t, v in identifiers}


def erase_raw(con, supp: suppression.Suppression, counts: dict[str, int]) -> None:
    """Delete the rows of every raw extract table (and raw._quarantine_rows) that carry an
    identifier of `supp`, by the identifier columns of `privacy.identifiers`."""
    for table, columns in IDENTIFIER_COLUMNS.items():
        if not _exists(con, "raw", table):
            continue
        cols = ", ".join(f'"{c}"' for c in columns)
        frame = con.execute(f"select rowid as _rid, {cols} from raw.{table}").df()
        doomed = frame.loc[supp.row_mask(frame, table), "_rid"].tolist()
        if doomed:
            con.execute(
                f"delete from raw.{table} where rowid in (select unnest(?::bigint[]))", [doomed]
            )
        counts[f"raw.{table}"] = len(doomed)
    if _exists(con, "raw", "_quarantine_rows"):
        frame = con.execute("select rowid as _rid, raw_record from raw._quarantine_rows").df()
        doomed = frame.loc[frame["raw_record"].map(supp.text_matches), "_rid"].tolist()
        if doomed:
            con.execute(
                "delete from raw._quarantine_rows where rowid in (select unnest(?::bigint[]))",
                [doomed],
            )
        counts["raw._quarantine_rows"] = len(doomed)


def erase_rows(
    con: duckdb.DuckDBPyConnection,
    values: set[str],
    counts: dict[str, int],
    schemas: set[str] | None = None,
    skip_tables: Iterable[str] = (),
    redact_schemas: Iterable[str] = REDACT_SCHEMAS,
) -> None:
    """Every table outside raw (or in `schemas` only): delete rows with an erased value in any
    text column (person_id, identity_map's id_value, node ids); in audit tables redact it inside
    longer text (`redact_schemas`). Also used on copies of published files
    (`privacy.publications`) and on the live folder (`privacy.live`)."""
    skip = set(skip_tables)
    redact = set(redact_schemas)
    con.register("_erased", pd.DataFrame({"v": sorted(values)}))
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema <> 'raw'"
        ).fetchall()
        for schema, table in tables:
            if (
                schema in SKIP_SCHEMAS
                or table in skip
                or (schemas is not None and schema not in schemas)
            ):
                continue
            text_cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and "
                    "table_name = ? and data_type = 'VARCHAR'",
                    [schema, table],
                ).fetchall()
            ]
            if not text_cols:
                continue
            name = f'"{schema}"."{table}"'
            if schema in redact:
                n = 0
                for col in text_cols:
                    for v in values:
                        n += con.execute(
                            f'update {name} set "{col}" = replace("{col}", ?, ?) '
                            f'where contains("{col}", ?)',
                            [v, REDACTED, v],
                        ).fetchall()[0][0]
                counts[f"{schema}.{table}"] = n
                continue
            where = " or ".join(f'"{c}" in (select v from _erased)' for c in text_cols)
            n = con.execute(f"delete from {name} where {where}").fetchall()[0][0]
            if n:
                counts[f"{schema}.{table}"] = n
    finally:
        con.unregister("_erased")


def plan(con: duckdb.DuckDBPyConnection, request: ErasureRequest) -> ErasureResult:
    """Who and what an erasure removes (a new erasure_id, the persons, every identifier of
    theirs), read from the build database without changing it."""
    erasure_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "_" + uuid.uuid4().hex[:8]
    persons, identifiers = resolve(con, request.normalised())
    return ErasureResult(erasure_id, persons, identifiers)


def erase_build_db(
    con: duckdb.DuckDBPyConnection,
    request: ErasureRequest,
    salt: str,
    suppression_path: Path | None = None,
    planned: ErasureResult | None = None,
) -> ErasureResult:
    """Resolve (or take the `planned` result of `plan`), suppress and delete in one transaction,
    then checkpoint, so the deletions are in the database file (not only its WAL) before
    `warehouse.files.rewrite_duckdb_file` copies it. The suppression list gets the reference hashes
    of every identifier of the persons, so later loads drop them."""
    result = planned if planned is not None else plan(con, request)
    identifiers = result.identifiers
    erasure_id = result.erasure_id
    supp = suppression_of(identifiers, salt)
    con.execute("begin transaction")
    try:
        suppression.add(con, identifiers, salt, erasure_id)
        erase_raw(con, supp, result.counts)
        erase_rows(con, result.erased_values, result.counts)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    con.execute("checkpoint")
    if suppression_path is not None:
        append_private_jsonl(
            suppression_path,
            [
                {
                    "id_type": t,
                    "reference_hash": reference_hash(t, v, salt),
                    "erasure_id": erasure_id,
                }
                for t, v in identifiers
            ],
        )
    return result


# ------------------------------------------------------------------------------------- files


def _patterns(values: Iterable[tuple[str, str]]) -> re.Pattern[bytes]:
    parts = []
    for id_type, value in values:
        if id_type == "phone":
            # the raw form may carry +86 and separators: 1[ -]*3[ -]*8...
            parts.append(
                r"(?:^|[^0-9])" + r"[ \-]*".join(re.escape(d) for d in value) + r"(?:[^0-9]|$)"
            )
        else:
            parts.append(re.escape(value))
    return re.compile("|".join(parts).encode())


def scrub_lines(path: Path, pattern: re.Pattern[bytes]) -> int:
    """Drop the lines of a text file (CSV, JSONL, reason) that mention an erased identifier."""
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    kept = [line for line in lines if not pattern.search(line)]
    if len(kept) != len(lines):
        path.write_bytes(b"".join(kept))
    return len(lines) - len(kept)


def scrub_files(root: Path, result: ErasureResult) -> dict[str, int]:
    """Remove erased persons' lines from every file under `root` (the quarantine folder)."""
    counts: dict[str, int] = {}
    if not root.exists() or not result.identifiers:
        return counts
    pattern = _patterns([*result.identifiers, *(("person_id", p) for p in result.person_ids)])
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        n = scrub_lines(path, pattern)
        if n:
            counts[str(path.relative_to(root))] = n
    return counts


def scrub_mass_send_exports(root: Path, result: ErasureResult) -> dict[str, int]:
    """Take erased external_userids out of the restricted WeCom mass-send payloads."""
    gone = {v for t, v in result.identifiers if t == "external_userid"}
    counts: dict[str, int] = {}
    if not root.exists():
        return counts
    for path in sorted(root.rglob("*.json")):
        payloads = json.loads(path.read_text(encoding="utf-8"))
        removed = 0
        for p in payloads:
            before = len(p.get("external_userid", []))
            p["external_userid"] = [u for u in p.get("external_userid", []) if u not in gone]
            removed += before - len(p["external_userid"])
        if removed:
            payloads = [
                p for p in payloads if p.get("external_userid") or p.get("chat_type") != "single"
            ]
            path.write_text(json.dumps(payloads, ensure_ascii=False, indent=1), encoding="utf-8")
            counts[str(path.relative_to(root))] = removed
    return counts


# ------------------------------------------------------------------------------------- audit


def audit_entry(
    request: ErasureRequest,
    result: ErasureResult,
    salt: str,
    extra_counts: dict[str, int] | None = None,
) -> dict:
    """Who, when, what (hashed references only) and how many rows per table or file."""
    return {
        "erasure_id": result.erasure_id,
        "requested_by": request.requested_by,
        "requested_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "requested_references": sorted(reference_hash(t, v, salt) for t, v in request.normalised()),
        "suppressed_references": sorted(reference_hash(t, v, salt) for t, v in result.identifiers),
        "persons": len(result.person_ids),
        "identifiers": len(result.identifiers),
        "counts": {**result.counts, **(extra_counts or {})},
    }


def write_audit(con: duckdb.DuckDBPyConnection, entry: dict, path: Path) -> None:
    """Append the entry to privacy.erasure_audit (build database) and the append-only JSONL."""
    con.execute("create schema if not exists privacy")
    con.execute(
        f"create table if not exists {AUDIT_TABLE} (erasure_id varchar, requested_by varchar, "
        "requested_at timestamp, persons integer, identifiers integer, "
        "requested_references varchar, suppressed_references varchar, counts varchar)"
    )
    con.execute(
        f"insert into {AUDIT_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            entry["erasure_id"],
            entry["requested_by"],
            entry["requested_at"][:19],
            entry["persons"],
            entry["identifiers"],
            json.dumps(entry["requested_references"]),
            json.dumps(entry["suppressed_references"]),
            json.dumps(entry["counts"], sort_keys=True),
        ],
    )
    append_private_jsonl(path, [entry])
