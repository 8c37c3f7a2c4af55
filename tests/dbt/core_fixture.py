"""A small landing tree for the core marts (dim_users, fct_orders), loaded into the raw layer by
the real ingestion loader and built by dbt from staging up: the cases a real retailer's data
showed, where a registration and an activity share the person's earliest timestamp.

Every person below is seen first at one instant T by a registration and, at the very same T, by
an activity (an order, a message); the registration's channel must win:

* M10: CRM member registered in a store (门店) at 10:00:00 and paid at the till at 10:00:00.
* M11: registered in the online mall (线上商城) at 11:00:00, first online order at 11:00:00.
* M13: mini-program user oX13 registered 13:00:00 (phone 13700000013); the CRM member M13 with
  the same phone registers a day later, but its CRM order is stamped 13:00:00 on day 1.
* o15: mini-program user registered at 15:00:00 (unionid U15); WeCom contact wm15 (unionid U15) is
  added later, but its first inbound message is stamped 15:00:00.
* M16: CRM member registered in a store at 16:00:00 and mini-program user o16 (same phone) at
  16:00:00: two registrations tie, the CRM registration (with its declared channel) wins.

And two people whose activity is strictly first (no tie), so it keeps its label:

* M12: CRM order at 11:59:00, then registered via WeCom (企业微信) at 12:00:00: `crm`.
* wm17: WeCom contact added at 17:00:00 after a mini-program order of o17 (unionid U17) at 16:59.

Money: C10 pays 199.99 with 20.01 off; the mini-program order of oX13 pays 1999 fen (19.99) with 1
fen off; C11 0.10 and C12 0.20 (cents that binary floating point cannot hold).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb

from ingestion.entities import ENTITIES
from ingestion.loader import load_days

DAY1 = dt.date(2026, 6, 1)
DAY2 = dt.date(2026, 6, 2)

MEMBERS_HEADER = (
    "会员编号,姓名,手机号,注册时间,注册渠道,会员等级,生日,城市,营销授权,退订时间,更新时间"
)
ORDERS_HEADER = "订单号,会员编号,下单时间,订单金额,优惠金额,是否用券,订单状态,门店"

EXPECTED_FIRST_CHANNEL = {
    ("member_id", "M10"): "store",
    ("member_id", "M11"): "online_mall",
    ("member_id", "M12"): "crm",
    ("member_id", "M13"): "miniprogram",
    ("openid", "o15"): "miniprogram",
    ("member_id", "M16"): "store",
    ("external_userid", "wm17"): "miniprogram",
}

EXPECTED_ORDERS = {
    # order_id: (amount, discount_amount), exact cents
    "crm:C10": (Decimal("199.99"), Decimal("20.01")),
    "crm:C11": (Decimal("0.10"), Decimal("0.00")),
    "crm:C12": (Decimal("0.20"), Decimal("0.00")),
    "crm:C13": (Decimal("59.90"), Decimal("0.00")),
    "mp:W13": (Decimal("19.99"), Decimal("0.01")),
    "mp:W17": (Decimal("0.30"), Decimal("0.00")),
}


def _ms(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> int:
    """Epoch milliseconds of a Shanghai local time (UTC+8)."""
    local = dt.datetime.combine(day, dt.time(hh, mm, ss))
    return int((local - dt.timedelta(hours=8)).replace(tzinfo=dt.UTC).timestamp() * 1000)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _jsonl(path: Path, records: list[dict]) -> None:
    _write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def write_core_landing(root: Path) -> Path:
    d1, d2 = DAY1.isoformat(), DAY2.isoformat()
    _write(
        root / "crm" / d1 / "members.csv",
        "\n".join(
            [
                MEMBERS_HEADER,
                f"M10,甲,13700000010,{d1} 10:00:00,门店,普通会员,,上海,是,,",
                f"M11,乙,13700000011,{d1} 11:00:00,线上商城,普通会员,,上海,是,,",
                f"M12,丙,13700000012,{d1} 12:00:00,企业微信,普通会员,,上海,是,,",
                f"M16,戊,13700000016,{d1} 16:00:00,门店,普通会员,,上海,是,,",
            ]
        )
        + "\n",
    )
    _write(
        root / "crm" / d2 / "members.csv",
        "\n".join([MEMBERS_HEADER, f"M13,丁,13700000013,{d2} 09:00:00,门店,普通会员,,上海,是,,"])
        + "\n",
    )
    _write(
        root / "crm" / d1 / "orders.csv",
        "\n".join(
            [
                ORDERS_HEADER,
                f"C10,M10,{d1} 10:00:00,199.99,20.01,是,已完成,上海旗舰店",
                f"C11,M11,{d1} 11:00:00,0.10,0,否,已完成,线上商城",
                f"C12,M12,{d1} 11:59:00,0.20,0,否,已完成,上海旗舰店",
                f"C13,M13,{d1} 13:00:00,59.90,0,否,已完成,上海旗舰店",
            ]
        )
        + "\n",
    )
    _jsonl(
        root / "miniprogram" / d1 / "users.jsonl",
        [
            {
                "openid": "oX13",
                "unionid": None,
                "phone_number": "13700000013",
                "nickname": "丁",
                "registered_at": _ms(DAY1, 13),
                "scene": 1047,
                "consent_marketing": True,
                "unsubscribed_at": None,
                "updated_at": _ms(DAY1, 13),
            },
            {
                "openid": "o15",
                "unionid": "U15",
                "phone_number": None,
                "nickname": "己",
                "registered_at": _ms(DAY1, 15),
                "scene": 1047,
                "consent_marketing": True,
                "unsubscribed_at": None,
                "updated_at": _ms(DAY1, 15),
            },
            {
                "openid": "o16",
                "unionid": None,
                "phone_number": "13700000016",
                "nickname": "戊",
                "registered_at": _ms(DAY1, 16),
                "scene": 1047,
                "consent_marketing": True,
                "unsubscribed_at": None,
                "updated_at": _ms(DAY1, 16),
            },
            {
                "openid": "o17",
                "unionid": "U17",
                "phone_number": None,
                "nickname": "庚",
                "registered_at": _ms(DAY1, 18),
                "scene": 1047,
                "consent_marketing": True,
                "unsubscribed_at": None,
                "updated_at": _ms(DAY1, 18),
            },
        ],
    )
    _jsonl(
        root / "miniprogram" / d1 / "orders.jsonl",
        [
            {
                "order_id": "W13",
                "openid": "oX13",
                "created_at": _ms(DAY1, 13, 30),
                "total_fee": 1999,
                "discount_fee": 1,
                "coupon_id": "cp1",
                "status": "paid",
            },
            {
                "order_id": "W17",
                "openid": "o17",
                "created_at": _ms(DAY1, 16, 59),
                "total_fee": 30,
                "discount_fee": 0,
                "coupon_id": None,
                "status": "paid",
            },
        ],
    )
    _jsonl(
        root / "wecom" / d1 / "external_contacts.jsonl",
        [
            {
                "external_contact": {
                    "external_userid": "wm15",
                    "unionid": "U15",
                    "name": "己",
                    "type": 1,
                    "gender": 1,
                },
                "follow_user": [
                    {
                        "userid": "staff_li",
                        "remark": "",
                        "createtime": _ms(DAY1, 19) // 1000,
                        "tags": [],
                        "remark_mobiles": [],
                        "add_way": 1,
                        "state": "",
                    }
                ],
            },
            {
                "external_contact": {
                    "external_userid": "wm17",
                    "unionid": "U17",
                    "name": "庚",
                    "type": 1,
                    "gender": 1,
                },
                "follow_user": [
                    {
                        "userid": "staff_li",
                        "remark": "",
                        "createtime": _ms(DAY1, 17) // 1000,
                        "tags": [],
                        "remark_mobiles": [],
                        "add_way": 1,
                        "state": "",
                    }
                ],
            },
        ],
    )
    _jsonl(
        root / "wecom" / d1 / "messages.jsonl",
        [
            {
                "msgid": "m15",
                "action": "send",
                "from": "wm15",
                "tolist": ["staff_li"],
                "roomid": "",
                "msgtime": _ms(DAY1, 15),
                "msgtype": "text",
                "text": {"content": "你好"},
            },
        ],
    )
    return root


def load_core_raw(db: Path, landing: Path, quarantine: Path) -> None:
    """Every extract of both days into raw.* (empty raw tables for the extracts not landed)."""
    con = duckdb.connect(str(db))
    try:
        for entity in ENTITIES:
            result = load_days(con, entity, [DAY1, DAY2], landing, quarantine, suppressed={})
            assert result.ok and result.rows_quarantined == 0, (entity.table, result.errors)
    finally:
        con.close()
