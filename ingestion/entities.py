"""The extracts each source system delivers: file pattern, columns, and the rule for each column.

This is the single description of the landing formats in code; `datagen/FORMATS.md` is the prose
version. A column's rule decides whether a row is loaded or quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The raw columns carrying a personal identifier are privacy's definition, re-exported beside
# the extracts they describe (privacy imports nothing from ingestion).
from privacy.identifiers import IDENTIFIER_COLUMNS as IDENTIFIER_COLUMNS

# Column rules. A required column must be non-empty; every rule except `text` also checks the value.
Rule = Literal[
    "id",  # required identifier, non-empty after trimming
    "text",  # free text, may be empty
    "local_ts",  # local time string, Asia/Shanghai: 2026-05-01 13:45:12 or 2026/5/1 13:45
    "local_date",  # local calendar date: 20260501 (WeChat's ref_date) or 2026-05-01
    "epoch_s",  # integer seconds since 1970-01-01 UTC
    "epoch_ms",  # integer milliseconds since 1970-01-01 UTC
    "decimal",  # a number
    "int",  # an integer
    "yes_no_zh",  # 是 / 否
    "bool",  # true / false
    "enum",  # one of the column's known `values`; any other value is `unknown_value`
]

# Every timestamp (local_ts, epoch_s, epoch_ms) is also checked against the day folder the row
# landed in: a time more than FUTURE_SLACK_DAYS after the end of that business day is
# `future_timestamp` (an export running after midnight, a clock a little ahead, stay within it).
FUTURE_SLACK_DAYS = 1


@dataclass(frozen=True)
class Column:
    name: str  # column name in the raw table
    rule: Rule = "text"
    required: bool = False
    header: str | None = None  # header in a CSV export (Chinese); None for JSON sources
    json_path: tuple[str, ...] = ()  # where the value sits in a JSON record
    values: tuple[str, ...] = ()  # rule "enum": the known values, exactly as exported
    non_negative: bool = False  # money: a value below zero is `negative_amount`


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    fmt: Literal["csv", "jsonl"]
    columns: tuple[Column, ...]
    # JSON records whose list at this key fans out to one raw row per element
    explode: str | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ext(self) -> str:
        return "csv" if self.fmt == "csv" else "jsonl"

    @property
    def table(self) -> str:
        return f"{self.source}__{self.name}"

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"


def _c(
    name, rule="text", required=False, header=None, path=None, values=(), non_negative=False
) -> Column:
    if (rule == "enum") != bool(values):
        raise ValueError(f"column {name}: rule enum needs its known values, and only enum has them")
    return Column(name, rule, required, header, tuple(path or (name,)), tuple(values), non_negative)


# Known values of the enum columns (datagen/FORMATS.md). Cancelled and pending orders are known
# values that load; staging keeps them out of revenue (they are not paid orders).
CRM_ORDER_STATUSES = ("已完成", "已退款", "已取消", "待付款")
MINIPROGRAM_ORDER_STATUSES = ("paid", "refunded", "cancelled", "pending")
CRM_REGISTRATION_CHANNELS = ("门店", "线上商城", "小程序", "企业微信")
# The acquisition channels of the mini-program's visit statistics: the registration channels.
VISIT_CHANNELS = ("store", "online_mall", "miniprogram", "wecom")


ENTITIES: tuple[Entity, ...] = (
    Entity(
        "crm",
        "members",
        "csv",
        (
            _c("member_id", "id", True, "会员编号"),
            _c("member_name", "text", False, "姓名"),
            _c("phone", "text", False, "手机号"),
            _c("registered_at", "local_ts", True, "注册时间"),
            _c("registration_channel", "enum", False, "注册渠道", values=CRM_REGISTRATION_CHANNELS),
            _c("member_tier", "text", False, "会员等级"),
            _c("birthday", "text", False, "生日"),
            _c("city", "text", False, "城市"),
            _c("consent_marketing", "yes_no_zh", False, "营销授权"),
            _c("unsubscribed_at", "local_ts", False, "退订时间"),
            _c("updated_at", "local_ts", False, "更新时间"),
        ),
        description="CRM members registered or changed that day.",
    ),
    Entity(
        "crm",
        "orders",
        "csv",
        (
            _c("order_id", "id", True, "订单号"),
            _c("member_id", "id", True, "会员编号"),
            _c("ordered_at", "local_ts", True, "下单时间"),
            _c("amount_cny", "decimal", True, "订单金额", non_negative=True),
            _c("discount_cny", "decimal", False, "优惠金额", non_negative=True),
            _c("coupon_used", "yes_no_zh", False, "是否用券"),
            _c("order_status", "enum", True, "订单状态", values=CRM_ORDER_STATUSES),
            _c("store_name", "text", False, "门店"),
        ),
        description="CRM store and online-mall orders.",
    ),
    Entity(
        "crm",
        "points",
        "csv",
        (
            _c("entry_id", "id", True, "流水号"),
            _c("member_id", "id", True, "会员编号"),
            _c("changed_at", "local_ts", True, "变动时间"),
            _c("points_delta", "int", True, "变动积分"),
            _c("reason", "text", False, "变动原因"),
        ),
        description="CRM points ledger.",
    ),
    Entity(
        "crm",
        "feedback",
        "csv",
        (
            _c("feedback_id", "id", True, "反馈编号"),
            _c("member_id", "id", True, "会员编号"),
            _c("submitted_at", "local_ts", True, "反馈时间"),
            _c("rating", "int", False, "评分"),
            _c("feedback_text", "text", False, "反馈内容"),
        ),
        description="CRM member feedback.",
    ),
    Entity(
        "crm",
        "sms_sends",
        "csv",
        (
            _c("campaign_id", "id", True, "活动编号"),
            _c("member_id", "id", True, "会员编号"),
            _c("sent_at", "local_ts", True, "发送时间"),
            _c("scenario", "text", False, "场景"),
            _c("content_type", "text", False, "内容类型"),
            _c("experiment_id", "text", False, "实验编号"),
            _c("variant", "text", False, "实验分组"),
            _c("send_status", "enum", False, "发送状态", values=("成功", "失败")),
        ),
        description="CRM SMS campaign sends.",
    ),
    Entity(
        "wecom",
        "external_contacts",
        "jsonl",
        (
            _c("external_userid", "id", True, path=("external_contact", "external_userid")),
            _c("unionid", path=("external_contact", "unionid")),
            _c("contact_name", path=("external_contact", "name")),
            _c("contact_type", path=("external_contact", "type")),
            _c("gender", path=("external_contact", "gender")),
            _c("staff_userid", path=("follow_user", "userid")),
            _c("remark", path=("follow_user", "remark")),
            _c("added_at", "epoch_s", path=("follow_user", "createtime")),
            _c("tags", path=("follow_user", "tags")),
            _c("remark_mobiles", path=("follow_user", "remark_mobiles")),
            _c("add_way", path=("follow_user", "add_way")),
            _c("add_state", path=("follow_user", "state")),
        ),
        explode="follow_user",
        description="WeCom external contacts (externalcontact/get), one raw row per follow_user.",
    ),
    Entity(
        "wecom",
        "group_members",
        "jsonl",
        (
            _c("chat_id", "id", True),
            _c("member_userid", "id", True, path=("userid",)),
            _c("member_type", "int", True, path=("type",)),
            _c("unionid"),
            _c("joined_at", "epoch_s", True, path=("join_time",)),
            _c("join_scene"),
        ),
        description="WeCom customer-group membership (groupchat/get member_list).",
    ),
    Entity(
        "wecom",
        "messages",
        "jsonl",
        (
            _c("msgid", "id", True),
            _c("action"),
            _c("from_userid", "id", True, path=("from",)),
            _c("tolist"),
            _c("roomid"),
            _c("sent_at", "epoch_ms", True, path=("msgtime",)),
            _c("msgtype"),
            _c("content", path=("text", "content")),
        ),
        description="WeCom archived chat messages (会话存档).",
    ),
    Entity(
        "wecom",
        "campaign_sends",
        "jsonl",
        (
            _c("campaign_id", "id", True),
            _c("external_userid", "id", True),
            _c("sender"),
            _c("chat_type", "enum", values=("single", "group")),
            _c("sent_at", "epoch_s", True),
            _c("scenario"),
            _c("content_type"),
            _c("experiment_id"),
            _c("variant"),
            _c("send_status", "enum", path=("status",), values=("sent", "failed")),
        ),
        description="WeCom mass-send (群发) results, one row per recipient.",
    ),
    Entity(
        "miniprogram",
        "users",
        "jsonl",
        (
            _c("openid", "id", True),
            _c("unionid"),
            _c("phone_number"),
            _c("nickname"),
            _c("registered_at", "epoch_ms", True),
            _c("scene"),
            _c("consent_marketing", "bool"),
            _c("unsubscribed_at", "epoch_ms"),
            _c("updated_at", "epoch_ms"),
        ),
        description="Mini-program users; phone only after getPhoneNumber authorisation.",
    ),
    Entity(
        "miniprogram",
        "events",
        "jsonl",
        (
            _c("event_id", "id", True),
            _c("openid", "id", True),
            _c("event_name", "id", True),
            _c("event_at", "epoch_ms", True, path=("event_time",)),
            _c("page"),
            _c("coupon_id", path=("properties", "coupon_id")),
            _c("discount_cny", "decimal", path=("properties", "discount_cny"), non_negative=True),
            _c("scenario", path=("properties", "scenario")),
            _c("campaign_id", path=("properties", "campaign_id")),
        ),
        description="Mini-program event log.",
    ),
    Entity(
        "miniprogram",
        "orders",
        "jsonl",
        (
            _c("order_id", "id", True),
            _c("openid", "id", True),
            _c("created_at", "epoch_ms", True),
            _c("total_fee_fen", "int", True, path=("total_fee",), non_negative=True),
            _c("discount_fee_fen", "int", path=("discount_fee",), non_negative=True),
            _c("coupon_id"),
            _c("order_status", "enum", True, path=("status",), values=MINIPROGRAM_ORDER_STATUSES),
        ),
        description="Mini-program orders; money in fen.",
    ),
    Entity(
        "miniprogram",
        "visit_stats",
        "jsonl",
        (
            _c("ref_date", "local_date", True),
            _c("channel", "enum", True, values=VISIT_CHANNELS),
            _c("visit_uv_new", "int", True, non_negative=True),
        ),
        description="Mini-program analytics: new visitors per day and acquisition channel.",
    ),
)

SOURCES: tuple[str, ...] = ("crm", "wecom", "miniprogram")


def entity(source: str, name: str) -> Entity:
    for e in ENTITIES:
        if e.source == source and e.name == name:
            return e
    raise KeyError(f"no extract {source}/{name}")
