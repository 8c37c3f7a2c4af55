"""Decode and parse one landed extract file into rows, validating every column by its rule.

A problem with the whole file (not a regular file, unreadable, empty CSV, undecodable, truncated,
required column missing) raises `ExtractFileError` with one line naming the file, the problem and
the rule. A problem with one row sends that row to the rejects with the rule it broke; the rest of
the file loads. Which files are read at all is `ingestion.landing`'s business.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from ingestion.entities import FUTURE_SLACK_DAYS, Column, Entity

LOCAL_TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M")
# Epoch values outside 2000-01-01 .. 2100-01-01 are treated as corrupt.
EPOCH_S_RANGE = (946_684_800, 4_102_444_800)

# Numbers must fit the warehouse's money type, DECIMAL(18,2) (dbt macro money_cny).
MAX_NUMBER_DIGITS = 15
MAX_NUMBER = 10.0**MAX_NUMBER_DIGITS
# Business time zone of the partition days (Asia/Shanghai, no DST).
BUSINESS_UTC_OFFSET = dt.timedelta(hours=8)
# A lone UTF-16 surrogate: valid as a JSON escape (\ud800), never valid Unicode text.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The longest text value loaded: Excel's cell limit, which every CRM export passes through. A
# longer value is a rejected row (rule: too_long), never a whole file taken as truncated.
MAX_TEXT_CHARS = 32_767
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
    rows: pd.DataFrame  # one column per entity column, all text, plus _row_number
    rejects: list[Reject] = field(default_factory=list)
    encoding: str = "utf-8"
    n_bytes: int = 0
    sha256: str = ""
    # one line per header difference that loses nothing silently: a column the contract does not
    # know (not loaded) or an optional column the file lacks (loaded as empty)
    warnings: list[str] = field(default_factory=list)


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
        rows, rejects = _parse_jsonl(text, entity, label)
    if check:
        rows, more = validate(rows, entity, label)
        rejects = rejects + more
    return ParsedExtract(path, rows, rejects, encoding, len(data), sha256, warnings)


def _empty(entity: Entity) -> pd.DataFrame:
    cols = {c.name: pd.Series(dtype="object") for c in entity.columns}
    return pd.DataFrame({**cols, "_row_number": pd.Series(dtype="int64")})


def _parse_csv(
    text: str, entity: Entity, label: str, warnings: list[str]
) -> tuple[pd.DataFrame, list[Reject]]:
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
    arr = np.array(records, dtype=object).reshape(len(records), width)
    frame = pd.DataFrame({name: arr[:, i] for name, i in index.items()})
    for c in entity.columns:
        if c.name not in frame:
            frame[c.name] = None
    frame["_row_number"] = np.array(numbers, dtype="int64")
    return frame, rejects


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


def _parse_jsonl_arrow(text: str, entity: Entity) -> pd.DataFrame | None:
    """Fast path: Arrow's JSON reader, when every line is a valid object (no row to reject).

    Returns None when the file needs the line-by-line parser (a bad line, types that change
    between blocks, fan-out of nested lists); both paths give the same text values.
    """
    if entity.explode:
        return None
    data = text.encode("utf-8")
    try:
        table = pa_json.read_json(
            io.BytesIO(data), parse_options=pa_json.ParseOptions(unexpected_field_behavior="infer")
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    lines = text.split("\n")
    numbers = np.array([i for i, line in enumerate(lines, start=1) if line.strip()], dtype="int64")
    if len(numbers) != table.num_rows:
        return None
    frame = {}
    for c in entity.columns:
        array = _arrow_field(table, c.json_path)
        if array is None:
            frame[c.name] = pd.Series([None] * table.num_rows, dtype="object")
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
        elif not pa.types.is_null(array.type):
            array = pc.cast(array, pa.string())
        frame[c.name] = pd.Series(array.to_numpy(zero_copy_only=False), dtype="object")
    out = pd.DataFrame(frame)
    out["_row_number"] = numbers
    return out


def _arrow_field(table: pa.Table, path: tuple[str, ...]):
    if path[0] not in table.column_names:
        return None
    array = table.column(path[0]).combine_chunks()
    for key in path[1:]:
        if not pa.types.is_struct(array.type) or array.type.get_field_index(key) < 0:
            return None
        array = pc.struct_field(array, key)
    return array


def _parse_jsonl(text: str, entity: Entity, label: str) -> tuple[pd.DataFrame, list[Reject]]:
    fast = _parse_jsonl_arrow(text, entity)
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
    frame = pd.DataFrame({k: pd.Series(v, dtype="object") for k, v in cols.items()})
    frame["_row_number"] = np.array(numbers, dtype="int64")
    return frame, rejects


def _lone_surrogate(columns: tuple[Column, ...], rows: list[list[str | None]]) -> str | None:
    """The first value holding a lone surrogate, as `json.path (\\udXXX)`, or None."""
    for row in rows:
        for c, value in zip(columns, row, strict=True):
            if value is not None and (m := LONE_SURROGATE.search(value)):
                return f"{'.'.join(c.json_path)} ({m.group().encode('unicode_escape').decode()})"
    return None


def _column_label(c: Column) -> str:
    return c.header or ".".join(c.json_path)


def validate(
    rows: pd.DataFrame, entity: Entity, label: str | pd.Series
) -> tuple[pd.DataFrame, list[Reject]]:
    """Check every column against its rule; return the good rows and one reject per bad row.

    `label` names the file in messages: one string, or one per row (rows of many files at once).

    Local times are rewritten to ISO `YYYY-MM-DD HH:MM:SS` so every SQL engine can cast them;
    every other value stays as received. When `rows` carry `_partition_date` (the day folder each
    row landed in), a timestamp more than FUTURE_SLACK_DAYS after the end of that business day is
    `future_timestamp`.
    """
    if rows.empty:
        return rows, []
    bad_reason = pd.Series(None, index=rows.index, dtype="object")
    bad_rule = pd.Series(None, index=rows.index, dtype="object")
    # first local instant that is "in the future" of each row's partition day, and its label
    if "_partition_date" in rows:
        partition_day = pd.to_datetime(rows["_partition_date"])
        future_from = partition_day + pd.Timedelta(days=1 + FUTURE_SLACK_DAYS)
        future_text = " is more than 1 day after its partition day " + partition_day.dt.strftime(
            "%Y-%m-%d"
        )
    else:
        future_from = None
    for c in entity.columns:
        raw = rows[c.name]
        s = raw.astype("string").str.strip()
        empty = s.isna() | (s == "")
        rows[c.name] = s.where(~empty, None).astype("object")
        present = ~empty
        # A NUL is no text character: PostgreSQL refuses it and many BI tools cut the value there.
        _mark(
            bad_reason,
            bad_rule,
            present & s.str.contains("\x00", regex=False).fillna(False),
            f"{_column_label(c)} holds a NUL character",
            "nul_character",
        )
        _mark(
            bad_reason,
            bad_rule,
            present & (s.str.len() > MAX_TEXT_CHARS).fillna(False),
            f"{_column_label(c)} is longer than {MAX_TEXT_CHARS:,} characters",
            "too_long",
        )
        if c.required:
            _mark(bad_reason, bad_rule, empty, f"{_column_label(c)} is empty", "required")
        if c.rule == "local_ts":
            parsed = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
            for fmt in LOCAL_TS_FORMATS:
                parsed = parsed.fillna(pd.to_datetime(s, format=fmt, errors="coerce"))
            fail = present & parsed.isna()
            rows.loc[present & ~fail, c.name] = parsed[present & ~fail].dt.strftime(
                "%Y-%m-%d %H:%M:%S"
            )
            _mark(
                bad_reason,
                bad_rule,
                fail,
                f"{_column_label(c)} is not a local time",
                "local_timestamp",
                s,
            )
            if future_from is not None:
                _mark_future(
                    bad_reason,
                    bad_rule,
                    present & ~fail & (parsed >= future_from),
                    c,
                    future_text,
                    rows[c.name],
                )
        elif c.rule in ("epoch_s", "epoch_ms"):
            num = pd.to_numeric(s, errors="coerce")
            lo, hi = EPOCH_S_RANGE
            scale = 1000 if c.rule == "epoch_ms" else 1
            fail = present & (num.isna() | (num < lo * scale) | (num > hi * scale) | (num % 1 != 0))
            _mark(
                bad_reason,
                bad_rule,
                fail,
                f"{_column_label(c)} is not epoch {'milliseconds' if scale > 1 else 'seconds'}",
                c.rule,
                s,
            )
            if future_from is not None:
                # epoch of the local instant: local wall time minus the business UTC offset
                epoch_from = (
                    future_from - BUSINESS_UTC_OFFSET - pd.Timestamp(0)
                ).dt.total_seconds()
                _mark_future(
                    bad_reason,
                    bad_rule,
                    present & ~fail & (num >= epoch_from * scale),
                    c,
                    future_text,
                    s,
                )
        elif c.rule in ("decimal", "int"):
            num = pd.to_numeric(s, errors="coerce")
            # inf, nan and 1e30 parse here but fail the cast to a SQL decimal and block the day
            fail = present & (num.isna() | (num.abs() >= MAX_NUMBER).fillna(True))
            if c.rule == "int":
                fail |= present & ~num.isna() & (num % 1 != 0)
            _mark(
                bad_reason,
                bad_rule,
                fail,
                f"{_column_label(c)} is not a number below 10^{MAX_NUMBER_DIGITS}",
                c.rule,
                s,
            )
            if c.non_negative:
                negative = present & ~fail & (num < 0)
                _mark(
                    bad_reason,
                    bad_rule,
                    negative,
                    f"{_column_label(c)} is negative",
                    "negative_amount",
                    s,
                )
        elif c.rule == "yes_no_zh":
            fail = present & ~s.isin(["是", "否"])
            _mark(bad_reason, bad_rule, fail, f"{_column_label(c)} is not 是/否", "yes_no", s)
        elif c.rule == "bool":
            fail = present & ~s.str.lower().isin(["true", "false", "1", "0"])
            _mark(bad_reason, bad_rule, fail, f"{_column_label(c)} is not true/false", "boolean", s)
        elif c.rule == "enum":
            fail = present & ~s.isin(c.values)
            _mark(
                bad_reason,
                bad_rule,
                fail,
                f"{_column_label(c)} is not a known value",
                "unknown_value",
                s,
                after=f" (known: {', '.join(c.values)})",
            )
    bad = bad_reason.notna()
    labels = label[bad] if isinstance(label, pd.Series) else pd.Series(label, index=rows.index)[bad]
    record_columns = [c.name for c in entity.columns]
    rejects = [
        Reject(
            int(n),
            str(rule),
            f"{lab} row {int(n)}: {reason} (rule: {rule})",
            json.dumps(rec, ensure_ascii=False, default=str),
            lab,
        )
        for n, rule, reason, rec, lab in zip(
            rows.loc[bad, "_row_number"],
            bad_rule[bad],
            bad_reason[bad],
            rows.loc[bad, record_columns].to_dict("records"),
            labels,
            strict=True,
        )
    ]
    return rows.loc[~bad].reset_index(drop=True), rejects


def _mark(
    reason: pd.Series,
    rule: pd.Series,
    mask: pd.Series,
    text: str | pd.Series,
    rule_name: str,
    values: pd.Series | None = None,
    after: str = "",
) -> None:
    """Record `text` (one string or one per row) as the reason of the rows in `mask` that have no
    reason yet, with the offending value quoted and `after` appended."""
    mask = mask & reason.isna()  # keep the first problem found per row
    if not mask.any():
        return
    text = text[mask] if isinstance(text, pd.Series) else text
    if values is None:
        reason[mask] = text
    else:
        reason[mask] = text + ": '" + values[mask].astype(str).str.slice(0, 60) + "'" + after
    rule[mask] = rule_name


def _mark_future(
    reason: pd.Series,
    rule: pd.Series,
    mask: pd.Series,
    c: Column,
    future_text: pd.Series,
    values: pd.Series,
) -> None:
    _mark(reason, rule, mask, _column_label(c) + future_text, "future_timestamp", values)
