"""The row rules of every extract column as one DuckDB query: the loader validates a batch of files
in the database, in parallel, instead of value by value in Python.

`validation_query(entity, relation)` reads `relation` (the entity's columns as text, plus
`_row_number`, `_label` and, for a load, `_partition_date`) and returns each row with its values
cleaned (trimmed, empty as NULL, local times rewritten as ISO `YYYY-MM-DD HH:MM:SS`) and, for a row
breaking a rule, `_rule` and `_reason` (the first problem found, in column order; within a column:
NUL, length, required, the column's rule, then the future check). The rules are those of
`ingestion.entities` and datagen/FORMATS.md.
"""

from __future__ import annotations

from ingestion.entities import FUTURE_SLACK_DAYS, Column, Entity

LOCAL_TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M")
# The shape each format must have before it is parsed: a four-digit year, one- or two-digit parts
# (DuckDB's strptime alone would also take a two-digit year).
_TS_SHAPES = {
    "%Y-%m-%d %H:%M:%S": r"\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{1,2}:\d{1,2}",
    "%Y/%m/%d %H:%M": r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{1,2}",
    "%Y/%m/%d %H:%M:%S": r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{1,2}:\d{1,2}",
    "%Y-%m-%d %H:%M": r"\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{1,2}",
}
# A local calendar date: WeChat analytics' ref_date (20260501) or ISO (2026-05-01).
LOCAL_DATE_FORMATS = {"%Y%m%d": r"\d{8}", "%Y-%m-%d": r"\d{4}-\d{1,2}-\d{1,2}"}
# A number as exports write one: sign, digits, a decimal point, an exponent ("1_000", "0x10",
# "inf" and "nan" are not numbers here).
NUMBER_SHAPE = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
# Epoch values outside 2000-01-01 .. 2100-01-01 are treated as corrupt.
EPOCH_S_RANGE = (946_684_800, 4_102_444_800)
# Numbers must fit the warehouse's money type, DECIMAL(18,2) (dbt macro money_cny).
MAX_NUMBER_DIGITS = 15
# Business time zone of the partition days (Asia/Shanghai, no DST), in hours.
BUSINESS_UTC_OFFSET_HOURS = 8
# The longest text value loaded: Excel's cell limit, which every CRM export passes through. A
# longer value is a rejected row (rule: too_long), never a whole file taken as truncated.
MAX_TEXT_CHARS = 32_767
# What trimming removes from both ends of a value: every character Python's str.isspace() calls
# white space (the same set as Arrow's utf8_trim_whitespace).
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_WHITESPACE_SQL = "||".join(f"chr({ord(c)})" for c in WHITESPACE)
_WHITESPACE_CODES = ", ".join(str(ord(c)) for c in WHITESPACE)


def _trimmed(column: str) -> str:
    """SQL of a value trimmed of white space, empty as NULL. Trimming by a set of characters
    costs ten times a plain comparison, so it runs only when the value starts or ends with one."""
    return (
        f"nullif(case when ord({column}) in ({_WHITESPACE_CODES}) "
        f"or ord({column}[-1]) in ({_WHITESPACE_CODES}) "
        f"then trim({column}, {_WHITESPACE_SQL}) else {column} end, '')"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def column_label(c: Column) -> str:
    return c.header or ".".join(c.json_path)


def _check(rule: str, reason_sql: str) -> str:
    return f"{{'rule': {_literal(rule)}, 'reason': {reason_sql}}}"


def _quoted(text: str, value_sql: str, after: str = "") -> str:
    """`text: '<first 60 characters of the value>'<after>` as SQL."""
    head, tail = _literal(text + ": '"), _literal("'" + after)
    return f"{head} || left({value_sql}, 60) || {tail}"


def _column_checks(c: Column, with_partition: bool) -> tuple[str, str, str | None]:
    """(check expression, cleaned value expression, parsed value expression) of one column."""
    v = f"_v_{c.name}"
    label = column_label(c)
    whens: list[str] = [
        f"when contains({v}, chr(0)) then "
        + _check("nul_character", _literal(f"{label} holds a NUL character")),
        f"when length({v}) > {MAX_TEXT_CHARS} then "
        + _check("too_long", _literal(f"{label} is longer than {MAX_TEXT_CHARS:,} characters")),
    ]
    if c.required:
        whens.append(f"when {v} is null then " + _check("required", _literal(f"{label} is empty")))
    cleaned, parsed = v, None
    future_value = v
    future_test = None
    if with_partition:
        # the first local instant "in the future" of the row's partition day
        future_from = f"(_partition_date + interval {1 + FUTURE_SLACK_DAYS} day)"
        future_text = (
            _literal(f"{label} is more than 1 day after its partition day ")
            + " || strftime(_partition_date, '%Y-%m-%d') || ': ''' || left({value}, 60) || ''''"
        )
    if c.rule == "local_ts":
        parsed = f"_p_{c.name}"
        whens.append(
            f"when {parsed} is null then "
            + _check("local_timestamp", _quoted(f"{label} is not a local time", v))
        )
        cleaned = f"coalesce(strftime({parsed}, '%Y-%m-%d %H:%M:%S'), {v})"
        future_value = cleaned
        if with_partition:
            future_test = f"{parsed} >= {future_from}"
        parse_sql = (
            "coalesce("
            + ", ".join(
                f"case when regexp_full_match({v}, {_literal(_TS_SHAPES[fmt])}) "
                f"then try_strptime({v}, {_literal(fmt)}) end"
                for fmt in LOCAL_TS_FORMATS
            )
            + ")"
        )
    elif c.rule == "local_date":
        parsed = f"_p_{c.name}"
        whens.append(
            f"when {parsed} is null then "
            + _check("local_date", _quoted(f"{label} is not a date", v))
        )
        cleaned = f"coalesce(strftime({parsed}, '%Y-%m-%d'), {v})"
        future_value = cleaned
        if with_partition:
            future_test = f"{parsed} >= {future_from}"
        parse_sql = (
            "coalesce("
            + ", ".join(
                f"case when regexp_full_match({v}, {_literal(shape)}) "
                f"then try_strptime({v}, {_literal(fmt)}) end"
                for fmt, shape in LOCAL_DATE_FORMATS.items()
            )
            + ")"
        )
    elif c.rule in ("epoch_s", "epoch_ms", "decimal", "int"):
        parsed = f"_p_{c.name}"
        parse_sql = (
            f"case when regexp_full_match({v}, {_literal(NUMBER_SHAPE)}) "
            f"then try_cast({v} as double) end"
        )
        if c.rule.startswith("epoch"):
            scale = 1000 if c.rule == "epoch_ms" else 1
            lo, hi = EPOCH_S_RANGE
            unit = "milliseconds" if scale > 1 else "seconds"
            whens.append(
                f"when {parsed} is null or {parsed} < {lo * scale} or {parsed} > {hi * scale} "
                f"or {parsed} <> floor({parsed}) then "
                + _check(c.rule, _quoted(f"{label} is not epoch {unit}", v))
            )
            if with_partition:
                # epoch of the local instant: local wall time minus the business UTC offset
                future_test = (
                    f"{parsed} >= epoch({future_from} - interval {BUSINESS_UTC_OFFSET_HOURS} "
                    f"hour) * {scale}"
                )
        else:
            fail = f"{parsed} is null or abs({parsed}) >= 1e{MAX_NUMBER_DIGITS}"
            if c.rule == "int":
                fail += f" or {parsed} <> floor({parsed})"
            whens.append(
                f"when {fail} then "
                + _check(
                    c.rule, _quoted(f"{label} is not a number below 10^{MAX_NUMBER_DIGITS}", v)
                )
            )
            if c.non_negative:
                whens.append(
                    f"when {parsed} < 0 then "
                    + _check("negative_amount", _quoted(f"{label} is negative", v))
                )
    elif c.rule == "yes_no_zh":
        whens.append(
            f"when {v} not in ('是', '否') then "
            + _check("yes_no", _quoted(f"{label} is not 是/否", v))
        )
    elif c.rule == "bool":
        whens.append(
            f"when lower({v}) not in ('true', 'false', '1', '0') then "
            + _check("boolean", _quoted(f"{label} is not true/false", v))
        )
    elif c.rule == "enum":
        known = ", ".join(_literal(x) for x in c.values)
        whens.append(
            f"when {v} not in ({known}) then "
            + _check(
                "unknown_value",
                _quoted(f"{label} is not a known value", v, f" (known: {', '.join(c.values)})"),
            )
        )
    if future_test is not None:
        whens.append(
            f"when {future_test} then "
            + _check("future_timestamp", future_text.format(value=future_value))
        )
    # every rule but `required` judges a present value only
    present = f"{v} is not null"
    body = "\n            ".join(whens)
    check = (
        f"case when {present} or {'true' if c.required else 'false'} then case\n"
        f"            {body}\n        end end"
    )
    return check, cleaned, (parse_sql if parsed else None)


def validation_query(entity: Entity, relation: str, with_partition: bool = True) -> str:
    """The query validating `relation` (see the module's docstring)."""
    values, parses, checks, cleaned = [], [], [], []
    for c in entity.columns:
        values.append(f"{_trimmed(_ident(c.name))} as _v_{c.name}")
        check, clean, parse = _column_checks(c, with_partition)
        if parse:
            parses.append(f"{parse} as _p_{c.name}")
        checks.append(check)
        cleaned.append(f"{clean} as {_ident(c.name)}")
    partition = ", _partition_date" if with_partition else ""
    parsed_cols = "".join(f",\n        {p}" for p in parses)
    value_cols = ",\n        ".join(values)
    check_cols = ",\n        ".join(checks)
    return f"""
with trimmed as (
    select _row_number, _label{partition},
        {value_cols}
    from {relation}
),
parsed as (
    select *{parsed_cols}
    from trimmed
),
checked as (
    select *, coalesce(
        {check_cols}
    ) as _check
    from parsed
)
select {", ".join(cleaned)}, _row_number, _label{partition},
    _check.rule as _rule, _check.reason as _reason
from checked
"""
