"""The restricted mass-send export end to end on a real DuckDB (privacy.wecom_export), and the
one-way dependency of privacy on the loading code."""

from __future__ import annotations

import ast
import datetime as dt
import json
import stat
from pathlib import Path

import duckdb
import pandas as pd

from privacy.wecom_export import EXPORT_SUBDIR, export_dir, export_mass_send, write_export

PRIVACY = Path(__file__).parents[2] / "privacy"


def _table(con, name: str, frame: pd.DataFrame) -> None:
    con.register("f", frame)
    con.execute(f"create table {name} as select * from f")
    con.unregister("f")


def _build_db(path: Path, nba: pd.DataFrame) -> None:
    with duckdb.connect(str(path)) as con:
        for schema in ("marts", "intermediate", "staging", "seeds"):
            con.execute(f"create schema {schema}")
        _table(con, "marts.next_best_actions", nba)
        _table(
            con,
            "intermediate.identity_map",
            pd.DataFrame(
                {
                    "id_type": ["external_userid", "external_userid", "openid", "external_userid"],
                    "id_value": ["wm_a", "wm_b", "o_c", "wm_junk"],
                    "person_id": ["p1", "p2", "p3", None],
                }
            ),
        )
        _table(
            con,
            "staging.stg_wecom__external_contacts",
            pd.DataFrame(
                {
                    "external_userid": ["wm_a", "wm_b"],
                    "staff_userid": ["staff_1", ""],
                    "added_at": pd.to_datetime(["2026-04-01", "2026-04-02"]),
                }
            ),
        )
        _table(
            con,
            "seeds.interaction_response_matrix",
            pd.DataFrame(
                {"action": ["coupon", "coupon"], "message_template": ["B text", "A text"]}
            ),
        )


def test_export_writes_the_days_requests_owner_only(tmp_path):
    db = tmp_path / "build.duckdb"
    _build_db(
        db,
        pd.DataFrame(
            {
                "person_id": ["p1", "p2", "p3"],
                "action_date": [dt.date(2026, 5, 3)] * 3,
                "action": ["coupon"] * 3,
                "channel": ["wecom_1v1", "wecom_1v1", "sms"],
            }
        ),
    )
    restricted = tmp_path / "restricted"
    with duckdb.connect(str(db), read_only=True) as con:
        export = export_mass_send(con, restricted, default_date=dt.date(2026, 5, 9))
    assert export.action_date == "2026-05-03"
    assert export.path == restricted / EXPORT_SUBDIR / "2026-05-03.json"
    assert export.wecom_1v1_actions == 2
    # p2's only staff relationship has no staff id: left out, and counted
    assert export.unsent["person_id"].tolist() == ["p2"]
    assert json.loads(export.path.read_text(encoding="utf-8")) == [
        {
            "chat_type": "single",
            "external_userid": ["wm_a"],
            "sender": "staff_1",
            "text": {"content": "A text"},
        }
    ]
    assert export.recipients_per_sender.to_dict() == {"staff_1": 1}
    assert stat.S_IMODE(export.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(export_dir(restricted).stat().st_mode) == 0o700
    assert stat.S_IMODE(restricted.stat().st_mode) == 0o700
    assert not list(export_dir(restricted).glob("*.tmp"))


def test_a_day_without_actions_writes_an_empty_export_named_by_the_default_day(tmp_path):
    db = tmp_path / "build.duckdb"
    _build_db(
        db,
        pd.DataFrame(
            {
                "person_id": pd.Series([], dtype=str),
                "action_date": pd.Series([], dtype="datetime64[us]"),
                "action": pd.Series([], dtype=str),
                "channel": pd.Series([], dtype=str),
            }
        ),
    )
    with duckdb.connect(str(db), read_only=True) as con:
        export = export_mass_send(con, tmp_path / "r", default_date=dt.date(2026, 5, 9))
    assert export.action_date == "2026-05-09" and export.payloads == []
    assert json.loads(export.path.read_text(encoding="utf-8")) == []
    assert export.recipients_per_sender.empty


def test_a_rewritten_export_replaces_the_days_file(tmp_path):
    first = write_export(tmp_path, "2026-05-03", [{"sender": "a", "external_userid": ["x"]}])
    second = write_export(tmp_path, "2026-05-03", [])
    assert first == second and json.loads(second.read_text(encoding="utf-8")) == []


def test_privacy_imports_nothing_from_the_loading_code():
    imported = set()
    for path in PRIVACY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {(path.name, a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module))
    assert not [(f, m) for f, m in imported if m.split(".")[0] == "ingestion"]
    from ingestion.entities import IDENTIFIER_COLUMNS
    from privacy.identifiers import IDENTIFIER_COLUMNS as privacy_columns

    assert IDENTIFIER_COLUMNS is privacy_columns
