"""Hashing, suppression and the mass-send export builder, without a pipeline run."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd

from ingestion.entities import entity
from ingestion.loader import load_days
from privacy import suppression
from privacy.erasure import ErasureRequest, _patterns, scrub_lines
from privacy.hashing import normalize_phone, normalize_series, reference_hash, salted_hash
from privacy.wecom_export import build_mass_send_payloads
from tests.fixtures.tiny_landing import DAY1, DAY2, write_tiny_landing

SALT = "test-salt"


def test_salted_hash_equals_the_dbt_macro():
    con = duckdb.connect()
    # dbt.hash(concat(salt, '|', value)) on DuckDB is md5 of the concatenation
    assert con.execute("select md5(? || '|' || ?)", [SALT, "13800138001"]).fetchone()[
        0
    ] == salted_hash("13800138001", SALT)


def test_reference_hash_is_salted_and_typed():
    a = reference_hash("phone", "13800138001", SALT)
    assert a != reference_hash("phone", "13800138001", "other-salt")
    assert a != reference_hash("member_id", "13800138001", SALT)
    assert "13800138001" not in a


def test_phone_normalisation_matches_dbt():
    raw = ["+86 138-0013-8001", "0086 13800138001", "8613800138001", "138 0013 8001", "12345", None]
    assert [normalize_phone(v) for v in raw] == ["13800138001"] * 4 + [None, None]
    assert normalize_series("phone", pd.Series(raw)).tolist()[:4] == ["13800138001"] * 4


def test_suppression_masks_rows_and_lists():
    supp = suppression.Suppression(
        SALT,
        {
            "phone": {reference_hash("phone", "13800138001", SALT)},
            "external_userid": {reference_hash("external_userid", "wmA", SALT)},
        },
    )
    members = pd.DataFrame(
        {"member_id": ["M1", "M2"], "phone": ["+86 138-0013-8001", "13900139002"]}
    )
    assert supp.row_mask(members, "crm__members").tolist() == [True, False]
    messages = pd.DataFrame({"from_userid": ["staff_li", "wmB"], "tolist": ['["wmA"]', "staff_li"]})
    assert supp.row_mask(messages, "wecom__messages").tolist() == [True, False]
    assert supp.text_matches('{"phone": "+86 138 0013 8001"}')
    assert not supp.text_matches('{"phone": "13900139002"}')


def test_loader_drops_suppressed_persons_on_reload(tmp_path):
    landing = write_tiny_landing(tmp_path / "landing")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    members, contacts = entity("crm", "members"), entity("wecom", "external_contacts")
    suppression.add(
        con, [("phone", "13800138001"), ("member_id", "M1"), ("external_userid", "wmA")], SALT, "e1"
    )
    supp = suppression.load(con, SALT)
    load_days(con, members, [DAY1, DAY2], landing, tmp_path / "q", suppressed=supp)
    load_days(con, contacts, [DAY1, DAY2], landing, tmp_path / "q", suppressed=supp)
    assert (
        con.execute("select count(*) from raw.crm__members where member_id = 'M1'").fetchone()[0]
        == 0
    )
    assert (
        con.execute("select count(*) from raw.crm__members where member_id = 'M2'").fetchone()[0]
        > 0
    )
    assert (
        con.execute(
            "select count(*) from raw.wecom__external_contacts where external_userid = 'wmA'"
        ).fetchone()[0]
        == 0
    )
    # the stored list holds hashes only
    stored = con.execute("select * from privacy.suppression_list").df().astype(str)
    assert not stored.apply(lambda c: c.str.contains("13800138001|wmA|M1")).any().any()


def test_scrub_lines_matches_raw_phone_forms(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"phone": "+86 138-0013-8001"}\n{"phone": "13900139002"}\n{"phone": "213800138001"}\n',
        encoding="utf-8",
    )
    assert scrub_lines(path, _patterns([("phone", "13800138001")])) == 1
    assert "138-0013-8001" not in path.read_text(encoding="utf-8")


def test_erasure_request_rejects_bad_identifiers():
    req = ErasureRequest([("phone", "+86 138 0013 8001"), ("member_id", " M1 ")], requested_by="t")
    assert req.normalised() == [("member_id", "M1"), ("phone", "13800138001")]
    try:
        ErasureRequest([("phone", "123")]).normalised()
    except ValueError as exc:
        assert "phone" in str(exc)
    else:
        raise AssertionError("a bad phone must be refused")


def test_mass_send_payloads_per_sender():
    nba = pd.DataFrame(
        {
            "person_id": ["p1", "p2", "p3", "p4"],
            "action": ["birthday_coupon", "birthday_coupon", "recall_content", "birthday_coupon"],
            "channel": ["wecom_1v1", "wecom_1v1", "wecom_1v1", "sms"],
        }
    )
    identity = pd.DataFrame(
        {
            "id_type": ["external_userid"] * 3 + ["phone"],
            "id_value": ["wm1", "wm2", "wm3", "13800138001"],
            "person_id": ["p1", "p2", "p3", "p4"],
        }
    )
    t0 = dt.datetime(2026, 5, 1)
    contacts = pd.DataFrame(
        {
            "external_userid": ["wm1", "wm1", "wm2"],
            "staff_userid": ["staff_b", "staff_a", "staff_b"],
            "added_at": [t0, t0 + dt.timedelta(days=1), t0],
        }
    )
    payloads, unsent = build_mass_send_payloads(
        nba, identity, contacts, {"birthday_coupon": "生日快乐"}
    )
    assert payloads == [
        {
            "chat_type": "single",
            "external_userid": ["wm1", "wm2"],
            "sender": "staff_b",
            "text": {"content": "生日快乐"},
        }
    ]
    assert unsent["person_id"].tolist() == ["p3"]  # wm3 has no staff relationship
    json.dumps(payloads, ensure_ascii=False)
