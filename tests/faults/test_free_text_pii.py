"""Issue 15, PII in free text: a raw identifier that staff type into a free-text field (a phone as
the member's 城市, an external_userid or an openid as a campaign id, a phone in a store name) is
never published. Staging masks it with `[redacted]` (macro `mask_identifiers`); the marts' suites
refuse a published free-text value that still looks like one (the guard before publication).

* the macro, compiled by dbt and run by DuckDB, on hand-picked positives and negatives and on
  every identifier and free-text value the demo generator writes;
* a hand-built landing tree, loaded by the real loader and built by a real `dbt build`: the marts
  hold the mask, never the typed value, and ordinary values arrive unchanged;
* the suites (data_quality.runner): pass on the built marts, fail on a frame holding the raw value.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from data_quality.runner import load_suite, validate_duckdb, validate_frame
from datagen.generate import generate
from ingestion.entities import ENTITIES
from tests.data_quality.dq_frames import AS_OF, good_frame, reference
from tests.faults.landing import (
    DAY,
    MEMBERS_HEADER,
    ORDERS_HEADER,
    D,
    Tree,
    epoch_ms,
    epoch_s,
    jsonl,
)

pytestmark = [pytest.mark.fault("PII in free text"), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MASK = "[redacted]"
GUARD = "expect_column_values_to_not_match_regex"
# The published free-text columns the suites guard (fct_interactions is a summary-mode suite,
# which reads no rows: its free text is guarded through the marts built from it).
GUARDED = [
    ("dim_users", "city"),
    ("experiment_results", "experiment_id"),
    ("experiment_results", "variant"),
    ("interaction_retention", "scenario"),
]

# Identifiers typed into free-text fields (datagen/FORMATS.md, datagen/ids.py shapes).
TYPED_EXTERNAL_USERID = "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA"  # wo + 30
TYPED_OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"  # o + 27
RECIPIENT = "wmK8dQ2xV9pL4sT7yB1nC6hJ3fG5aE0z"  # the WeCom contact the sends reach
MP_USER = "oX7kP2mQ9rT4vW1yZ3bD5fH8jL0n"  # the mini-program user the events come from

POSITIVES = [
    "13800138000",
    "+86 138-0013-8000",
    "0086 13800138000",
    "138 0013 8000",
    "8613800138000",
    "+8613800138000",
    "138-0013-8000",
    "19912345678",
    "110105199003121234",
    "11010519900312123X",
    "zhang.wei@example.com.cn",
    "a@b.co",
    TYPED_OPENID,
    "oAbCdEfGhIjKlMnOpQrStUvWxYz1",
    "o-_______________________abc",
    TYPED_EXTERNAL_USERID,
    RECIPIENT,
]
# (value, masked): identifiers inside longer text, the rest of the text kept.
EMBEDDED = [
    ("张伟13800138000", f"张伟{MASK}"),
    ("电话:138 0013 8000 3号店", f"电话:{MASK} 3号店"),
    ("徐汇店 139-1234-5678", f"徐汇店 {MASK}"),
    ("13800138000,13900139000,13700137000", f"{MASK},{MASK},{MASK}"),
    ("a 13800138000 b 13900139000", f"a {MASK} b {MASK}"),
    (f"{TYPED_OPENID}|{RECIPIENT}", f"{MASK}|{MASK}"),
    (f"来自 {RECIPIENT} 的消息", f"来自 {MASK} 的消息"),
    ("联系 zhang.wei@example.com 谢谢", f"联系 {MASK} 谢谢"),
    ("身份证110105199003121234。", f"身份证{MASK}。"),
]
NEGATIVES = [
    "上海",
    "上海旗舰店",
    "线上商城",
    "cmp_0001",
    "cmp_exp_01",
    "exp_01",
    "control",
    "treatment",
    "store_0012",
    "staff_li",
    "pages/home/index",
    "cp_0042",
    "birthday",
    "member_day",
    "new_product_preview",
    "recall_step_1",
    "page_view",
    "text",
    "张伟-金卡",
    "M0001234",
    "C20260801000123",
    "20260801",
    "2026-08-01 09:00:00",
    "1714550400",
    "1714550400123",  # 13 digits: an epoch in ms, no phone
    "1380013800012",  # 13 digits
    "138001380001",  # 12 digits
    "1380013800",  # 10 digits
    "12345678901",  # 11 digits, no mobile prefix
    "110105199013121234",  # 18 digits, month 13: no ID card
    "official_account_welcome_msg",  # o + 27 lower-case snake_case: a name, not an openid
    "workshop_invitations_for_members",  # wo + 30 lower-case
    "oAbCdEfGhIjKlMnOpQrStUvWxYz12",  # o + 28: longer than an openid
    "wmAbCdEfGhIjKlMnOpQrStUvWxYz012",  # wm + 29: shorter than an external_userid
    "user@localhost",
    "",
]


def _dbt(args: list[str], target: Path, warehouse: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(target),
        "SIYU_WAREHOUSE_PATH": str(warehouse),
        "SIYU_DBT_THREADS": "2",
    }
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "dbt"), *args, "--profiles-dir", "."],
        cwd=REPO / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def mask_sql(tmp_path_factory) -> str:
    """`select mask_identifiers(v) as masked from cases`, as dbt compiles it for DuckDB."""
    tmp = tmp_path_factory.mktemp("mask_compile")
    proc = _dbt(
        [
            "compile",
            "--quiet",
            "--output",
            "json",
            "--inline",
            "select v, {{ mask_identifiers('v') }} as masked from cases",
        ],
        tmp / "target",
        tmp / "warehouse.duckdb",
    )
    return json.loads(proc.stdout)["compiled"]


def _masked(mask_sql: str, values: list[str | None]) -> dict[str | None, str | None]:
    con = duckdb.connect()
    try:
        con.execute("create table cases as select unnest(?::varchar[]) as v", [values])
        return dict(con.execute(mask_sql).fetchall())
    finally:
        con.close()


def _guard_regex() -> re.Pattern:
    regexes = {
        exp["kwargs"]["regex"]
        for table, column in GUARDED
        for exp in load_suite(table).expectations
        if exp["type"] == GUARD and exp["kwargs"]["column"] == column
    }
    assert len(regexes) == 1, "every guarded column has the one same guard"
    return re.compile(regexes.pop())


# --------------------------------------------------------------------------------------------
# The macro (run by DuckDB) and the guard (run by the suites) on the same values


def test_the_mask_replaces_every_identifier_shape_and_leaves_ordinary_text_unchanged(mask_sql):
    embedded = dict(EMBEDDED)
    masked = _masked(mask_sql, POSITIVES + list(embedded) + NEGATIVES + [None])
    assert {v: masked[v] for v in POSITIVES} == dict.fromkeys(POSITIVES, MASK)
    assert {v: masked[v] for v in embedded} == embedded
    assert {v: masked[v] for v in NEGATIVES} == {v: v for v in NEGATIVES}
    assert masked[None] is None


def test_the_suites_guard_flags_what_the_mask_replaces_and_nothing_else(mask_sql):
    guard = _guard_regex()
    for value in POSITIVES + [value for value, _ in EMBEDDED]:
        assert guard.search(value), value
    for value in NEGATIVES + [MASK] + [masked for _, masked in EMBEDDED]:
        assert not guard.search(value), value


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    """The generator's extracts (with its mess: messy phones, junk phones), loaded into raw.*."""
    tmp = tmp_path_factory.mktemp("pii_demo")
    start = dt.date(2026, 5, 1)
    generate(300, 10, start, 15, tmp / "landing", progress=False, workers=1)
    tree = Tree(tmp)
    for e in ENTITIES:
        result = tree.load(e.source, e.name, tuple(start + dt.timedelta(days=i) for i in range(10)))
        assert result.ok and result.rows_quarantined == 0, (e.table, result.errors)
    return tree.con


def _distinct(con: duckdb.DuckDBPyConnection, columns: dict[str, list[str]]) -> list[str]:
    values: set[str] = set()
    for table, cols in columns.items():
        for col in cols:
            rows = con.execute(f"select distinct {col} from raw.{table} where {col} is not null")
            values.update(str(v) for (v,) in rows.fetchall())
    return sorted(values)


def test_the_mask_replaces_every_generated_identifier_and_no_generated_free_text(demo, mask_sql):
    identifiers = _distinct(
        demo,
        {
            "crm__members": ["phone"],
            "miniprogram__users": ["openid", "unionid", "phone_number"],
            "wecom__external_contacts": ["external_userid", "unionid", "remark_mobiles"],
            "wecom__campaign_sends": ["external_userid"],
        },
    )
    identifiers = [v for v in identifiers if v not in ("[]", "")]
    free_text = _distinct(
        demo,
        {
            "crm__members": ["city", "member_tier"],
            "crm__orders": ["store_name"],
            "crm__points": ["reason"],
            "crm__sms_sends": ["campaign_id", "scenario", "content_type", "experiment_id", "variant"],
            "wecom__campaign_sends": [
                "campaign_id", "scenario", "content_type", "experiment_id", "variant", "sender"
            ],
            "wecom__external_contacts": ["remark", "tags", "add_state", "staff_userid"],
            "wecom__messages": ["msgtype"],
            "miniprogram__events": ["event_name", "page", "scenario", "campaign_id", "coupon_id"],
            "miniprogram__orders": ["coupon_id"],
        },
    )  # fmt: skip
    assert len(identifiers) > 500 and len(free_text) > 50
    masked = _masked(mask_sql, identifiers + free_text)
    # remark_mobiles is a JSON list of phones ('["138..."]'): each phone in it is masked
    unmasked = [
        v
        for v in identifiers
        if MASK not in masked[v] or re.search(r"[0-9A-Za-z]", masked[v].replace(MASK, ""))
    ]
    assert unmasked == []
    assert [v for v in free_text if masked[v] != v] == []
    guard = _guard_regex()
    assert [v for v in free_text if guard.search(v)] == []
    assert [v for v in identifiers if not guard.search(v)] == []


# --------------------------------------------------------------------------------------------
# The marts, built by dbt from a hand-built landing tree

MEMBERS = [
    # member, phone, city
    ("M1", "13700000001", "13800138000"),
    ("M2", "13700000002", "+86 138-0013-8000"),
    ("M3", "13700000003", "上海"),
]
ORDERS = [
    # order, member, store
    ("C1", "M1", "上海旗舰店"),
    ("C2", "M2", "徐汇店 139-1234-5678"),
    ("C3", "M3", "线上商城13912345678"),
]
SMS_HEADER = "活动编号,会员编号,发送时间,场景,内容类型,实验编号,实验分组,发送状态"
SMS_SENDS = [
    # campaign, member, scenario, content, experiment, variant
    ("13900139000", "M1", "birthday", "coupon", "", ""),
    ("cmp_0001", "M2", "member_day", "points", "exp_03", "control"),
    ("cmp_0001", "M3", "member_day", "points", "exp_03", "treatment"),
]
# Every raw value typed into a free-text field above: none may reach any mart column.
TYPED = [
    "13800138000",
    "138-0013-8000",
    "13900139000",
    "139-1234-5678",
    "13912345678",
    TYPED_EXTERNAL_USERID,
    TYPED_OPENID,
]


def _write_tree(tree: Tree) -> None:
    tree.write(
        f"crm/{D}/members.csv",
        "\n".join(
            [MEMBERS_HEADER]
            + [
                f"{m},会员,{phone},{D} 08:00:00,门店,普通会员,,{city},是,,"
                for m, phone, city in MEMBERS
            ]
        )
        + "\n",
    )
    tree.write(
        f"crm/{D}/orders.csv",
        "\n".join(
            [ORDERS_HEADER]
            + [f"{o},{m},{D} 09:00:00,100.00,0,否,已完成,{store}" for o, m, store in ORDERS]
        )
        + "\n",
    )
    tree.write(
        f"crm/{D}/sms_sends.csv",
        "\n".join(
            [SMS_HEADER]
            + [f"{c},{m},{D} 10:00:00,{s},{t},{e},{v},成功" for c, m, s, t, e, v in SMS_SENDS]
        )
        + "\n",
    )
    contact = {
        "external_contact": {"external_userid": RECIPIENT, "name": "己", "type": 1, "gender": 1},
        "follow_user": [
            {
                "userid": "staff_li",
                "remark": "己-金卡",
                "createtime": epoch_s(DAY, 8),
                "tags": [{"group_name": "客户等级", "tag_name": "金卡", "type": 1}],
                "remark_mobiles": [],
                "add_way": 1,
                "state": "store_0012",
            }
        ],
    }
    tree.write(f"wecom/{D}/external_contacts.jsonl", jsonl([contact]))

    def send(campaign, scenario, content, experiment, variant):
        return {
            "campaign_id": campaign,
            "external_userid": RECIPIENT,
            "sender": "staff_li",
            "chat_type": "single",
            "sent_at": epoch_s(DAY, 11),
            "scenario": scenario,
            "content_type": content,
            "experiment_id": experiment,
            "variant": variant,
            "status": "sent",
        }

    tree.write(
        f"wecom/{D}/campaign_sends.jsonl",
        jsonl(
            [
                send(TYPED_EXTERNAL_USERID, "recall", "article", None, None),
                send("cmp_0002", "new_product", "product", "exp_01", "control"),
            ]
        ),
    )
    tree.write(
        f"wecom/{D}/messages.jsonl",
        jsonl(
            [
                {
                    "msgid": "m1",
                    "action": "send",
                    "from": RECIPIENT,
                    "tolist": ["staff_li"],
                    "roomid": "",
                    "msgtime": epoch_ms(DAY, 13),
                    "msgtype": "text",
                    "text": {"content": "你好"},
                }
            ]
        ),
    )
    user = {
        "openid": MP_USER,
        "unionid": None,
        "phone_number": None,
        "nickname": "庚",
        "registered_at": epoch_ms(DAY, 8),
        "scene": 1047,
        "consent_marketing": True,
        "unsubscribed_at": None,
        "updated_at": epoch_ms(DAY, 8),
    }
    tree.write(f"miniprogram/{D}/users.jsonl", jsonl([user]))

    def event(event_id, name, properties):
        return {
            "event_id": event_id,
            "openid": MP_USER,
            "event_name": name,
            "event_time": epoch_ms(DAY, 12),
            "page": "pages/home/index",
            "properties": properties,
        }

    tree.write(
        f"miniprogram/{D}/events.jsonl",
        jsonl(
            [
                event("e1", "share", {"scenario": "ugc_topic", "campaign_id": TYPED_OPENID}),
                event("e2", "page_view", {}),
                event("e3", "coupon_claim", {"coupon_id": "cp_0042", "discount_cny": 41}),
            ]
        ),
    )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """The tree loaded by the real loader and built by `dbt build` up to the marts it feeds."""
    tmp = tmp_path_factory.mktemp("pii_marts")
    tree = Tree(tmp)
    _write_tree(tree)
    for e in ENTITIES:
        result = tree.load(e.source, e.name)
        assert result.ok and result.rows_quarantined == 0 and not result.warnings, (
            e.table,
            result.errors,
            result.warnings,
        )
    assert tree.lost == 0
    tree.con.close()  # dbt is the one writer of the build database
    window = f'{{"min_date": "{DAY}", "max_date": "{DAY + dt.timedelta(days=1)}"}}'
    _dbt(
        [
            "build",
            "--select",
            "+dim_users",
            "+fct_orders",
            "+fct_interactions",
            "+experiment_results",
            "+interaction_retention",
            "--indirect-selection",
            "cautious",
            "--vars",
            window,
        ],
        tmp / "target",
        tmp / "warehouse.duckdb",
    )
    return tmp / "warehouse.duckdb"


def _query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_dim_users_publishes_the_mask_for_a_phone_typed_as_the_city(warehouse):
    cities = dict(
        _query(
            warehouse,
            """
            select identity_map.id_value, users.city
            from marts.dim_users as users
            inner join intermediate.identity_map as identity_map
                on identity_map.person_id = users.person_id and identity_map.id_type = 'member_id'
            """,
        )
    )
    assert cities == {"M1": MASK, "M2": MASK, "M3": "上海"}


def test_fct_interactions_publishes_the_mask_for_identifiers_typed_as_campaign_ids(warehouse):
    rows = _query(
        warehouse,
        """
        select channel, direction, scenario, content_type, campaign_id, experiment_id, variant
        from marts.fct_interactions
        """,
    )
    assert sorted(rows, key=str) == sorted(
        [
            ("sms", "outbound", "birthday", "coupon", MASK, None, None),
            ("sms", "outbound", "member_day", "points", "cmp_0001", "exp_03", "control"),
            ("sms", "outbound", "member_day", "points", "cmp_0001", "exp_03", "treatment"),
            ("wecom_1v1", "outbound", "recall", "article", MASK, None, None),
            ("wecom_1v1", "outbound", "new_product", "product", "cmp_0002", "exp_01", "control"),
            ("wecom_1v1", "inbound", "chat", "text", None, None, None),
            ("miniprogram", "inbound", "share", "event", MASK, None, None),
            ("miniprogram", "inbound", "page_view", "event", None, None, None),
            ("miniprogram", "inbound", "coupon_claim", "event", None, None, None),
        ],
        key=str,
    )
    experiments = _query(warehouse, "select experiment_id, variant from marts.experiment_results")
    assert sorted(experiments) == [
        ("exp_01", "control"),
        ("exp_03", "control"),
        ("exp_03", "treatment"),
    ]


def test_a_phone_in_a_store_name_is_masked_and_the_order_channel_kept(warehouse):
    stores = dict(_query(warehouse, "select order_id, store_name from staging.stg_crm__orders"))
    assert stores == {"C1": "上海旗舰店", "C2": f"徐汇店 {MASK}", "C3": f"线上商城{MASK}"}
    channels = dict(_query(warehouse, "select order_id, channel from marts.fct_orders"))
    assert channels == {"crm:C1": "store", "crm:C2": "store", "crm:C3": "online_mall"}


def test_no_mart_column_holds_a_typed_identifier(warehouse):
    columns = _query(
        warehouse,
        """
        select table_name, column_name from information_schema.columns
        where table_schema = 'marts' and data_type = 'VARCHAR'
        """,
    )
    assert len({table for table, _ in columns}) >= 5
    leaks = []
    for table, column in columns:
        for (value,) in _query(warehouse, f'select distinct "{column}" from marts."{table}"'):
            leaks += [(table, column, value) for typed in TYPED if value and typed in value]
    assert leaks == []
    # the typed values did land: the raw layer keeps what the systems exported
    raw_cities = {city for (city,) in _query(warehouse, "select city from raw.crm__members")}
    assert {"13800138000", "+86 138-0013-8000"} <= raw_cities


# --------------------------------------------------------------------------------------------
# The guard: the suites run by data_quality.runner before publication


def test_the_guard_passes_the_built_marts(warehouse):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for table in sorted({table for table, _ in GUARDED}):
            result = validate_duckdb(con, table, as_of=DAY)
            guards = [r for r in result.results if r["expectation"] == GUARD]
            assert {r["column"] for r in guards} == {c for t, c in GUARDED if t == table}
            assert [r for r in guards if not r["success"]] == [], result.summary()
    finally:
        con.close()


@pytest.mark.parametrize(("table", "column"), GUARDED)
def test_the_guard_blocks_a_published_frame_with_an_unmasked_identifier(table, column):
    frame = good_frame(table)
    assert validate_frame(table, frame, as_of=AS_OF, reference=reference()).success
    typed = ["13800138000", "+86 138-0013-8000", TYPED_OPENID, TYPED_EXTERNAL_USERID]
    frame[column] = frame[column].astype(object)
    frame.loc[: len(typed) - 1, column] = typed
    result = validate_frame(table, frame, as_of=AS_OF, reference=reference())
    assert not result.success
    assert [(r["expectation"], r["column"]) for r in result.failed] == [(GUARD, column)]
    assert result.failed[0]["unexpected_count"] == len(typed)

    frame.loc[: len(typed) - 1, column] = [MASK, f"张伟{MASK}", "上海", "cmp_0001"]
    assert validate_frame(table, frame, as_of=AS_OF, reference=reference()).success
