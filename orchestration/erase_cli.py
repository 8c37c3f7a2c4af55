"""`siyu erase`: a PIPL art. 47 erasure request, end to end.

Resolves the persons behind the given identifiers (identity_map); publishes the live publication
(the last audited one, never the build database, which after a blocked run holds marts that did
not pass) minus the persons as a new version and cleans every other kept version in place
(privacy.publications); deletes them from the raw, staging/intermediate/marts/ml/audit layers of
the build database, adds every identifier of theirs to the suppression list (salted hashes only)
so later loads drop them, and rewrites the build database file so the deleted values leave its
bytes; removes their lines from the quarantine files and the restricted WeCom export, erases them
from the live folder of the intraday path (SIYU_LIVE_DIR: its database, baselines and publication,
privacy.live), then writes the audit entry (privacy.erasure_audit and <data>/privacy/erasure_audit.jsonl, owner-only).

Run it while no daily run is writing the build database (it takes the `siyu run` lock).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

PRIVACY_SUBDIR = "privacy"
AUDIT_FILE = "erasure_audit.jsonl"
SUPPRESSION_FILE = "suppression_list.jsonl"
ID_FLAGS = {
    "phone": "phone",
    "unionid": "unionid",
    "openid": "openid",
    "external_userid": "external-userid",
    "member_id": "member-id",
}


def add_erase_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    for id_type, flag in ID_FLAGS.items():
        parser.add_argument(
            f"--{flag}",
            dest=id_type,
            action="append",
            default=[],
            metavar="VALUE",
            help=f"a {id_type} to erase (repeatable)",
        )
    parser.add_argument("--csv", type=Path, help="a CSV with columns id_type,id_value")
    parser.add_argument(
        "--requested-by",
        default=None,
        help="who asked (recorded in the audit log; default: the OS user)",
    )
    return parser


def build_erase_parser() -> argparse.ArgumentParser:
    return add_erase_arguments(argparse.ArgumentParser(prog="siyu erase", description=__doc__))


def _identifiers(args) -> list[tuple[str, str]]:
    from privacy.erasure import read_request_csv

    out = [(id_type, v) for id_type in ID_FLAGS for v in getattr(args, id_type, None) or []]
    if getattr(args, "csv", None):
        out += read_request_csv(args.csv)
    return out


def _republish(settings, planned) -> dict:
    """The live publication minus the erased persons as a new version; every other kept version
    cleaned or removed (privacy.publications). Never the build database: after a blocked run it
    holds marts that did not pass the audit."""
    from privacy.publications import republish_without
    from publishing.serving import default_versions_dir

    return republish_without(
        planned.erased_values,
        planned.erasure_id,
        serving_path=settings.serving_path,
        published_dir=settings.published_dir,
        versions_dir=default_versions_dir(settings.serving_path),
        keep_versions=settings.publish_keep_versions,
        pg_dsn=settings.pg_dsn,
        pg_readers=settings.pg_readers,
    )


def cmd_erase(args) -> int:
    from orchestration.cli import run_lock
    from orchestration.lib.settings import Settings
    from privacy.erasure import ErasureRequest

    identifiers = _identifiers(args)
    if not identifiers:
        print(
            "siyu erase: give at least one --phone, --unionid, --openid, --external-userid, "
            "--member-id or --csv FILE",
            file=sys.stderr,
        )
        return 2
    settings = Settings.from_env()
    request = ErasureRequest(identifiers, requested_by=args.requested_by or getpass.getuser())
    try:
        request.normalised()
    except ValueError as exc:
        print(f"siyu erase: {exc}", file=sys.stderr)
        return 2
    if not Path(settings.warehouse_path).exists():
        print(f"siyu erase: no build database at {settings.warehouse_path}", file=sys.stderr)
        return 1
    # no siyu run may load, build or publish meanwhile
    with run_lock(settings.data_dir):
        return _erase(settings, request)


def _erase(settings, request) -> int:
    from orchestration.lib.settings import duckdb_temp_dir
    from privacy.erasure import (
        audit_entry,
        erase_build_db,
        plan,
        scrub_files,
        scrub_mass_send_exports,
        write_audit,
    )
    from privacy.lake import erase_lake
    from privacy.live import erase_live
    from privacy.suppression import load as load_suppression
    from privacy.wecom_export import export_dir
    from warehouse.connection import connect
    from warehouse.files import private_dir, rewrite_duckdb_file

    privacy_dir = private_dir(settings.data_dir / PRIVACY_SUBDIR)
    # the build database with the platform's memory limit and spill folder, like every step
    limits = {
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(duckdb_temp_dir(settings.data_dir)),
    }
    with connect(settings.warehouse_path, read_only=True, **limits) as con:
        planned = plan(con, request)
    # publications first: if this fails, nothing is erased yet and the request can be run again
    # (afterwards identity_map no longer knows the persons' person_ids)
    try:
        publication = _republish(settings, planned)
    except Exception as exc:
        print(
            f"siyu erase: republishing without the persons failed, nothing was erased: "
            f"{type(exc).__name__}: {exc}. Fix the cause and run the same erase again.",
            file=sys.stderr,
        )
        return 1
    # the intraday path's live folder (database, baselines, live publication) holds them too
    # until the next daily baseline and live run; also before the build database, for a rerun
    live_dir = settings.live_dir or Path(settings.data_dir) / "live"  # as the live job has it
    try:
        live_counts, live = erase_live(live_dir, planned, settings.hash_salt)
    except Exception as exc:
        print(
            f"siyu erase: erasing the persons from the live folder {live_dir} failed, "
            f"nothing was erased from the build database: {type(exc).__name__}: {exc}. Fix the "
            "cause and run the same erase again.",
            file=sys.stderr,
        )
        return 1
    with connect(settings.warehouse_path, **limits) as con:
        result = erase_build_db(
            con,
            request,
            settings.hash_salt,
            suppression_path=privacy_dir / SUPPRESSION_FILE,
            planned=planned,
        )
    # the raw lake's days holding them are rewritten from the raw tables just cleaned
    # (after the build database's commit: a failure here is recorded and asks for a rerun,
    # like the file rewrite below, instead of leaving the erasure unaudited)
    lake_counts: dict[str, int] = {}
    lake = {"rewritten": settings.lake_dir is not None}
    if settings.lake_dir is not None:
        try:
            with connect(settings.warehouse_path, read_only=True, **limits) as con:
                # the whole suppression list (this erasure's identifiers included): a rerun after
                # a failure here finds the rows left, though identity_map no longer knows them
                lake_counts = erase_lake(
                    con,
                    settings.lake_dir,
                    load_suppression(con, settings.hash_salt, privacy_dir / SUPPRESSION_FILE),
                )
        except Exception as exc:
            lake = {"rewritten": False, "error": f"{type(exc).__name__}: {exc}"}
    # deleted rows stay in the file's free blocks until rewritten
    try:
        build_file = {"rewritten": True, **rewrite_duckdb_file(settings.warehouse_path)}
    except Exception as exc:  # the erasure stands; say so in the audit and ask for a rerun
        build_file = {"rewritten": False, "error": f"{type(exc).__name__}: {exc}"}
    files = {f"quarantine/{k}": v for k, v in scrub_files(settings.quarantine_dir, result).items()}
    files.update(
        {
            f"restricted/{k}": v
            for k, v in scrub_mass_send_exports(export_dir(settings.restricted_dir), result).items()
        }
    )
    files.update(live_counts)
    files.update(lake_counts)
    entry = audit_entry(request, result, settings.hash_salt, extra_counts=files)
    entry["publication"] = publication
    entry["build_database"] = build_file
    entry["live"] = live
    entry["lake"] = lake
    with connect(settings.warehouse_path, **limits) as con:
        write_audit(con, entry, privacy_dir / AUDIT_FILE)
    removed = sum(entry["counts"].values())
    actions = [v["action"] for v in publication["versions"].values()]
    print(
        json.dumps(
            {
                "erasure_id": result.erasure_id,
                "persons": len(result.person_ids),
                "identifiers": len(result.identifiers),
                "rows_removed": removed,
                "republished": publication["republished"],
                "republished_from": publication["from_version"],
                "versions_cleaned": actions.count("cleaned"),
                "versions_removed": actions.count("removed"),
            },
            indent=1,
        )
    )
    if "error" in lake:
        print(
            f"siyu erase: the persons are erased from the build database, but rewriting the raw "
            f"lake {settings.lake_dir} failed ({lake['error']}), so its files may still hold "
            "their rows; fix the cause and run the same erase again",
            file=sys.stderr,
        )
        return 1
    if not build_file["rewritten"]:
        print(
            f"siyu erase: the persons are erased, but rewriting {settings.warehouse_path} failed "
            f"({build_file['error']}), so their deleted values may still be in the file's bytes; "
            "fix the cause (it needs free space for a second copy) and run the same erase "
            "again, which rewrites the file",
            file=sys.stderr,
        )
        return 1
    if not result.person_ids:
        print(
            "siyu erase: no person in identity_map has these identifiers; they are suppressed "
            "for future loads and any raw rows carrying them were removed",
            file=sys.stderr,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    return cmd_erase(build_erase_parser().parse_args(argv))
