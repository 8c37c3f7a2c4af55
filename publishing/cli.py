"""`siyu publish`: list kept versions, show the publication log, roll back to a kept version.

Publishing itself happens in the daily job, after the blocking checks pass; this command never
publishes unchecked data. Wire-up: ``orchestration.cli`` hands ``siyu publish ...`` to ``main``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siyu publish",
        description="Published versions of the marts (data/serving.duckdb, data/published/).",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--rollback",
        metavar="VERSION",
        help="make a kept version live again (also in PostgreSQL if SIYU_PG_DSN)",
    )
    action.add_argument("--list", action="store_true", help="list kept versions (default)")
    action.add_argument(
        "--log",
        action="store_true",
        help="print the publication log: one line per publish, rollback, blocked "
        "or failed attempt (a blocked one adds a line per failed check)",
    )
    parser.add_argument(
        "--json", action="store_true", help="with --log: print the log records as JSON lines"
    )
    return parser


def main(
    argv: list[str] | None,
    *,
    serving_path,
    published_dir,
    pg_dsn: str | None = None,
    pg_readers: Sequence[str] = (),
) -> int:
    """`siyu publish ...`; the caller (orchestration/cli.py) passes the configured paths, the DSN
    (SIYU_PG_DSN) and the PostgreSQL reader roles a rollback grants (SIYU_PG_READERS)."""
    from publishing import list_versions, read_log, rollback
    from publishing.dsn import mask_secrets
    from publishing.log import format_record
    from publishing.serving import PublishError, default_versions_dir

    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.json and not args.log:
        parser.error("--json goes with --log")
    paths = {"serving_path": serving_path, "published_dir": published_dir}
    if args.rollback:
        try:
            pub = rollback(
                args.rollback, **paths, run_id="cli", pg_dsn=pg_dsn, pg_readers=pg_readers
            )
        except PublishError as exc:
            print(
                f"siyu publish: {mask_secrets(' '.join(str(exc).split()), pg_dsn)}", file=sys.stderr
            )
            return 1
        print(
            f"live version is now {pub.version} (published {pub.published_at.isoformat()}, "
            f"run {pub.run_id}){'; PostgreSQL reloaded' if pub.pg_schema else ''}"
        )
        return 0
    if args.log:
        # records are written masked; masking again covers lines logged before that
        for record in read_log(default_versions_dir(serving_path)):
            lines = [json.dumps(record, ensure_ascii=False)] if args.json else format_record(record)
            for line in lines:
                print(mask_secrets(line, pg_dsn))
        return 0
    versions = list_versions(**paths)
    if not versions:
        print(f"nothing published yet at {serving_path}")
    for v in versions:
        rows = sum(v["row_counts"].values())
        flag = "live" if v["live"] else ""
        print(
            f"{v['version']}  {v['published_at']}  run={v['run_id']}  "
            f"tables={len(v['row_counts'])}  rows={rows}  {flag}"
        )
    return 0
