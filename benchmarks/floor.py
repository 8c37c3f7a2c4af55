"""Run the floor (benchmarks/floor.sql): the core outputs straight from the landed files by one
DuckDB script, no orchestration.

    python benchmarks/floor.py <landing_dir> <as_of YYYY-MM-DD> [--db floor.duckdb] [--memory-limit 4GB]

This runner only does what SQL cannot do here: it lists the landed files by the loader's file rules
(regular files named like an extract, directly in a `<source>/<YYYY-MM-DD>/` folder, days up to
as_of) and gives a GBK CSV to DuckDB as a UTF-8 copy. DuckDB's `encodings` extension would read GBK
itself, but it is downloaded on first use and this machine is offline; the built-in CSV reader
knows only UTF-8 (with or without a BOM), UTF-16 and Latin-1. Everything else (the row rules, the
deduplication, identity resolution, the marts) is the SQL script. Values reach the script as DuckDB
variables (SET VARIABLE ... = ?, read with getvariable), never by formatting SQL text.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "floor.sql"
SEEDS = HERE.parent / "dbt_project" / "seeds"
DEFAULT_HASH_SALT = "siyu-dev-salt-change-me"  # orchestration.lib.settings.DEFAULT_HASH_SALT
DEFAULT_JUNK_MAX_ACCOUNTS = 5  # SIYU_IDENTITY_JUNK_MAX_ACCOUNTS default

# (source, entity, extension): the twelve extracts the core marts read (ingestion/entities.py;
# miniprogram visit_stats feeds only registration_funnel, which the floor does not compute)
EXTRACTS = (
    ("crm", "members", "csv"),
    ("crm", "orders", "csv"),
    ("crm", "points", "csv"),
    ("crm", "feedback", "csv"),
    ("crm", "sms_sends", "csv"),
    ("wecom", "external_contacts", "jsonl"),
    ("wecom", "group_members", "jsonl"),
    ("wecom", "messages", "jsonl"),
    ("wecom", "campaign_sends", "jsonl"),
    ("miniprogram", "users", "jsonl"),
    ("miniprogram", "events", "jsonl"),
    ("miniprogram", "orders", "jsonl"),
)
# the contract's CSV headers, in order (datagen/FORMATS.md)
CSV_HEADERS = {
    "members": "会员编号,姓名,手机号,注册时间,注册渠道,会员等级,生日,城市,营销授权,退订时间,更新时间",
    "orders": "订单号,会员编号,下单时间,订单金额,优惠金额,是否用券,订单状态,门店",
    "points": "流水号,会员编号,变动时间,变动积分,变动原因",
    "feedback": "反馈编号,会员编号,反馈时间,评分,反馈内容",
    "sms_sends": "活动编号,会员编号,发送时间,场景,内容类型,实验编号,实验分组,发送状态",
}
DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _pattern(entity: str, ext: str) -> re.Pattern:
    # ingestion.landing.entity_pattern: orders.csv, orders (1).csv, orders_resend.csv
    return re.compile(rf"^{re.escape(entity)}([ _\-(].*)?\.{ext}$")


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)  # a link to a folder is refused
    except OSError:
        return False


def landed_files(
    landing_dir: Path, as_of: dt.date
) -> dict[tuple[str, str], list[tuple[dt.date, Path]]]:
    """The files the loader reads for each extract, day folders up to as_of."""
    out: dict[tuple[str, str], list[tuple[dt.date, Path]]] = {(s, e): [] for s, e, _ in EXTRACTS}
    for source in sorted({s for s, _, _ in EXTRACTS}):
        source_dir = landing_dir / source
        if not _is_dir(source_dir):
            continue
        for day_dir in sorted(source_dir.iterdir()):
            if not DAY_FOLDER.match(day_dir.name) or not _is_dir(day_dir):
                continue
            try:
                day = dt.date.fromisoformat(day_dir.name)
            except ValueError:
                continue
            if day > as_of:
                continue
            for f in sorted(day_dir.iterdir()):
                try:
                    if not stat.S_ISREG(os.lstat(f).st_mode):
                        continue  # links, FIFOs, folders are refused unread
                except OSError:
                    continue
                for s, entity, ext in EXTRACTS:
                    if s == source and _pattern(entity, ext).match(f.name):
                        out[(s, entity)].append((day, f))
    return out


def _utf8_csv(path: Path, entity: str, day: dt.date, work: Path) -> Path | None:
    """A CRM CSV DuckDB can read: the file itself when UTF-8 (BOM or not), else a UTF-8 copy of
    its GBK text in `work/<day>/`. None for a blank file (the loader rejects it: empty_file).

    The script reads CSVs by position; a header other than the contract's (columns reordered,
    missing or added, which the loader maps by name) is refused here rather than misread."""
    data = path.read_bytes()
    if not data.strip():
        return None
    try:
        text, copy = data.decode("utf-8"), False
    except UnicodeDecodeError:
        # GB18030: the superset of GBK that Excel and Python agree on (ingestion.reader.decode)
        text, copy = data.decode("gb18030"), True
    header = [h.strip() for h in text.lstrip("\ufeff").split("\n", 1)[0].split(",")]
    if header != CSV_HEADERS[entity].split(","):
        raise ValueError(
            f"{path}: header {','.join(header)!r} is not the contract's column order "
            f"{CSV_HEADERS[entity]!r}; the floor reads CSVs by position"
        )
    if not copy:
        return path
    target = work / day.isoformat() / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def run_floor(
    landing_dir: Path,
    as_of: dt.date,
    db_path: Path,
    memory_limit: str | None = None,
    *,
    hash_salt: str | None = None,
    junk_max_accounts: int | None = None,
    threads: int | None = None,
) -> dict:
    """Run floor.sql on the landed files into `db_path`; return the core outputs
    (benchmarks.agreement.core_outputs) plus `_meta` (seconds, files, GBK files converted).

    hash_salt / junk_max_accounts default to SIYU_HASH_SALT / SIYU_IDENTITY_JUNK_MAX_ACCOUNTS as
    the platform reads them; the salt makes person keys equal to the platform's, which RFM's
    NTILE uses to break ties."""
    from benchmarks.agreement import core_outputs

    started = time.perf_counter()
    landing_dir = Path(landing_dir)
    db_path = Path(db_path)
    salt = (
        hash_salt
        if hash_salt is not None
        else (os.environ.get("SIYU_HASH_SALT") or DEFAULT_HASH_SALT)
    )
    junk = junk_max_accounts or int(
        os.environ.get("SIYU_IDENTITY_JUNK_MAX_ACCOUNTS") or DEFAULT_JUNK_MAX_ACCOUNTS
    )
    work = Path(tempfile.mkdtemp(prefix="floor-utf8-", dir=db_path.parent))
    try:
        files = landed_files(landing_dir, as_of)
        days = [d for fs in files.values() for d, _ in fs]
        variables: dict[str, object] = {
            "as_of": as_of,
            "first_day": min(days) if days else as_of,
            "junk_max_accounts": junk,
            "hash_salt": salt,
            "blocklist_csv": str(SEEDS / "identity_blocklist.csv"),
            "rfm_segments_csv": str(SEEDS / "rfm_segments.csv"),
            "rfm_tiers_csv": str(SEEDS / "rfm_tiers.csv"),
        }
        converted = 0
        for source, entity, ext in EXTRACTS:
            paths: list[str] = []
            for day, path in files[(source, entity)]:
                if ext == "csv":
                    readable = _utf8_csv(path, entity, day, work / source)
                    if readable is None:
                        continue
                    converted += readable != path
                    paths.append(str(readable))
                else:
                    paths.append(str(path))
            if not paths:  # no file at all: an empty stand-in, so the script reads no rows
                stand_in = work / f"_empty_{source}_{entity}.{ext}"
                stand_in.write_text(CSV_HEADERS[entity] + "\n" if ext == "csv" else "", "utf-8")
                paths.append(str(stand_in))
            variables[f"f_{source}_{entity}"] = paths

        db_path.unlink(missing_ok=True)
        con = duckdb.connect(str(db_path))
        try:
            if memory_limit:
                con.execute("SET memory_limit = ?", [memory_limit])
            if threads:
                con.execute("SET threads = ?", [int(threads)])
            con.execute("SET temp_directory = ?", [str(work / "_spill")])
            for name, value in variables.items():
                con.execute(f"SET VARIABLE {name} = ?", [value])
            # DuckDB runs the script's statements in order
            con.execute(SCRIPT.read_text(encoding="utf-8"))
            outputs = core_outputs(con, schema="main", as_of=as_of)
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    outputs["_meta"] = {
        "seconds": round(time.perf_counter() - started, 3),
        "files": sum(len(v) for v in files.values()),
        "gbk_files_converted": converted,
    }
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("landing_dir", type=Path)
    parser.add_argument("as_of", type=dt.date.fromisoformat)
    parser.add_argument("--db", type=Path, default=Path("floor.duckdb"))
    parser.add_argument("--memory-limit")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", type=Path, help="write the outputs as JSON here")
    args = parser.parse_args()
    out = run_floor(args.landing_dir, args.as_of, args.db, args.memory_limit, threads=args.threads)
    if args.out:
        args.out.write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps(out["_meta"]))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE.parent))
    main()
