"""Erasure, then the same extracts delivered again (issue 15's catalogue): the erased person's
rows never come back, in the raw layer or in the quarantine, whatever format their identifier
arrives in; everyone else's rows load as before.

The whole pipeline case (erase after a run, then `siyu run` on the re-delivered day) is
tests/privacy/test_pipeline_privacy.py; this is the loader's part, on a hand-built tree.
"""

from __future__ import annotations

import pytest

from ingestion.entities import entity
from ingestion.loader import load_days
from privacy import suppression
from tests.faults.landing import DAY, MEMBERS_HEADER, ORDERS_HEADER, D, Tree, epoch_ms, jsonl

pytestmark = pytest.mark.fault("erasure then re-ingest")

SALT = "fault-suite-salt"
MEMBERS = [
    f"M1,张伟,+86 138-0013-8001,{D} 09:00:00,门店,金卡会员,,上海,是,,{D} 09:00:00",
    f"M2,陈静,13900139002,{D} 09:10:00,门店,普通会员,,北京,是,,{D} 09:10:00",
]
ORDERS = [
    f"C1,M1,{D} 09:30:00,199.00,20.00,是,已完成,上海旗舰店",
    f"C2,M1,{D} 09:40:00,-1,0,否,已完成,上海旗舰店",  # M1's rejected row: not kept either
    f"C3,M2,{D} 10:30:00,59.90,0,否,已完成,上海旗舰店",
]
MP_USERS = [
    {"openid": "oM1", "unionid": None, "phone_number": "0086 13800138001", "nickname": "w",
     "registered_at": epoch_ms(DAY), "scene": 1047, "consent_marketing": True,
     "unsubscribed_at": None, "updated_at": epoch_ms(DAY)},
    {"openid": "oM2", "unionid": None, "phone_number": None, "nickname": "c",
     "registered_at": epoch_ms(DAY), "scene": 1047, "consent_marketing": True,
     "unsubscribed_at": None, "updated_at": epoch_ms(DAY)},
]  # fmt: skip


def _load_all(tree: Tree, supp) -> dict[str, int]:
    loaded = {}
    for source, name in [("crm", "members"), ("crm", "orders"), ("miniprogram", "users")]:
        result = load_days(
            tree.con, entity(source, name), [DAY], tree.landing, tree.quarantine, suppressed=supp
        )
        loaded[name] = result.rows_loaded
    return loaded


def test_an_erased_person_stays_out_of_a_reingested_day(tmp_path):
    tree = Tree(tmp_path)
    tree.write(f"crm/{D}/members.csv", "\n".join([MEMBERS_HEADER, *MEMBERS]) + "\n")
    tree.write(f"crm/{D}/orders.csv", "\n".join([ORDERS_HEADER, *ORDERS]) + "\n")
    tree.write(f"miniprogram/{D}/users.jsonl", jsonl(MP_USERS))
    before = _load_all(tree, suppression.load(tree.con, SALT))
    assert before == {"members": 2, "orders": 2, "users": 2}

    # The erasure knows the person by member id and phone (normalised): hashes only.
    suppression.add(tree.con, [("member_id", "M1"), ("phone", "13800138001")], SALT, "e1")
    after = _load_all(tree, suppression.load(tree.con, SALT))

    assert after == {"members": 1, "orders": 1, "users": 1}
    assert [r["member_id"] for r in tree.raw("crm__members")] == ["M2"]
    assert [r["order_id"] for r in tree.raw("crm__orders")] == ["C3"]
    assert [r["openid"] for r in tree.raw("miniprogram__users")] == ["oM2"]  # phone in 0086 form
    assert tree.quarantined() == []  # C2 (M1's negative amount) is not kept in the quarantine
    stored = tree.con.execute("select * from privacy.suppression_list").fetchall()
    assert stored and all("M1" not in map(str, row) for row in stored)
