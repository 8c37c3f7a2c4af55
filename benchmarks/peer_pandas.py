"""The pandas peer: the platform's core outputs from the landed files with plain pandas (and scipy
for connected components), no loader, no SQL. For scale S and M; it holds everything in memory.

    python benchmarks/peer_pandas.py <landing_dir> <as_of YYYY-MM-DD>

Same definitions as benchmarks/floor.sql (read that file's comments for the rules); the output is
the dict of benchmarks.agreement, computed here in pandas.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from benchmarks.agreement import COUNT_COLUMNS, RATE_COLUMNS, digest  # noqa: E402
from benchmarks.floor import (  # noqa: E402
    DEFAULT_HASH_SALT,
    DEFAULT_JUNK_MAX_ACCOUNTS,
    SEEDS,
    landed_files,
)

LOCAL_TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M")
EPOCH_S_RANGE = (946_684_800, 4_102_444_800)
LOCAL = pd.Timedelta(hours=8)
NAT = pd.Series(dtype="datetime64[us]")


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _read_csvs(files: list[tuple[dt.date, Path]]) -> pd.DataFrame:
    frames = []
    for day, path in files:
        data = path.read_bytes()
        if not data.strip():
            continue  # the loader rejects a blank CSV (empty_file)
        frame = pd.read_csv(
            io.StringIO(_decode(data)), dtype=str, keep_default_na=False, na_filter=False
        )
        frame.columns = [c.strip() for c in frame.columns]
        frames.append(frame.assign(_day=pd.Timestamp(day), _file=str(path)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _read_jsonl(files: list[tuple[dt.date, Path]]) -> pd.DataFrame:
    frames = []
    for day, path in files:
        if os.path.getsize(path) == 0:
            continue
        frame = pd.read_json(path, lines=True, dtype=False, encoding="utf-8-sig")
        frames.append(frame.assign(_day=pd.Timestamp(day), _file=str(path)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column as trimmed text, empty and missing as None."""
    if name not in frame:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    s = frame[name]
    text = s.map(_text, na_action="ignore").astype(object)
    return text.where(text.notna() & (text != ""), None)


def _text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v != v:
            return None
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v).strip()


# ---------------------------------------------------------------------------------------------
# the loader's value rules
# ---------------------------------------------------------------------------------------------
def _local_ts(s: pd.Series) -> pd.Series:
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    for fmt in LOCAL_TS_FORMATS:
        out = out.fillna(pd.to_datetime(s, format=fmt, errors="coerce"))
    return out


def _ts_ok(s: pd.Series, day: pd.Series) -> pd.Series:
    return s.isna() | (_local_ts(s) < day + pd.Timedelta(days=2)).fillna(False)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype("float64")


def _epoch_ok(s: pd.Series, day: pd.Series, scale: int) -> pd.Series:
    num = _num(s)
    lo, hi = EPOCH_S_RANGE
    limit = ((day + pd.Timedelta(days=2) - LOCAL) - pd.Timestamp(0)).dt.total_seconds() * scale
    good = (num % 1 == 0) & (num >= lo * scale) & (num <= hi * scale) & (num < limit)
    return s.isna() | good.fillna(False)


def _num_ok(s: pd.Series, is_int: bool, non_negative: bool) -> pd.Series:
    num = _num(s)
    good = num.abs() < 1e15
    if is_int:
        good &= num % 1 == 0
    if non_negative:
        good &= num >= 0
    return s.isna() | good.fillna(False)


def _in(s: pd.Series, known) -> pd.Series:
    return s.isna() | s.isin(known)


def _epoch_local(s: pd.Series, scale: int) -> pd.Series:
    micros = (_num(s) * (1_000_000 // scale)).round().astype("Int64")
    return pd.to_datetime(micros, unit="us") + LOCAL


def _norm_phone(s: pd.Series) -> pd.Series:
    d = s.astype("string").str.replace(r"[^0-9]", "", regex=True)
    n = d.str.len()
    out = pd.Series(None, index=s.index, dtype=object)
    m11 = (n == 11) & d.str.startswith("1")
    m13 = (n == 13) & d.str.startswith("861")
    m15 = (n == 15) & d.str.startswith("00861")
    out[m11.fillna(False)] = d[m11.fillna(False)]
    out[m13.fillna(False)] = d[m13.fillna(False)].str.slice(2, 13)
    out[m15.fillna(False)] = d[m15.fillna(False)].str.slice(4, 15)
    return out.astype(object).where(out.notna(), None)


def _latest(
    frame: pd.DataFrame, keys: list[str], first: list[tuple[str, bool]] = ()
) -> pd.DataFrame:
    """One row per key: the latest delivery (then `first`'s order), as the staging models."""
    order = [*first, ("_day", False), ("_file", False)]
    frame = frame.sort_values(
        [c for c, _ in order], ascending=[a for _, a in order], na_position="last"
    )
    return frame.drop_duplicates(keys, keep="first")


# ---------------------------------------------------------------------------------------------
# extracts
# ---------------------------------------------------------------------------------------------
def _members(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return pd.DataFrame(columns=["member_id", "phone", "registration_channel", "registered_at"])
    day = raw["_day"]
    mid, reg = _col(raw, "会员编号"), _col(raw, "注册时间")
    ok = (
        mid.notna()
        & reg.notna()
        & _ts_ok(reg, day)
        & _ts_ok(_col(raw, "退订时间"), day)
        & _ts_ok(_col(raw, "更新时间"), day)
        & _in(_col(raw, "注册渠道"), ["门店", "线上商城", "小程序", "企业微信"])
        & _in(_col(raw, "营销授权"), ["是", "否"])
    )
    channels = {
        "门店": "store",
        "线上商城": "online_mall",
        "小程序": "miniprogram",
        "企业微信": "wecom",
    }
    registered = _local_ts(reg)
    out = pd.DataFrame(
        {
            "member_id": mid,
            "phone": _norm_phone(_col(raw, "手机号")),
            "registration_channel": _col(raw, "注册渠道").map(channels).fillna("other"),
            "registered_at": registered,
            "updated_at": _local_ts(_col(raw, "更新时间")).fillna(registered),
            "_day": day,
            "_file": raw["_file"],
        }
    )[ok]
    return _latest(out, ["member_id"], [("updated_at", False)])


def _crm_orders(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return pd.DataFrame()
    day = raw["_day"]
    oid, mid, at, amount = (_col(raw, c) for c in ("订单号", "会员编号", "下单时间", "订单金额"))
    status = _col(raw, "订单状态")
    ok = (
        oid.notna()
        & mid.notna()
        & at.notna()
        & _ts_ok(at, day)
        & amount.notna()
        & _num_ok(amount, False, True)
        & _num_ok(_col(raw, "优惠金额"), False, True)
        & _in(_col(raw, "是否用券"), ["是", "否"])
        & status.notna()
        & _in(status, ["已完成", "已退款", "已取消", "待付款"])
    )
    raw = raw[ok]
    statuses = {
        "已完成": "completed",
        "已退款": "refunded",
        "已取消": "cancelled",
        "待付款": "pending",
    }
    store = _col(raw, "门店")
    return pd.DataFrame(
        {
            "order_id": "crm:" + oid[ok],
            "id_type": "member_id",
            "id_value": mid[ok],
            "channel": np.where(
                store.fillna("").str.contains("线上", regex=False), "online_mall", "store"
            ),
            "ordered_at": _local_ts(at[ok]),
            "cents": [
                int((Decimal(v) * 100).quantize(Decimal(1), ROUND_HALF_UP)) for v in amount[ok]
            ],
            "status": status[ok].map(statuses),
            "_day": raw["_day"],
            "_file": raw["_file"],
        }
    )


def _mp_orders(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return pd.DataFrame()
    day = raw["_day"]
    oid, openid, at, fee, status = (
        _col(raw, c) for c in ("order_id", "openid", "created_at", "total_fee", "status")
    )
    ok = (
        oid.notna()
        & openid.notna()
        & at.notna()
        & _epoch_ok(at, day, 1000)
        & fee.notna()
        & _num_ok(fee, True, True)
        & _num_ok(_col(raw, "discount_fee"), True, True)
        & status.notna()
        & _in(status, ["paid", "refunded", "cancelled", "pending"])
    )
    return pd.DataFrame(
        {
            "order_id": "mp:" + oid[ok],
            "id_type": "openid",
            "id_value": openid[ok],
            "channel": "miniprogram",
            "ordered_at": _epoch_local(at[ok], 1000),
            "cents": _num(fee[ok]).astype("int64"),
            "status": status[ok].replace({"paid": "completed"}),
            "_day": day[ok],
            "_file": raw.loc[ok, "_file"],
        }
    )


def _crm_activity(points: pd.DataFrame, feedback: pd.DataFrame, sms: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for raw, kind, key, at_col in (
        (points, "points", "流水号", "变动时间"),
        (feedback, "feedback", "反馈编号", "反馈时间"),
        (sms, "sms", "活动编号", "发送时间"),
    ):
        if raw.empty:
            continue
        day = raw["_day"]
        k, mid, at = _col(raw, key), _col(raw, "会员编号"), _col(raw, at_col)
        ok = k.notna() & mid.notna() & at.notna() & _ts_ok(at, day)
        if kind == "points":
            delta = _col(raw, "变动积分")
            ok &= delta.notna() & _num_ok(delta, True, False)
        elif kind == "feedback":
            ok &= _num_ok(_col(raw, "评分"), True, False)
        else:
            ok &= _in(_col(raw, "发送状态"), ["成功", "失败"])
        frame = pd.DataFrame(
            {
                "kind": kind,
                "member_id": mid,
                "seen_at": _local_ts(at),
                "key": k,
                "scenario": raw["场景"] if kind == "sms" and "场景" in raw else None,
                "delivered": (_col(raw, "发送状态") == "成功").fillna(False)
                if kind == "sms"
                else False,
                "_day": day,
                "_file": raw["_file"],
            }
        )[ok]
        frame["dedup"] = frame["member_id"] if kind == "sms" else ""
        frames.append(_latest(frame, ["kind", "key", "dedup"]))
    if not frames:
        return pd.DataFrame(
            columns=["kind", "member_id", "seen_at", "key", "scenario", "delivered"]
        )
    return pd.concat(frames, ignore_index=True)


def _contacts(raw: pd.DataFrame) -> pd.DataFrame:
    cols = ["external_userid", "unionid", "remark_phone", "added_at"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for contact, follow, day, file in zip(
        raw["external_contact"],
        raw.get("follow_user", [None] * len(raw)),
        raw["_day"],
        raw["_file"],
        strict=True,
    ):
        contact = contact if isinstance(contact, dict) else {}
        follows = follow if isinstance(follow, list) and follow else [{}]
        for fu in follows:
            fu = fu or {}
            mobiles = fu.get("remark_mobiles") or []
            rows.append(
                (
                    contact.get("external_userid"),
                    contact.get("unionid"),
                    fu.get("userid"),
                    mobiles[0] if mobiles else None,
                    fu.get("createtime"),
                    day,
                    file,
                )
            )
    f = pd.DataFrame(rows, columns=["e", "u", "staff", "mobile", "createtime", "_day", "_file"])
    eid, created = _col(f, "e"), _col(f, "createtime")
    ok = eid.notna() & _epoch_ok(created, f["_day"], 1)
    out = pd.DataFrame(
        {
            "external_userid": eid,
            "unionid": _col(f, "u"),
            "staff": _col(f, "staff").fillna("\x00"),  # a null staff is one key of its own
            "remark_phone": _norm_phone(_col(f, "mobile")),
            "added_at": _epoch_local(created, 1),
            "_day": f["_day"],
            "_file": f["_file"],
        }
    )[ok]
    return _latest(out, ["external_userid", "staff"])


def _group_members(raw: pd.DataFrame) -> pd.DataFrame:
    cols = ["external_userid", "unionid", "joined_at"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    day = raw["_day"]
    chat, user, typ, joined = (_col(raw, c) for c in ("chat_id", "userid", "type", "join_time"))
    ok = (
        chat.notna()
        & user.notna()
        & typ.notna()
        & _num_ok(typ, True, False)
        & joined.notna()
        & _epoch_ok(joined, day, 1)
    )
    out = pd.DataFrame(
        {
            "chat_id": chat,
            "external_userid": user,
            "type": _num(typ),
            "unionid": _col(raw, "unionid"),
            "joined_at": _epoch_local(joined, 1),
            "_day": day,
            "_file": raw["_file"],
        }
    )[ok]
    out = _latest(out, ["chat_id", "external_userid"])
    return out[out["type"] == 2]


def _messages(raw: pd.DataFrame) -> pd.DataFrame:
    cols = ["from_userid", "first_recipient", "room_id", "is_inbound", "sent_at"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    day = raw["_day"]
    msgid, frm, at = _col(raw, "msgid"), _col(raw, "from"), _col(raw, "msgtime")
    action = _col(raw, "action")
    ok = msgid.notna() & frm.notna() & at.notna() & _epoch_ok(at, day, 1000)
    ok &= action.isna() | (action == "send")
    tolist = raw["tolist"] if "tolist" in raw else pd.Series([None] * len(raw), index=raw.index)
    first = tolist.map(lambda v: str(v[0]).strip() if isinstance(v, list) and v else None)
    out = pd.DataFrame(
        {
            "msgid": msgid,
            "from_userid": frm,
            "first_recipient": first,
            "room_id": _col(raw, "roomid"),
            "is_inbound": frm.fillna("").str.startswith(("wm", "wo")),
            "sent_at": _epoch_local(at, 1000),
            "_day": day,
            "_file": raw["_file"],
        }
    )[ok]
    return _latest(out, ["msgid"])


def _campaign_sends(raw: pd.DataFrame) -> pd.DataFrame:
    cols = ["campaign_id", "external_userid", "channel", "scenario", "delivered", "sent_at"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    day = raw["_day"]
    cid, eid, at = _col(raw, "campaign_id"), _col(raw, "external_userid"), _col(raw, "sent_at")
    chat, status = _col(raw, "chat_type"), _col(raw, "status")
    ok = (
        cid.notna()
        & eid.notna()
        & at.notna()
        & _epoch_ok(at, day, 1)
        & _in(chat, ["single", "group"])
        & _in(status, ["sent", "failed"])
    )
    out = pd.DataFrame(
        {
            "campaign_id": cid,
            "external_userid": eid,
            "channel": np.where(chat == "group", "wecom_group", "wecom_1v1"),
            "scenario": raw.get("scenario"),
            "delivered": (status == "sent").fillna(False),
            "sent_at": _epoch_local(at, 1),
            "_day": day,
            "_file": raw["_file"],
        }
    )[ok]
    return _latest(out, ["campaign_id", "external_userid"])


def _mp_users(raw: pd.DataFrame) -> pd.DataFrame:
    cols = ["openid", "unionid", "phone", "registered_at"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    day = raw["_day"]
    openid, reg = _col(raw, "openid"), _col(raw, "registered_at")
    updated = _col(raw, "updated_at")
    ok = (
        openid.notna()
        & reg.notna()
        & _epoch_ok(reg, day, 1000)
        & _epoch_ok(_col(raw, "unsubscribed_at"), day, 1000)
        & _epoch_ok(updated, day, 1000)
        & _in(_col(raw, "consent_marketing").str.lower(), ["true", "false", "1", "0"])
    )
    registered = _epoch_local(reg, 1000)
    out = pd.DataFrame(
        {
            "openid": openid,
            "unionid": _col(raw, "unionid"),
            "phone": _norm_phone(_col(raw, "phone_number")),
            "registered_at": registered,
            "updated_at": _epoch_local(updated, 1000).fillna(registered),
            "_day": day,
            "_file": raw["_file"],
        }
    )[ok]
    return _latest(out, ["openid"], [("updated_at", False)])


def _events(raw: pd.DataFrame) -> pd.DataFrame:
    cols = ["openid", "event_name", "event_at"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    day = raw["_day"]
    eid, openid, name, at = (
        _col(raw, c) for c in ("event_id", "openid", "event_name", "event_time")
    )
    props = (
        raw["properties"] if "properties" in raw else pd.Series([None] * len(raw), index=raw.index)
    )
    discount = _col(
        pd.DataFrame(
            {"d": props.map(lambda p: p.get("discount_cny") if isinstance(p, dict) else None)}
        ),
        "d",
    )
    ok = (
        eid.notna()
        & openid.notna()
        & name.notna()
        & at.notna()
        & _epoch_ok(at, day, 1000)
        & _num_ok(discount, False, True)
    )
    out = pd.DataFrame(
        {
            "event_id": eid,
            "openid": openid,
            "event_name": raw["event_name"],
            "event_at": _epoch_local(at, 1000),
            "_day": day,
            "_file": raw["_file"],
        }
    )[ok]
    return _latest(out, ["event_id"])


# ---------------------------------------------------------------------------------------------
# the peer
# ---------------------------------------------------------------------------------------------
def _ntile(order: np.ndarray, n: int) -> np.ndarray:
    """SQL NTILE(n) for rows whose position in the window order is `order` (0-based)."""
    size = len(order)
    q, r = divmod(size, n)
    big = r * (q + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tile = np.where(order < big, order // (q + 1) + 1, r + (order - big) // max(q, 1) + 1)
    return tile.astype("int64")


def _rank(*keys: np.ndarray) -> np.ndarray:
    """Position of each row in the order of `keys` (first key first)."""
    idx = np.lexsort(tuple(reversed(keys)))
    pos = np.empty(len(idx), dtype="int64")
    pos[idx] = np.arange(len(idx))
    return pos


def run_peer(
    landing_dir: Path,
    as_of: dt.date,
    *,
    hash_salt: str | None = None,
    junk_max_accounts: int | None = None,
) -> dict:
    """The core outputs (benchmarks.agreement) computed with pandas; `_meta` has the seconds."""
    started = time.perf_counter()
    salt = (
        hash_salt
        if hash_salt is not None
        else (os.environ.get("SIYU_HASH_SALT") or DEFAULT_HASH_SALT)
    )
    junk_max = junk_max_accounts or int(
        os.environ.get("SIYU_IDENTITY_JUNK_MAX_ACCOUNTS") or DEFAULT_JUNK_MAX_ACCOUNTS
    )
    files = landed_files(Path(landing_dir), as_of)
    days = [d for fs in files.values() for d, _ in fs]
    first_day = pd.Timestamp(min(days) if days else as_of)
    as_of_ts = pd.Timestamp(as_of)

    members = _members(_read_csvs(files[("crm", "members")]))
    activity = _crm_activity(
        _read_csvs(files[("crm", "points")]),
        _read_csvs(files[("crm", "feedback")]),
        _read_csvs(files[("crm", "sms_sends")]),
    )
    contacts = _contacts(_read_jsonl(files[("wecom", "external_contacts")]))
    groups = _group_members(_read_jsonl(files[("wecom", "group_members")]))
    messages = _messages(_read_jsonl(files[("wecom", "messages")]))
    sends = _campaign_sends(_read_jsonl(files[("wecom", "campaign_sends")]))
    mp_users = _mp_users(_read_jsonl(files[("miniprogram", "users")]))
    events = _events(_read_jsonl(files[("miniprogram", "events")]))

    orders = pd.concat(
        [
            _crm_orders(_read_csvs(files[("crm", "orders")])),
            _mp_orders(_read_jsonl(files[("miniprogram", "orders")])),
        ],
        ignore_index=True,
    )
    if orders.empty:
        orders = pd.DataFrame(
            columns=[
                "order_id",
                "id_type",
                "id_value",
                "channel",
                "ordered_at",
                "cents",
                "status",
                "_day",
                "_file",
            ]
        )
    orders["was_paid"] = (
        orders["status"]
        .isin(["completed", "refunded"])
        .groupby(orders["order_id"])
        .transform("any")
    )
    orders = _latest(orders, ["order_id"])
    orders = orders[~(orders["status"].isin(["cancelled", "pending"]) & ~orders["was_paid"])].copy()
    orders["is_refunded"] = orders["status"] != "completed"

    # identity ---------------------------------------------------------------------------------
    def obs(id_type, values, seen, channel, is_reg, rank):
        return pd.DataFrame(
            {
                "id_type": id_type,
                "id_value": values.to_numpy(dtype=object),
                "seen_at": pd.to_datetime(seen).to_numpy(dtype="datetime64[us]"),
                "channel": channel if isinstance(channel, str) else channel.to_numpy(dtype=object),
                "is_reg": is_reg,
                "rank": rank,
            }
        )

    inbound = messages[messages["is_inbound"]]
    outbound_1v1 = messages[
        ~messages["is_inbound"]
        & messages["room_id"].isna()
        & messages["first_recipient"].fillna("").str.startswith(("wm", "wo"))
    ]
    crm_orders = orders[orders["id_type"] == "member_id"]
    mp_orders = orders[orders["id_type"] == "openid"]
    parts = [
        obs(
            "member_id",
            members["member_id"],
            members["registered_at"],
            members["registration_channel"],
            True,
            1,
        ),
        obs(
            "phone",
            members["phone"],
            members["registered_at"],
            members["registration_channel"],
            True,
            1,
        ),
        obs("member_id", crm_orders["id_value"], crm_orders["ordered_at"], "crm", False, 1),
        obs("member_id", activity["member_id"], activity["seen_at"], "crm", False, 1),
        obs("external_userid", contacts["external_userid"], contacts["added_at"], "wecom", True, 3),
        obs("unionid", contacts["unionid"], contacts["added_at"], "wecom", True, 3),
        obs("phone", contacts["remark_phone"], contacts["added_at"], "wecom", True, 3),
        obs("external_userid", groups["external_userid"], groups["joined_at"], "wecom", True, 3),
        obs("unionid", groups["unionid"], groups["joined_at"], "wecom", True, 3),
        obs("external_userid", inbound["from_userid"], inbound["sent_at"], "wecom", False, 3),
        obs(
            "external_userid",
            outbound_1v1["first_recipient"],
            outbound_1v1["sent_at"],
            "wecom",
            False,
            3,
        ),
        obs("external_userid", sends["external_userid"], sends["sent_at"], "wecom", False, 3),
        obs("openid", mp_users["openid"], mp_users["registered_at"], "miniprogram", True, 2),
        obs("unionid", mp_users["unionid"], mp_users["registered_at"], "miniprogram", True, 2),
        obs("phone", mp_users["phone"], mp_users["registered_at"], "miniprogram", True, 2),
        obs("openid", events["openid"], events["event_at"], "miniprogram", False, 2),
        obs("openid", mp_orders["id_value"], mp_orders["ordered_at"], "miniprogram", False, 2),
    ]
    observations = pd.concat([p for p in parts if len(p)], ignore_index=True)
    observations = observations[observations["id_value"].notna() & (observations["id_value"] != "")]
    identifiers = observations.sort_values(
        ["id_type", "id_value", "seen_at", "is_reg", "rank", "channel"],
        ascending=[True, True, True, False, True, True],
        na_position="last",
    ).drop_duplicates(["id_type", "id_value"])
    identifiers = identifiers.rename(
        columns={"seen_at": "first_seen_at", "channel": "first_channel"}
    )
    identifiers["node"] = identifiers["id_type"] + ":" + identifiers["id_value"]

    link_parts = [
        ("member_id:" + members["member_id"], "phone", members["phone"]),
        ("external_userid:" + contacts["external_userid"], "unionid", contacts["unionid"]),
        ("external_userid:" + contacts["external_userid"], "phone", contacts["remark_phone"]),
        ("external_userid:" + groups["external_userid"], "unionid", groups["unionid"]),
        ("openid:" + mp_users["openid"], "unionid", mp_users["unionid"]),
        ("openid:" + mp_users["openid"], "phone", mp_users["phone"]),
    ]
    links = pd.concat(
        [
            pd.DataFrame(
                {
                    "account": a.to_numpy(dtype=object),
                    "attribute": (t + ":" + v.astype(object)).to_numpy(dtype=object),
                    "value": v.to_numpy(dtype=object),
                }
            )
            for a, t, v in link_parts
        ],
        ignore_index=True,
    )
    links = links[links["account"].notna() & links["value"].notna() & (links["value"] != "")]
    links = links[["account", "attribute"]].drop_duplicates()
    blocklist = pd.read_csv(SEEDS / "identity_blocklist.csv", dtype=str)
    fan_out = links.groupby("attribute")["account"].nunique()
    junk = set(blocklist["id_type"] + ":" + blocklist["id_value"]) | set(
        fan_out[fan_out > junk_max].index
    )

    nodes = identifiers.loc[~identifiers["node"].isin(junk), "node"].to_numpy()
    code = pd.Index(nodes)
    edges = links[~links["attribute"].isin(junk)]
    a = code.get_indexer(edges["account"])
    b = code.get_indexer(edges["attribute"])
    keep = (a >= 0) & (b >= 0)
    graph = coo_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(len(code), len(code)))
    _, label = connected_components(graph, directed=False)
    components = pd.DataFrame({"node": nodes, "label": label})
    resolved = identifiers.merge(components, on="node")
    anchors = resolved.sort_values(
        ["label", "first_seen_at", "id_type", "id_value"], na_position="last"
    ).drop_duplicates("label")
    anchors["person_id"] = [
        "p_" + hashlib.md5(f"{salt}|{n}".encode()).hexdigest()[:16] for n in anchors["node"]
    ]
    resolved = resolved.merge(anchors[["label", "person_id"]], on="label")
    identity = identifiers.merge(resolved[["node", "person_id"]], on="node", how="left")

    # dim_users ------------------------------------------------------------------------------
    regs = pd.concat(
        [
            pd.DataFrame(
                {
                    "id_type": "member_id",
                    "id_value": members["member_id"].to_numpy(dtype=object),
                    "appeared_at": members["registered_at"].to_numpy(dtype="datetime64[us]"),
                    "channel": members["registration_channel"].to_numpy(dtype=object),
                    "rank": 1,
                }
            ),
            pd.DataFrame(
                {
                    "id_type": "openid",
                    "id_value": mp_users["openid"].to_numpy(dtype=object),
                    "appeared_at": mp_users["registered_at"].to_numpy(dtype="datetime64[us]"),
                    "channel": "miniprogram",
                    "rank": 2,
                }
            ),
            pd.DataFrame(
                {
                    "id_type": "external_userid",
                    "id_value": contacts["external_userid"].to_numpy(dtype=object),
                    "appeared_at": contacts["added_at"].to_numpy(dtype="datetime64[us]"),
                    "channel": "wecom",
                    "rank": 3,
                }
            ),
            pd.DataFrame(
                {
                    "id_type": "external_userid",
                    "id_value": groups["external_userid"].to_numpy(dtype=object),
                    "appeared_at": groups["joined_at"].to_numpy(dtype="datetime64[us]"),
                    "channel": "wecom",
                    "rank": 3,
                }
            ),
        ],
        ignore_index=True,
    )
    regs = regs[regs["appeared_at"].notna()].merge(
        resolved[["id_type", "id_value", "person_id"]], on=["id_type", "id_value"]
    )
    regs["is_reg"] = True
    firsts = (
        resolved[["person_id", "first_seen_at", "first_channel", "id_type", "id_value"]]
        .rename(columns={"first_seen_at": "appeared_at", "first_channel": "channel"})
        .assign(is_reg=False, rank=9)
    )
    appearances = pd.concat([firsts, regs], ignore_index=True)
    dim_users = (
        appearances.sort_values(
            ["person_id", "appeared_at", "is_reg", "rank", "id_type", "id_value", "channel"],
            ascending=[True, True, False, True, True, True, True],
            na_position="last",
        )
        .drop_duplicates("person_id")[["person_id", "channel"]]
        .rename(columns={"channel": "first_channel"})
    )
    first_seen = appearances.groupby("person_id")["appeared_at"].min()
    dim_users["first_seen_date"] = dim_users["person_id"].map(first_seen).dt.normalize()

    # facts ----------------------------------------------------------------------------------
    key = identity[["id_type", "id_value", "person_id"]]
    fct_orders = orders.merge(key, on=["id_type", "id_value"], how="left")
    fct_orders["ordered_date"] = fct_orders["ordered_at"].dt.normalize()

    msg = messages[messages["is_inbound"] | messages["room_id"].isna()]
    inter = pd.concat(
        [
            pd.DataFrame(
                {
                    "id_type": "external_userid",
                    "id_value": np.where(
                        msg["is_inbound"], msg["from_userid"], msg["first_recipient"]
                    ),
                    "occurred_at": msg["sent_at"].to_numpy(dtype="datetime64[us]"),
                    "channel": np.where(msg["room_id"].isna(), "wecom_1v1", "wecom_group"),
                    "direction": np.where(msg["is_inbound"], "inbound", "outbound"),
                    "scenario": np.where(
                        msg["is_inbound"] & msg["room_id"].isna(),
                        "chat",
                        np.where(msg["is_inbound"], "group_chat", "service_reply"),
                    ),
                }
            ),
            pd.DataFrame(
                {
                    "id_type": "external_userid",
                    "id_value": sends.loc[sends["delivered"], "external_userid"].to_numpy(
                        dtype=object
                    ),
                    "occurred_at": sends.loc[sends["delivered"], "sent_at"].to_numpy(
                        dtype="datetime64[us]"
                    ),
                    "channel": sends.loc[sends["delivered"], "channel"].to_numpy(dtype=object),
                    "direction": "outbound",
                    "scenario": sends.loc[sends["delivered"], "scenario"].to_numpy(dtype=object),
                }
            ),
            pd.DataFrame(
                {
                    "id_type": "member_id",
                    "id_value": activity.loc[
                        (activity["kind"] == "sms") & activity["delivered"], "member_id"
                    ].to_numpy(dtype=object),
                    "occurred_at": activity.loc[
                        (activity["kind"] == "sms") & activity["delivered"], "seen_at"
                    ].to_numpy(dtype="datetime64[us]"),
                    "channel": "sms",
                    "direction": "outbound",
                    "scenario": activity.loc[
                        (activity["kind"] == "sms") & activity["delivered"], "scenario"
                    ].to_numpy(dtype=object),
                }
            ),
            pd.DataFrame(
                {
                    "id_type": "openid",
                    "id_value": events["openid"].to_numpy(dtype=object),
                    "occurred_at": events["event_at"].to_numpy(dtype="datetime64[us]"),
                    "channel": "miniprogram",
                    "direction": "inbound",
                    "scenario": events["event_name"].to_numpy(dtype=object),
                }
            ),
        ],
        ignore_index=True,
    )
    fct_inter = inter.merge(key[key["person_id"].notna()], on=["id_type", "id_value"], how="inner")
    fct_inter["occurred_date"] = fct_inter["occurred_at"].dt.normalize()

    # measurement ----------------------------------------------------------------------------
    dates = pd.concat([fct_orders["ordered_date"], fct_inter["occurred_date"]]).dropna()
    data_start, data_end = (dates.min(), dates.max()) if len(dates) else (pd.NaT, pd.NaT)
    cells_end = min(data_end, as_of_ts) if len(dates) else pd.NaT

    paid = fct_orders[~fct_orders["is_refunded"] & fct_orders["person_id"].notna()]
    purchase_days = (
        paid.groupby(["person_id", "ordered_date"])
        .agg(orders=("cents", "size"), cents=("cents", "sum"))
        .reset_index()
    )

    rfm = _rfm(purchase_days, as_of_ts, data_start, cells_end)

    members_c = dim_users[dim_users["first_seen_date"] >= data_start].copy()
    members_c["cohort_week"] = members_c["first_seen_date"] - pd.to_timedelta(
        members_c["first_seen_date"].dt.day_of_week, unit="D"
    )
    active = pd.concat(
        [
            fct_orders.loc[fct_orders["person_id"].notna(), ["person_id", "ordered_date"]].rename(
                columns={"ordered_date": "d"}
            ),
            fct_inter.loc[
                fct_inter["direction"] == "inbound", ["person_id", "occurred_date"]
            ].rename(columns={"occurred_date": "d"}),
        ]
    ).drop_duplicates()
    active["hit"] = True
    retention = (
        members_c[["cohort_week", "first_channel"]]
        .drop_duplicates()
        .set_index(["cohort_week", "first_channel"])
    )
    retention["cohort_users"] = members_c.groupby(["cohort_week", "first_channel"]).size()
    for n in (1, 7, 30):
        target = members_c["first_seen_date"] + pd.Timedelta(days=n)
        cells = members_c[(target <= cells_end) & (target >= first_day)].assign(d=target)
        cells = cells.merge(active, on=["person_id", "d"], how="left")
        g = cells.groupby(["cohort_week", "first_channel"])
        retention[f"d{n}_cohort_users"] = g.size()
        retention[f"d{n}_retained_users"] = g["hit"].apply(lambda s: int(s.fillna(False).sum()))
    firsts_b = purchase_days.sort_values(["person_id", "ordered_date"])
    first_p = firsts_b.groupby("person_id")["ordered_date"].min()
    second_p = firsts_b.groupby("person_id")["ordered_date"].nth(1)
    second_p = pd.Series(second_p.to_numpy(), index=firsts_b.loc[second_p.index, "person_id"])
    buyers = pd.DataFrame({"first": first_p}).join(second_p.rename("second"))
    buyers = buyers[buyers["first"] + pd.Timedelta(days=30) <= data_end]
    rep = members_c.merge(buyers, left_on="person_id", right_index=True)
    rep["repurchased"] = (rep["second"] <= rep["first"] + pd.Timedelta(days=30)).fillna(False)
    g = rep.groupby(["cohort_week", "first_channel"])
    retention["first_time_buyers_30d"] = g.size()
    retention["repurchasers_30d"] = g["repurchased"].sum()
    retention[["first_time_buyers_30d", "repurchasers_30d"]] = retention[
        ["first_time_buyers_30d", "repurchasers_30d"]
    ].fillna(0)

    out = _outputs(as_of, identity, dim_users, fct_orders, fct_inter, rfm, retention)
    out["_meta"] = {"seconds": round(time.perf_counter() - started, 3)}
    return out


def _rfm(purchase_days: pd.DataFrame, as_of: pd.Timestamp, data_start, cells_end) -> pd.DataFrame:
    upto = purchase_days[purchase_days["ordered_date"] <= as_of]
    if pd.isna(data_start) or not (data_start <= as_of <= cells_end):
        upto = upto.iloc[0:0]
    g = upto.groupby("person_id")
    b = pd.DataFrame(
        {
            "last": g["ordered_date"].max(),
            "frequency": g.size(),
            "orders": g["orders"].sum(),
            "cents": g["cents"].sum(),
        }
    ).reset_index()
    b["recency_days"] = (as_of - b["last"]).dt.days
    pid = b["person_id"].to_numpy(dtype=object).astype(str)
    pid_rank = _rank(pid)  # person_id breaks ties, ascending
    rec = _rank(-b["recency_days"].to_numpy(), pid_rank)
    freq = _rank(b["frequency"].to_numpy(), pid_rank)
    mon = _rank(b["cents"].to_numpy(), pid_rank)
    b["r_score"], b["f_score"], b["m_score"] = _ntile(rec, 5), _ntile(freq, 5), _ntile(mon, 5)
    b["r3_score"], b["m3_score"] = _ntile(rec, 3), _ntile(mon, 3)
    tiers = pd.read_csv(SEEDS / "rfm_tiers.csv")
    segments = pd.read_csv(SEEDS / "rfm_segments.csv")
    b = b.merge(
        tiers[["r3_score", "m3_score", "rfm_tier"]], on=["r3_score", "m3_score"], how="left"
    )
    b = b.merge(segments, on=["r_score", "f_score"], how="left")
    b["rfm_tier"] = b["rfm_tier"].fillna("other")
    return b


def _counts(series: pd.Series) -> dict:
    return {
        str(k): int(v) for k, v in sorted(series.value_counts().items(), key=lambda kv: str(kv[0]))
    }


def _outputs(as_of, identity, dim_users, orders, inter, rfm, retention) -> dict:
    paid = ~orders["is_refunded"]
    by_channel = {}
    for ch, grp in sorted(orders.groupby("channel"), key=lambda kv: kv[0]):
        by_channel[ch] = [
            len(grp),
            int(grp["is_refunded"].sum()),
            int(grp.loc[~grp["is_refunded"], "cents"].sum()),
        ]
    types = inter.groupby(["channel", "direction", inter["scenario"].fillna("")]).size()
    lines_v = [
        f"{r},{f},{c}"
        for r, f, c in zip(rfm["recency_days"], rfm["frequency"], rfm["cents"], strict=True)
    ]
    lines_s = [
        ",".join(str(x) for x in row)
        for row in zip(
            rfm["recency_days"],
            rfm["frequency"],
            rfm["orders"],
            rfm["cents"],
            rfm["r_score"],
            rfm["f_score"],
            rfm["m_score"],
            rfm["r3_score"],
            rfm["m3_score"],
            rfm["rfm_tier"],
            rfm["rfm_segment"].fillna(""),
            strict=True,
        )
    ]
    rows = {}
    for (week, channel), row in retention.sort_index().iterrows():
        r = {c: (None if pd.isna(row.get(c)) else int(row[c])) for c in COUNT_COLUMNS}
        for n in (1, 7, 30):
            cu, ru = r[f"d{n}_cohort_users"], r[f"d{n}_retained_users"]
            r[f"d{n}"] = ru / cu if cu else None
        r["repurchase_rate_30d"] = (
            r["repurchasers_30d"] / r["first_time_buyers_30d"]
            if r["first_time_buyers_30d"]
            else None
        )
        rows[f"{week.date().isoformat()}/{channel}"] = {
            c: r[c] for c in (*COUNT_COLUMNS, *RATE_COLUMNS)
        }
    return {
        "as_of": as_of.isoformat(),
        "persons": {
            "count": len(dim_users),
            "by_first_channel": _counts(dim_users["first_channel"]),
            "identifiers": len(identity),
            "unresolved_identifiers": int(identity["person_id"].isna().sum()),
        },
        "orders": {
            "count": len(orders),
            "refunded": int(orders["is_refunded"].sum()),
            "without_person": int(orders["person_id"].isna().sum()),
            "revenue_cents": int(orders.loc[paid, "cents"].sum()),
            "gross_cents": int(orders["cents"].sum()),
            "by_channel": by_channel,
        },
        "interactions": {
            "count": len(inter),
            "by_type": {f"{c}/{d}/{s}": int(n) for (c, d, s), n in sorted(types.items())},
        },
        "rfm": {
            "buyers": len(rfm),
            "orders": int(rfm["orders"].sum()),
            "recency_sum": int(rfm["recency_days"].sum()),
            "frequency_sum": int(rfm["frequency"].sum()),
            "monetary_cents": int(rfm["cents"].sum()),
            **{
                f"{c}s": _counts(rfm[c])
                for c in ("r_score", "f_score", "m_score", "r3_score", "m3_score")
            },
            "segments": _counts(rfm["rfm_segment"].fillna("")),
            "tiers": _counts(rfm["rfm_tier"]),
            "values_digest": digest(lines_v),
            "scored_digest": digest(lines_s),
        },
        "retention_summary": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("landing_dir", type=Path)
    parser.add_argument("as_of", type=dt.date.fromisoformat)
    parser.add_argument("--out", type=Path, help="write the outputs as JSON here")
    args = parser.parse_args()
    out = run_peer(args.landing_dir, args.as_of)
    if args.out:
        args.out.write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps(out["_meta"]))


if __name__ == "__main__":
    main()
