"""`siyu erase`: a PIPL art. 47 erasure request, end to end.

Resolves the persons behind the given identifiers (identity_map), deletes them from the raw,
staging/intermediate/marts/ml/audit layers of the build database, adds every identifier of theirs
to the suppression list (salted hashes only) so later loads drop them, removes their lines from the
quarantine files and the restricted WeCom export, republishes the cleaned marts as a new version
and deletes every older publication version (they still contain the persons), then writes the
audit entry (privacy.erasure_audit and <data>/privacy/erasure_audit.jsonl).

Run it while no daily run is writing the build database.
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
ID_FLAGS = {"phone": "phone", "unionid": "unionid", "openid": "openid",
            "external_userid": "external-userid", "member_id": "member-id"}


def add_erase_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    for id_type, flag in ID_FLAGS.items():
        parser.add_argument(f"--{flag}", dest=id_type, action="append", default=[],
                            metavar="VALUE", help=f"a {id_type} to erase (repeatable)")
    parser.add_argument("--csv", type=Path, help="a CSV with columns id_type,id_value")
    parser.add_argument("--requested-by", default=None,
                        help="who asked (recorded in the audit log; default: the OS user)")
    return parser


def build_erase_parser() -> argparse.ArgumentParser:
    return add_erase_arguments(argparse.ArgumentParser(prog="siyu erase", description=__doc__))


def _identifiers(args) -> list[tuple[str, str]]:
    from privacy.erasure import read_request_csv

    out = [(id_type, v) for id_type in ID_FLAGS for v in getattr(args, id_type, None) or []]
    if getattr(args, "csv", None):
        out += read_request_csv(args.csv)
    return out


def _republish(settings, erasure_id: str) -> dict:
    """Publish the cleaned build database as a new version and delete every other version."""
    import duckdb

    from data_quality.runner import list_suites
    from publishing import publish
    from publishing.serving import default_versions_dir, live_version

    versions_dir = default_versions_dir(settings.serving_path)
    if live_version(settings.serving_path) is None:
        return {"republished": None, "pruned": []}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        built = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                           "where table_schema = 'marts'").fetchall()}
    tables = [t for t in list_suites() if t in built]
    note = f"republished after erasure {erasure_id}: the last audited marts minus the erased persons"
    pub = publish(settings.warehouse_path, tables, serving_path=settings.serving_path,
                  published_dir=settings.published_dir, versions_dir=versions_dir,
                  run_id=f"erasure:{erasure_id}", keep_versions=1, pg_dsn=settings.pg_dsn,
                  pg_readers=settings.pg_readers,
                  check_summary={t: {"passed": True, "note": note} for t in tables})
    # keep_versions=1 prunes the rest; a version a reader still links to is removed too
    leftovers = [p for p in versions_dir.iterdir()
                 if p.is_dir() and p.name != pub.version and p.name.startswith("v")]
    for path in leftovers:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    return {"republished": pub.version, "pruned": [*pub.pruned, *(p.name for p in leftovers)]}


def cmd_erase(args) -> int:
    import duckdb

    from orchestration.defs.activation import export_dir
    from orchestration.lib.settings import Settings
    from privacy.erasure import (
        ErasureRequest,
        audit_entry,
        erase_build_db,
        scrub_files,
        scrub_mass_send_exports,
        write_audit,
    )

    identifiers = _identifiers(args)
    if not identifiers:
        print("siyu erase: give at least one --phone, --unionid, --openid, --external-userid, "
              "--member-id or --csv FILE", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    request = ErasureRequest(identifiers, requested_by=args.requested_by or getpass.getuser())
    try:
        request.normalised()
    except ValueError as exc:
        print(f"siyu erase: {exc}", file=sys.stderr)
        return 2
    privacy_dir = settings.data_dir / PRIVACY_SUBDIR
    if not Path(settings.warehouse_path).exists():
        print(f"siyu erase: no build database at {settings.warehouse_path}", file=sys.stderr)
        return 1
    with duckdb.connect(str(settings.warehouse_path)) as con:
        result = erase_build_db(con, request, settings.hash_salt,
                                suppression_path=privacy_dir / SUPPRESSION_FILE)
        con.execute("checkpoint")
    files = {f"quarantine/{k}": v for k, v in scrub_files(settings.quarantine_dir, result).items()}
    files.update({f"restricted/{k}": v for k, v in
                  scrub_mass_send_exports(export_dir(settings.restricted_dir), result).items()})
    publication = _republish(settings, result.erasure_id)
    entry = audit_entry(request, result, settings.hash_salt, extra_counts=files)
    entry["publication"] = publication
    with duckdb.connect(str(settings.warehouse_path)) as con:
        write_audit(con, entry, privacy_dir / AUDIT_FILE)
    removed = sum(entry["counts"].values())
    print(json.dumps({"erasure_id": result.erasure_id, "persons": len(result.person_ids),
                      "identifiers": len(result.identifiers), "rows_removed": removed,
                      "republished": publication["republished"],
                      "versions_deleted": len(publication["pruned"])}, indent=1))
    if not result.person_ids:
        print("siyu erase: no person in identity_map has these identifiers; they are suppressed "
              "for future loads and any raw rows carrying them were removed", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cmd_erase(build_erase_parser().parse_args(argv))
