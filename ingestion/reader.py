"""Decode and parse one landed extract file into rows, validating every column by its rule.

A problem with the whole file (not a regular file, unreadable, empty CSV, undecodable, truncated,
required column missing) raises `ExtractFileError` with one line naming the file, the problem and
the rule. A problem with one row sends that row to the rejects with the rule it broke; the rest of
the file loads. Which files are read at all is `ingestion.landing`'s business.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from ingestion.entities import Column, Entity
from ingestion.validation import validation_query

# A lone UTF-16 surrogate: valid as a JSON escape (\ud800), never valid Unicode text.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The csv module refuses fields over 128 KiB by default and the file would fail as "truncated";
# read any field whole and let the row rule judge it.
csv.field_size_limit(1 << 30)

# Lineage columns every raw table carries.
LINEAGE_COLUMNS = ("_source_file", "_row_number", "_loaded_at", "_partition_date")


class ExtractFileError(Exception):
    """A whole file cannot be loaded. The message is one line: file, problem, what to do."""


class RefusedFileError(ExtractFileError):
    """A landing entry that is not a regular file inside the landing folder (a symbolic link, a
    FIFO, a folder): it is never read, so it is never copied to the quarantine either."""


@dataclass
class Reject:
    row_number: int  # 1-based data record number (CSV header excluded; JSONL line number)
    rule: str
    message: str
    raw_record: str
    source_file: str = ""


@dataclass
class ParsedExtract:
    path: Path
    table: pa.Table  # one text column per entity column, plus _row_number (int64)
    rejects: list[Reject] = field(default_factory=list)
    encoding: str = "utf-8"
    n_bytes: int = 0
    sha256: str = ""
    # one line per header difference that loses nothing silently: a column the contract does not
    # know (not loaded) or an optional column the file lacks (loaded as empty)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> pd.DataFrame:
        """The rows as a DataFrame (the loader itself keeps them in Arrow)."""
        return self.table.to_pandas()


def read_regular_file(path: Path, label: str) -> bytes:
    """The bytes of `path` if it is a regular file; a symbolic link is never followed.

    The file is opened without following a link and without blocking (a FIFO would wait for a
    writer), then checked on the open descriptor, so a file swapped for a link after the landing
    folder was listed is refused too. Messages name `label`, never anything read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise RefusedFileError(refusal(label, "symlink")) from None
        raise ExtractFileError(
            f"{label}: cannot be read ({exc.strerror}) (rule: readable)"
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise RefusedFileError(refusal(label, "dir" if stat.S_ISDIR(mode) else "special"))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ExtractFileError(
            f"{label}: cannot be read ({exc.strerror}) (rule: readable)"
        ) from None
    finally:
        os.close(fd)


def refusal(label: str, kind: str) -> str:
    """The one line for a landing entry that is not read: `kind` is symlink, dir or special."""
    what = {
        "symlink": "is a symbolic link (not followed)",
        "dir": "is a folder, not a file",
        "special": "is not a regular file (a FIFO, socket or device)",
    }[kind]
    return (
        f"{label}: {what}; only regular files inside the landing folder are read, deliver the "
        "file itself (rule: regular_file)"
    )


def decode(data: bytes, label: str, utf8_only: bool = False) -> tuple[str, str]:
    """Decode an export: UTF-8 with BOM, UTF-8, or (unless `utf8_only`) GBK, as Excel writes on
    Chinese Windows. JSON lines are UTF-8 only: GBK would also "decode" Big5 and garble names."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ExtractFileError(
                f"{label}: has a UTF-8 BOM but invalid UTF-8 at byte {exc.start + 3}; "
                "re-export the file (rule: encoding)"
            ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if utf8_only:
            raise ExtractFileError(
                f"{label}: is not UTF-8 (bad byte at offset {exc.start}); JSON lines must be "
                "UTF-8, with or without a BOM: re-export it as UTF-8 (rule: encoding)"
            ) from None
    try:
        # GB18030 is the superset of GBK that Excel and Python agree on for every GBK byte.
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError as exc:
        raise ExtractFileError(
            f"{label}: cannot be decoded as UTF-8 or GBK (bad byte at offset {exc.start}); "
            "re-export it as UTF-8 or GBK (rule: encoding)"
        ) from None


def read_extract(
    path: Path,
    entity: Entity,
    label: str | None = None,
    check: bool = True,
    data: bytes | None = None,
) -> ParsedExtract:
    """Read one extract file. `label` names the file in messages (default: its path).

    `data` is the file's content when the caller has read it already (the loader reads each landed
    file once, `ingestion.landing.read_landed`); otherwise the regular file `path` is read.
    With `check=False` the rows are returned unvalidated (the loader validates many files at once).
    A 0-byte (or blank) JSONL is a day without rows; a CSV has at least its header row.
    """
    label = label or str(path)
    if data is None:
        data = read_regular_file(path, label)
    sha256 = hashlib.sha256(data).hexdigest()
    if not data.strip():
        if entity.fmt == "csv":
            raise ExtractFileError(
                f"{label}: is empty ({len(data)} bytes); a CSV export has at least its header "
                "row, re-deliver the file (rule: empty_file)"
            )
        return ParsedExtract(path, _empty(entity), n_bytes=len(data), sha256=sha256)
    text, encoding = decode(data, label, utf8_only=entity.fmt == "jsonl")
    if entity.fmt == "jsonl" and not text.strip():
        return ParsedExtract(path, _empty(entity), [], encoding, len(data), sha256)
    warnings: list[str] = []
    if entity.fmt == "csv":
        rows, rejects = _parse_csv(text, entity, label, warnings)
    else:
        rows, rejects = _parse_jsonl(text, entity, label, data if encoding == "utf-8" else None)
    if check:
        rows, more = validate(rows, entity, label)
        rejects = rejects + more
    return ParsedExtract(path, rows, rejects, encoding, len(data), sha256, warnings)


def _empty(entity: Entity) -> pa.Table:
    return _text_table(entity, {}, [])


def _text_table(
    entity: Entity, columns: dict[str, pa.Array | list], numbers: list[int] | np.ndarray
) -> pa.Table:
    """The entity's columns as text (a column not given is all null) and `_row_number`."""
    n = len(numbers)
    arrays = {}
    for c in entity.columns:
        values = columns.get(c.name)
        if values is None:
            arrays[c.name] = pa.nulls(n, pa.string())
        elif isinstance(values, pa.Array | pa.ChunkedArray):
            arrays[c.name] = values
        else:
            arrays[c.name] = pa.array(values, pa.string())
    arrays["_row_number"] = pa.array(numbers, pa.int64())
    return pa.table(arrays)


def _parse_csv(
    text: str, entity: Entity, label: str, warnings: list[str]
) -> tuple[pa.Table, list[Reject]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise ExtractFileError(f"{label}: no readable header row ({exc}) (rule: header)") from None
    missing = [c.header for c in entity.columns if c.required and c.header not in header]
    if missing:
        raise ExtractFileError(
            f"{label}: missing required column {', '.join(missing)} "
            f"(rule: required_columns; header has {', '.join(header)})"
        )
    index = {c.name: header.index(c.header) for c in entity.columns if c.header in header}
    known = {c.header for c in entity.columns}
    extra = [h for h in header if h not in known]
    if extra:
        warnings.append(
            f"{label}: column {', '.join(extra)} is not in the {entity.source} {entity.name} "
            "contract (datagen/FORMATS.md); not loaded (rule: extra_column)"
        )
    absent = [c.header for c in entity.columns if c.header not in header]
    if absent:
        warnings.append(
            f"{label}: optional column {', '.join(absent)} is missing; loaded as empty "
            "(rule: missing_column)"
        )
    width = len(header)
    read: list[tuple[int, list[str]]] = []  # (data row number, fields) of every non-blank record
    ends_cleanly = text.endswith("\n")
    n = 0
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # in strict mode the only error at the end of the data is an unterminated quote
            raise ExtractFileError(
                f"{label}: truncated or malformed after data row {n} (line {reader.line_num}: {exc}); "
                "the export is incomplete, re-deliver the file (rule: truncated)"
            ) from None
        n += 1
        if rec:
            read.append((n, rec))
    if read and len(read[-1][1]) < width:
        # A file cut mid-row ends in a short record, with or without a final newline; the rows
        # after the cut are lost with it, so the whole file is rejected, never just that row.
        last, rec = read[-1]
        raise ExtractFileError(
            f"{label}: truncated at data row {last} (has {len(rec)} of {width} fields"
            f"{'' if ends_cleanly else ' and no final newline'}); the export is incomplete, "
            "re-deliver the file (rule: truncated)"
        )
    records: list[list[str]] = []
    numbers: list[int] = []
    rejects: list[Reject] = []
    for n, rec in read:
        if len(rec) != width:
            rejects.append(
                Reject(
                    n,
                    "field_count",
                    f"{label} row {n}: has {len(rec)} fields, header has "
                    f"{width} (rule: field_count)",
                    ",".join(rec),
                )
            )
            continue
        records.append(rec)
        numbers.append(n)
    columns = {name: [rec[i] for rec in records] for name, i in index.items()}
    return _text_table(entity, columns, numbers), rejects


def _get(obj, path: tuple[str, ...]):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        # tags are objects ({tag_name, ...}); remark_mobiles and tolist are strings
        return "|".join(
            str(v.get("tag_name", json.dumps(v, ensure_ascii=False)))
            if isinstance(v, dict)
            else str(v)
            for v in value
        )
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _parse_jsonl_arrow(text: str, entity: Entity, data: bytes | None = None) -> pa.Table | None:
    """Fast path: Arrow's JSON reader, when every line is a valid object (no row to reject).

    Returns None when the file needs the line-by-line parser (a bad line, types that change
    between blocks, fan-out of nested lists); both paths give the same text values. `data` is the
    file's UTF-8 bytes when they are `text` exactly (no BOM), saving an encode.
    """
    if entity.explode:
        return None
    if data is None:
        data = text.encode("utf-8")
    try:
        table = pa_json.read_json(
            io.BytesIO(data), parse_options=pa_json.ParseOptions(unexpected_field_behavior="infer")
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if n_lines == table.num_rows:
        numbers = np.arange(1, n_lines + 1, dtype="int64")  # no blank line: line i is row i
    else:
        lines = text.split("\n")
        numbers = np.array(
            [i for i, line in enumerate(lines, start=1) if line.strip()], dtype="int64"
        )
    if len(numbers) != table.num_rows:
        return None
    columns: dict[str, pa.Array] = {}
    for c in entity.columns:
        array = _arrow_field(table, c.json_path)
        if array is None:
            continue
        if pa.types.is_list(array.type):
            if not (
                pa.types.is_string(array.type.value_type)
                or pa.types.is_large_string(array.type.value_type)
            ):
                return None
            array = pc.binary_join(array, "|")
        elif pa.types.is_struct(array.type) or pa.types.is_floating(array.type):
            return None  # objects are serialised and floats formatted by the line parser
        if pa.types.is_null(array.type):
            continue
        columns[c.name] = pc.cast(array, pa.string())
    return _text_table(entity, columns, numbers)


def _arrow_field(table: pa.Table, path: tuple[str, ...]):
    if path[0] not in table.column_names:
        return None
    array = table.column(path[0]).combine_chunks()
    for key in path[1:]:
        if not pa.types.is_struct(array.type) or array.type.get_field_index(key) < 0:
            return None
        array = pc.struct_field(array, key)
    return array


def _parse_jsonl(
    text: str, entity: Entity, label: str, data: bytes | None = None
) -> tuple[pa.Table, list[Reject]]:
    fast = _parse_jsonl_arrow(text, entity, data)
    if fast is not None:
        return fast, []
    lines = text.split("\n")
    ends_cleanly = text.endswith("\n")
    if ends_cleanly:
        lines = lines[:-1]
    cols = {c.name: [] for c in entity.columns}
    numbers: list[int] = []
    rejects: list[Reject] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) and not ends_cleanly:
                raise ExtractFileError(
                    f"{label}: truncated at line {i} (incomplete JSON, no final newline); "
                    "the export is incomplete, re-deliver the file (rule: truncated)"
                ) from None
            rejects.append(
                Reject(
                    i,
                    "json",
                    f"{label} line {i}: not valid JSON ({exc.msg}) (rule: json)",
                    line[:2000],
                )
            )
            continue
        if not isinstance(obj, dict):
            rejects.append(
                Reject(i, "json", f"{label} line {i}: not a JSON object (rule: json)", line[:2000])
            )
            continue
        if entity.explode:
            records = []
            for item in obj.get(entity.explode) or [None]:
                rec = dict(obj)
                rec[entity.explode] = item or {}
                records.append(rec)
        else:
            records = [obj]
        values = [[_as_text(_get(rec, c.json_path)) for c in entity.columns] for rec in records]
        broken = _lone_surrogate(entity.columns, values)
        if broken:
            # Valid JSON, invalid text: the line is quarantined as received (escape intact), not
            # repaired, so the raw layer only ever holds what the system sent.
            rejects.append(
                Reject(
                    i,
                    "invalid_unicode",
                    f"{label} line {i}: {broken} holds a lone UTF-16 surrogate, which is not "
                    "valid Unicode text; re-export the line (rule: invalid_unicode)",
                    line[:2000],
                )
            )
            continue
        for row in values:
            for c, value in zip(entity.columns, row, strict=True):
                cols[c.name].append(value)
            numbers.append(i)
    return _text_table(entity, cols, numbers), rejects


def _lone_surrogate(columns: tuple[Column, ...], rows: list[list[str | None]]) -> str | None:
    """The first value holding a lone surrogate, as `json.path (\\udXXX)`, or None."""
    for row in rows:
        for c, value in zip(columns, row, strict=True):
            if value is not None and (m := LONE_SURROGATE.search(value)):
                return f"{'.'.join(c.json_path)} ({m.group().encode('unicode_escape').decode()})"
    return None


def validate(table: pa.Table, entity: Entity, label: str) -> tuple[pa.Table, list[Reject]]:
    """Check every column of one file's rows against its rule (`ingestion.validation`): the good
    rows, cleaned, and one reject per bad row. The loader validates many files at once in its
    database instead (`ingestion.loader.load_days`)."""
    if table.num_rows == 0:
        return table, []
    con = duckdb.connect()
    try:
        con.register("_rows", table.append_column("_label", pa.repeat(label, table.num_rows)))
        con.execute(
            "create temp table _validated as "
            + validation_query(entity, "_rows", with_partition=False)
        )
        rejects = rejects_of(con, entity, "_validated")
        columns = ", ".join(f'"{c.name}"' for c in entity.columns)
        good = con.sql(
            f"select {columns}, _row_number from _validated where _rule is null"
        ).to_arrow_table()
    finally:
        con.close()
    return good, rejects


def rejects_of(con: duckdb.DuckDBPyConnection, entity: Entity, validated: str) -> list[Reject]:
    """One Reject per row of `validated` (a validation_query result) that broke a rule, in row
    order: the message names the file, the row and the rule; the raw record holds the row's
    cleaned values as JSON."""
    names = [c.name for c in entity.columns]
    columns = ", ".join(f'"{n}"' for n in names)
    rows = con.execute(
        f"select {columns}, _row_number, _label, _rule, _reason from {validated} "
        "where _rule is not null"
    ).fetchall()
    out = []
    for row in rows:
        *values, n, label, rule, reason = row
        record = json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False, default=str)
        out.append(
            Reject(int(n), rule, f"{label} row {int(n)}: {reason} (rule: {rule})", record, label)
        )
    return out
