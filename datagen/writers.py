"""Turn simulated batches into the exact bytes of the landing files (see datagen/FORMATS.md).

Lines are built column-wise with Arrow string kernels; every text value comes from a pool whose
entries are escaped once (JSON string literals, CSV-quoted fields), so no row is serialised in
Python.
"""

from __future__ import annotations

import bisect
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen import config, ids, plants_intent
from datagen.population import DAY_MS, TZ_OFFSET_MS, Population

Batch = dict[str, np.ndarray]

CSV_HEADERS = {
    "members": [
        "会员编号",
        "姓名",
        "手机号",
        "注册时间",
        "注册渠道",
        "会员等级",
        "生日",
        "城市",
        "营销授权",
        "退订时间",
        "更新时间",
    ],
    "orders": [
        "订单号",
        "会员编号",
        "下单时间",
        "订单金额",
        "优惠金额",
        "是否用券",
        "订单状态",
        "门店",
    ],
    "points": ["流水号", "会员编号", "变动时间", "变动积分", "变动原因"],
    "feedback": ["反馈编号", "会员编号", "反馈时间", "评分", "反馈内容"],
    "sms_sends": [
        "活动编号",
        "会员编号",
        "发送时间",
        "场景",
        "内容类型",
        "实验编号",
        "实验分组",
        "发送状态",
    ],
}


def S(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.string())


def _join(*parts, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*[S(p) if isinstance(p, str) else p for p in parts], sep)


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def _take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    return pool.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _json_pool(values) -> pa.Array:
    return pa.array([json.dumps(v, ensure_ascii=False) for v in values])


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


_TOD = None
_HHMM = None


def _fixed_strings(chars: np.ndarray) -> pa.Array:
    """A string array from an (n, width) uint8 matrix of ASCII characters (one row each)."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars.reshape(-1))]
    )


def _concat_fixed(*parts) -> np.ndarray:
    """Side by side: ASCII constants (str) and (n, width) uint8 matrices -> one (n, W) matrix."""
    n = next(len(p) for p in parts if not isinstance(p, str))
    consts = [
        np.frombuffer(p.encode(), dtype=np.uint8) if isinstance(p, str) else None for p in parts
    ]
    widths = [len(c) if c is not None else p.shape[1] for p, c in zip(parts, consts, strict=True)]
    out = np.empty((n, sum(widths)), dtype=np.uint8)
    pos = 0
    for p, c, w in zip(parts, consts, widths, strict=True):
        out[:, pos : pos + w] = c if c is not None else p
        pos += w
    return out


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) uint8 matrix of the zero-padded decimal digits of non-negative ``values``."""
    values = np.asarray(values, dtype=np.int64)
    out = np.empty((len(values), width), dtype=np.uint8)
    for k in range(width):
        out[:, width - 1 - k] = 48 + values % 10
        values = values // 10
    return out


def _tod_tables() -> tuple[pa.Array, pa.Array]:
    global _TOD, _HHMM
    if _TOD is None:
        s = np.arange(86_400)
        hh, mm, ss = _digits(s // 3600, 2), _digits(s // 60 % 60, 2), _digits(s % 60, 2)
        colon = np.full((86_400, 1), ord(":"), dtype=np.uint8)
        _TOD = _fixed_strings(np.hstack([hh, colon, mm, colon, ss]))
        _HHMM = _fixed_strings(np.hstack([hh, colon, mm])[::60])
    return _TOD, _HHMM


def local_time_str(ms: np.ndarray, alt: np.ndarray | None = None) -> pa.Array:
    """Asia/Shanghai local time `YYYY-MM-DD HH:MM:SS`; rows flagged in ``alt`` as `YYYY/M/D HH:MM`."""
    tod, hhmm = _tod_tables()
    local = np.asarray(ms, dtype=np.int64) + TZ_OFFSET_MS
    day = local // DAY_MS
    secs = (local % DAY_MS) // 1000
    if len(day) == 0:
        return pa.array([], type=pa.string())
    d0 = int(day.min())
    span = np.arange(d0, int(day.max()) + 1).astype("datetime64[D]")
    dates = pa.array(span.astype(str))
    out = _join(_take(dates, day - d0), _take(tod, secs), sep=" ")
    if alt is not None and alt.any():
        ymd = span.astype(object)
        alt_dates = pa.array([f"{x.year}/{x.month}/{x.day}" for x in ymd])
        alt_str = _join(_take(alt_dates, day - d0), _take(hhmm, secs // 60), sep=" ")
        out = pc.if_else(pa.array(alt), alt_str, out)
    return out


class Body:
    """Formatted lines kept as Arrow string arrays; ``rows(r0, r1)`` gives the bytes of rows
    r0..r1-1 (zero-copy when they lie in one array)."""

    def __init__(self):
        self.parts: list[tuple[pa.Array, memoryview, np.ndarray]] = []
        self.first_row: list[int] = []
        self.n = 0

    def append(self, lines: pa.Array) -> None:
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        k = len(lines)
        if k == 0:
            return
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
            lines.offset : lines.offset + k + 1
        ]
        self.parts.append((lines, memoryview(lines.buffers()[2]), offsets))
        self.first_row.append(self.n)
        self.n += k

    def rows(self, r0: int, r1: int) -> memoryview | bytes:
        if r1 <= r0:
            return b""
        i = bisect.bisect_right(self.first_row, r0) - 1
        out = []
        while r0 < r1:
            _, data, offsets = self.parts[i]
            base = self.first_row[i]
            hi = min(r1, base + len(offsets) - 1)
            out.append(data[offsets[r0 - base] : offsets[hi - base]])
            r0 = hi
            i += 1
        return out[0] if len(out) == 1 else b"".join(out)


def to_bytes(lines: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a string array (each element already ends in a newline)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end].tobytes()


class Formatter:
    """Builds file bytes for each entity from batches; holds the per-person string columns."""

    def __init__(self, pop: Population, mess: config.MessConfig, seed: int = 0):
        self.pop = pop
        self.mess = mess
        _tod_tables()  # built once, before any worker process forks
        days = np.arange(pop.start_epoch_day, pop.start_epoch_day + pop.days + 5)
        self.date_compact = pa.array(
            np.char.replace(days.astype("datetime64[D]").astype(str), "-", "")
        )
        self.person_name = _take(pa.array(pop.names), pop.name_idx)
        nick_pool = pa.array(list(config.NICKNAMES))
        is_nick = pop.nick_idx < len(config.NICKNAMES)
        self.nickname = pc.if_else(
            pa.array(is_nick),
            _take(nick_pool, np.where(is_nick, pop.nick_idx, 0)),
            self.person_name,
        )
        self.staff = pa.array(pop.staff_ids)
        self.city = pa.array(list(config.CITIES))
        self.tier = pa.array(list(config.TIERS))
        self.tier_tag = pa.array(list(config.TIER_TAGS))
        self.channel_cn = pa.array(list(config.CHANNEL_LABELS_CN))
        stores = [c + s for c in config.CITIES for s in ("一店", "二店", "中心店")] + ["线上商城"]
        self.store = pa.array(stores)
        self.scenario = pa.array(list(config.SCENARIOS))
        self.content = pa.array(list(config.CONTENT_TYPES))
        exps = pop.experiments
        self.exp_campaign = pa.array([e.campaign_id for e in exps])
        self.exp_csv = pa.array([""] + [e.experiment_id for e in exps])
        self.exp_json = _json_pool([None] + [e.experiment_id for e in exps])
        self.variant_csv = pa.array(["", "control", "treatment"])
        self.variant_json = _json_pool([None, "control", "treatment"])
        self.feedback = pa.array([_csv_field(t) for t in config.FEEDBACK_TEXTS])
        # the fixed texts, then the planted-intent pool (datagen/plants_intent.py)
        self.msg_text = _json_pool(
            config.INBOUND_TEXTS
            + config.GROUP_TEXTS
            + config.STAFF_TEXTS
            + plants_intent.text_pool(seed)
        )
        self.event_names = pa.array(list(config.EVENT_NAMES))
        self.pages = pa.array(list(config.PAGES))
        self.reasons = pa.array(list(config.POINT_REASONS))
        # event properties: none, a UGC scenario, or a coupon of the catalogue
        self.event_props = pa.array(
            ["{}"]
            + [json.dumps({"scenario": s, "campaign_id": None}) for s in config.SCENARIOS]
            + [
                json.dumps({"coupon_id": f"cp_{k:04d}", "discount_cny": int(v)})
                for k, v in enumerate(config.COUPON_VALUES_CNY)
            ]
        )
        # Small categorical columns that sit next to each other in a line are written as one
        # pooled string (fewer Arrow kernels per row): events end with page + properties ...
        self.n_props = len(self.event_props)
        self.event_tail = pa.array(
            [
                f', "page": "{page}", "properties": {props}}}\n'
                for page in config.PAGES
                for props in self.event_props.to_pylist()
            ]
        )
        self.event_name_mid = pa.array([f'{e}", "event_time": ' for e in config.EVENT_NAMES])
        # ... campaign sends with scenario, content, experiment, variant and status
        exp_json, var_json = self.exp_json.to_pylist(), self.variant_json.to_pylist()
        self.send_tail = pa.array(
            [
                f', "scenario": "{sc}", "content_type": "{ct}", "experiment_id": {ex}, '
                f'"variant": {va}, "status": "{st}"}}\n'
                for sc in config.SCENARIOS
                for ct in config.CONTENT_TYPES
                for ex in exp_json
                for va in var_json
                for st in ("failed", "sent")
            ]
        )
        self.send_mid = pa.array([f'{c}", "sent_at": ' for c in ("single", "group")])
        # ... and SMS sends (scenario .. status)
        exp_csv, var_csv = self.exp_csv.to_pylist(), self.variant_csv.to_pylist()
        self.sms_tail = pa.array(
            [
                f"{sc},{ct},{ex},{va},{st}\n"
                for sc in config.SCENARIOS
                for ct in config.CONTENT_TYPES
                for ex in exp_csv
                for va in var_csv
                for st in ("失败", "成功")
            ]
        )
        self.date8 = np.frombuffer(
            "".join(self.date_compact.to_pylist()).encode(), dtype=np.uint8
        ).reshape(-1, 8)
        self._fixed_cache: dict[str, np.ndarray] = {}

    # --- shared pieces ------------------------------------------------------------------------------
    def _day_compact(self, day: np.ndarray) -> pa.Array:
        return _take(self.date_compact, day)

    def _yuan(self, cents: np.ndarray) -> pa.Array:
        cents = np.asarray(cents, dtype=np.int64)
        return _join(_str(cents // 100), ids.padded(cents % 100, 2), sep=".")

    def _campaign(self, code: np.ndarray) -> pa.Array:
        regular = _join("cmp_", ids.padded(np.maximum(code, 0), 6))
        if not len(self.exp_campaign):  # no experiment runs: every code is a regular campaign
            return regular
        exp = _take(self.exp_campaign, np.maximum(-code - 1, 0))
        return pc.if_else(pa.array(code < 0), exp, regular)

    def _phone(self, fmt: np.ndarray, phone11: pa.Array) -> pa.Array:
        return ids.messy_phones(fmt, phone11)

    # --- per-file random choices, headers, bodies ------------------------------------------------
    def draw(self, entity: str, n: int, rng: np.random.Generator) -> Batch:
        """The random formatting choices of one file of ``n`` rows (drawn from the file's own
        stream, so formatting several files in one call gives the same bytes)."""
        out: Batch = {}
        if entity == "members":
            out["_alt"] = rng.random(n) < self.mess.alt_time_format_rate
        if entity in ("members", "external_contacts", "users"):
            out["_phone_fmt"] = ids.phone_formats(rng, n, self.mess.messy_phone_rate)
        return out

    @staticmethod
    def header(source: str, entity: str) -> str:
        """The CSV header line of a CRM entity ('' for JSON lines)."""
        return ",".join(CSV_HEADERS[entity]) + "\n" if source == "crm" else ""

    def body(self, source: str, entity: str, b: Batch, rows_per_call: int = 1 << 16) -> Body:
        """UTF-8 lines of all rows of ``b`` (no CSV header), formatted ``rows_per_call`` rows
        at a time (Arrow kernels are fastest on cache-sized inputs)."""
        n = len(next(iter(b.values())))
        body = Body()
        for lo in range(0, n, rows_per_call):
            part = (
                b if n <= rows_per_call else {k: v[lo : lo + rows_per_call] for k, v in b.items()}
            )
            body.append(self.lines(source, entity, part))
        return body

    def lines(self, source: str, entity: str, b: Batch) -> pa.Array:
        """One string per row, each ending in a newline."""
        if source == "crm":
            cols = self._crm_columns(entity, b)
            if entity == "sms_sends":  # the pooled tail ends the line
                return pc.binary_join_element_wise(*cols, ",")
            return _join(pc.binary_join_element_wise(*cols, ","), "\n")
        parts = getattr(self, "_" + entity)(b)
        if entity in ("events", "campaign_sends"):  # the pooled tail ends the line
            return _join(*parts)
        return _join(*parts, "\n")

    # --- CRM (CSV) ----------------------------------------------------------------------------------
    def _crm_columns(self, entity: str, b: Batch) -> list[pa.Array]:
        pop = self.pop
        yes, no = S("是"), S("否")
        if entity == "members":
            mem = b["mem"]
            person = pop.mem_person[mem]
            alt = b["_alt"]
            unsub = b["unsub_ms"]
            cols = [
                _take(pop.mem_id, mem),
                _take(self.person_name, person),
                self._phone(b["_phone_fmt"], _take(pop.mem_phone11, mem)),
                local_time_str(pop.mem_ms[mem], alt),
                _take(self.channel_cn, pop.channel[person]),
                _take(self.tier, pop.tier[person]),
                _take(pop.birthday_str, person),
                _take(self.city, pop.city[person]),
                pc.if_else(pa.array(b["consent"]), yes, no),
                pc.if_else(
                    pa.array(unsub < 0),
                    S(""),
                    local_time_str(np.where(unsub < 0, b["updated_ms"], unsub)),
                ),
                local_time_str(b["updated_ms"]),
            ]
        elif entity == "orders":
            cols = [
                _join("C", self._day_compact(b["day"]), ids.padded(b["seq"], 7)),
                _take(pop.mem_id, b["mem"]),
                local_time_str(b["ms"]),
                self._yuan(b["amount"]),
                self._yuan(b["discount"]),
                pc.if_else(pa.array(b["coupon"]), yes, no),
                pc.if_else(pa.array(b["refunded"]), S("已退款"), S("已完成")),
                _take(self.store, np.where(b["store"] < 0, len(self.store) - 1, b["store"])),
            ]
        elif entity == "points":
            cols = [
                _join("P", self._day_compact(b["day"]), ids.padded(b["seq"], 7)),
                _take(pop.mem_id, b["mem"]),
                local_time_str(b["ms"]),
                _str(b["points"]),
                _take(self.reasons, b["reason"]),
            ]
        elif entity == "feedback":
            cols = [
                _join("F", self._day_compact(b["day"]), ids.padded(b["seq"], 6)),
                _take(pop.mem_id, b["mem"]),
                local_time_str(b["ms"]),
                _str(b["rating"]),
                _take(self.feedback, b["text"]),
            ]
        elif entity == "sms_sends":
            n_exp, n_var = len(self.exp_csv), len(self.variant_csv)
            tail = (
                ((b["scenario"] * len(config.CONTENT_TYPES) + b["content"]) * n_exp + b["exp"] + 1)
                * n_var
                + b["variant"]
                + 1
            ) * 2 + b["ok"]
            # the pooled tail holds the last 5 columns and the newline
            cols = [
                self._campaign(b["campaign"]),
                _take(pop.mem_id, b["mem"]),
                local_time_str(b["ms"]),
                _take(self.sms_tail, tail),
            ]
        else:
            raise ValueError(f"unknown CRM entity {entity!r}")
        return cols

    # --- WeCom and mini-program (JSON lines) ----------------------------------------------------------
    def _external_contacts(self, b):
        pop = self.pop
        p = b["person"]
        name = _take(self.person_name, p)
        tag = _take(self.tier_tag, pop.tier[p])
        has_uid = pop.wecom_unionid[p]
        uid = pc.if_else(
            pa.array(has_uid), _join(', "unionid": "', _take(pop.unionid, p), '"'), S("")
        )
        mobile = pc.if_else(
            pa.array(pop.remark_mobile[p]),
            _join('"', self._phone(b["_phone_fmt"], _take(pop.phone11, p)), '"'),
            S(""),
        )
        store = pop.store_idx[p]
        state = pc.if_else(
            pa.array(store >= 0),
            _join("store_", ids.padded(np.maximum(store, 0) + 1, 4)),
            S("mall"),
        )
        add_way = np.array([1, 2, 3, 202])[(p * 7 + pop.channel[p]) % 4]
        return [
            '{"external_contact": {"external_userid": "',
            _take(pop.external_userid, p),
            '"',
            uid,
            ', "name": "',
            name,
            '", "type": 1, "gender": ',
            _str(pop.gender[p]),
            '}, "follow_user": [{"userid": "',
            _take(self.staff, pop.staff[p]),
            '", "remark": "',
            name,
            "-",
            tag,
            '", "createtime": ',
            _str(b["ms"] // 1000),
            ', "tags": [{"group_name": "客户等级", "tag_name": "',
            tag,
            '", "type": 1}], "remark_mobiles": [',
            mobile,
            '], "add_way": ',
            _str(add_way),
            ', "state": "',
            state,
            '"}]}',
        ]

    def _group_members(self, b):
        pop = self.pop
        p = b["person"]
        ext = p >= 0
        pp = np.maximum(p, 0)
        userid = pc.if_else(
            pa.array(ext), _take(pop.external_userid, pp), _take(self.staff, b["staff"])
        )
        uid = pc.if_else(
            pa.array(ext & pop.wecom_unionid[pp]),
            _join(', "unionid": "', _take(pop.unionid, pp), '"'),
            S(""),
        )
        return [
            '{"chat_id": "',
            _take(pop.chat_ids, b["group"]),
            '", "userid": "',
            userid,
            '", "type": ',
            pc.if_else(pa.array(ext), S("2"), S("1")),
            uid,
            ', "join_time": ',
            _str(b["ms"] // 1000),
            ', "join_scene": ',
            _str(b["scene"]),
            "}",
        ]

    def message_ids(self, b) -> pa.Array:
        """The msgid of each row of a messages batch."""
        return _join(
            self._day_compact(b["day"]), ids.padded(b["seq"], 9), "_", _str(b["ms"] // 1000)
        )

    def _messages(self, b):
        pop = self.pop
        staff_side = pa.array(b["from_staff"])
        ext = _take(pop.external_userid, b["person"])
        staff = _take(self.staff, b["staff"])
        room = b["room"]
        roomid = pc.if_else(pa.array(room >= 0), _take(pop.chat_ids, np.maximum(room, 0)), S(""))
        n_in, n_grp = len(config.INBOUND_TEXTS), len(config.GROUP_TEXTS)
        text = b["text"] + np.where(b["from_staff"], n_in + n_grp, np.where(room >= 0, n_in, 0))
        n_fixed = n_in + n_grp + len(config.STAFF_TEXTS)
        text = np.where(b["intent_text"] >= 0, n_fixed + b["intent_text"], text)
        msgid = self.message_ids(b)
        return [
            '{"msgid": "',
            msgid,
            '", "action": "send", "from": "',
            pc.if_else(staff_side, staff, ext),
            '", "tolist": ["',
            pc.if_else(staff_side, ext, staff),
            '"], "roomid": "',
            roomid,
            '", "msgtime": ',
            _str(b["ms"]),
            ', "msgtype": "text", "text": {"content": ',
            _take(self.msg_text, text),
            "}}",
        ]

    def _campaign_sends(self, b):
        n_exp, n_var = len(self.exp_json), len(self.variant_json)
        tail = (
            ((b["scenario"] * len(config.CONTENT_TYPES) + b["content"]) * n_exp + b["exp"] + 1)
            * n_var
            + b["variant"]
            + 1
        ) * 2 + b["ok"]
        head = _fixed_strings(
            _concat_fixed(
                '", "external_userid": "',
                self._fixed("external_userid")[b["person"]],
                '", "sender": "',
            )
        )
        return [
            '{"campaign_id": "',
            self._campaign(b["campaign"]),
            head,
            _take(self.staff, b["staff"]),
            '", "chat_type": "',
            _take(self.send_mid, b["group"].astype(np.int64)),
            _str(b["ms"] // 1000),
            _take(self.send_tail, tail),
        ]

    def _users(self, b):
        pop = self.pop
        p = b["person"]
        uid = pc.if_else(
            pa.array(pop.mini_unionid[p]), _join('"', _take(pop.unionid, p), '"'), S("null")
        )
        phone = pc.if_else(
            pa.array(b["phone"]),
            _join('"', self._phone(b["_phone_fmt"], _take(pop.phone11, p)), '"'),
            S("null"),
        )
        unsub = b["unsub_ms"]
        return [
            '{"openid": "',
            _take(pop.openid, p),
            '", "unionid": ',
            uid,
            ', "phone_number": ',
            phone,
            ', "nickname": "',
            _take(self.nickname, p),
            '", "registered_at": ',
            _str(pop.mini_ms[p]),
            ', "scene": ',
            _str(config.MINI_SCENES[(p * 7) % 6]),
            ', "consent_marketing": ',
            pc.if_else(pa.array(b["consent"]), S("true"), S("false")),
            ', "unsubscribed_at": ',
            pc.if_else(pa.array(unsub < 0), S("null"), _str(unsub)),
            ', "updated_at": ',
            _str(b["updated_ms"]),
            "}",
        ]

    def _events(self, b):
        kind = np.where(
            b["coupon"] >= 0,
            1 + len(config.SCENARIOS) + b["coupon"],
            np.where(b["scenario"] >= 0, 1 + b["scenario"], 0),
        )
        head = _fixed_strings(
            _concat_fixed(
                '{"event_id": "e',
                self.date8[b["day"]],
                _digits(b["seq"], 9),
                '", "openid": "',
                self._fixed("openid")[b["person"]],
                '", "event_name": "',
            )
        )
        return [
            head,
            _take(self.event_name_mid, b["name"]),
            _str(b["ms"]),
            _take(self.event_tail, b["page"] * self.n_props + kind),
        ]

    def _fixed(self, name: str) -> np.ndarray:
        """A per-person id column of the population (all the same width) as a uint8 matrix."""
        if name not in self._fixed_cache:
            arr = getattr(self.pop, name)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
                arr.offset : arr.offset + len(arr) + 1
            ]
            width = int(offsets[1] - offsets[0])
            if not (np.diff(offsets) == width).all():
                raise ValueError(f"{name} values differ in length")
            data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
            self._fixed_cache[name] = data[offsets[0] : offsets[-1]].reshape(len(arr), width)
        return self._fixed_cache[name]

    def _orders(self, b):
        pop = self.pop
        coupon = b["coupon"]
        coupon_json = pc.if_else(
            pa.array(coupon >= 0),
            _join('"cp_', ids.padded(np.maximum(coupon, 0), 4), '"'),
            S("null"),
        )
        return [
            '{"order_id": "W',
            self._day_compact(b["day"]),
            ids.padded(b["seq"], 7),
            '", "openid": "',
            _take(pop.openid, b["person"]),
            '", "created_at": ',
            _str(b["ms"]),
            ', "total_fee": ',
            _str(b["amount"]),
            ', "discount_fee": ',
            _str(b["discount"]),
            ', "coupon_id": ',
            coupon_json,
            ', "status": "',
            pc.if_else(pa.array(b["refunded"]), S("refunded"), S("paid")),
            '"}',
        ]
