"""Planted intents of inbound WeCom messages (issue 14, seed 2.3.3 and 2.4.3).

Every inbound message (1:1 and customer group) carries a text said with one of five intents:
purchase intent, after-sales complaint, question, chit-chat or unsubscribe request. The texts
come from a fixed pool built here from templates, product words and noise (typos, emoji,
fillers, short and long messages, and a share of deliberately ambiguous phrasings whose label is
the speaker's intent, not the look of the words), so a classifier's accuracy is not trivially
100%. The true intent of each message goes to ``_truth/inbound_intents/<day>.parquet``, never to
the extract.

Draws: the pool from ``default_rng([seed, 14, 2])`` (the same templates, other fillings and
noise for another seed: a held-out sample for a model tuned on one seed's texts), each person's
unsubscribe plan from ``default_rng([seed, 14])`` and each day's intents and texts from
``default_rng([seed, 14, 1, day])``: the existing streams (datagen/README.md) are untouched, so
every other extract keeps its bytes and only the message texts change.
"""

from __future__ import annotations

import functools
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

INTENTS = (
    "purchase_intent",
    "after_sales_complaint",
    "question",
    "chit_chat",
    "unsubscribe_request",
)
PURCHASE, COMPLAINT, QUESTION, CHIT_CHAT, UNSUBSCRIBE = range(len(INTENTS))

#: Intent mix of messages that are not an unsubscribe request, 1:1 chats and customer groups
#: (purchase, complaint, question, chit-chat).
SINGLE_MIX = np.array([0.24, 0.16, 0.34, 0.26])
GROUP_MIX = np.array([0.13, 0.04, 0.28, 0.55])
#: Share of WeCom contacts who at some point want no more messages; from their onset day (within
#: UNSUBSCRIBE_ONSET_DAYS of joining WeCom) each of their 1:1 messages asks for it with
#: P_UNSUBSCRIBE_REPEAT (people repeat it), the others keep their usual mix.
P_WANTS_UNSUBSCRIBE = 0.06
UNSUBSCRIBE_ONSET_DAYS = 30
P_UNSUBSCRIBE_REPEAT = 0.5
#: Texts in the pool per intent, and the share of them phrased ambiguously.
POOL_PER_INTENT = 1500
AMBIGUOUS_SHARE = 0.12
STREAM = 14

PRODUCTS = (
    "面霜", "精华液", "洗面奶", "防晒霜", "口红", "眼霜", "面膜", "香水", "洗发水", "身体乳",
    "卫衣", "连衣裙", "运动鞋", "羽绒服", "T恤", "牛仔裤", "双肩包", "保温杯", "咖啡豆",
    "蛋白粉", "奶粉", "纸尿裤", "护手霜", "粉底液", "小白瓶", "礼盒", "新款", "这款", "那个套装",
)  # fmt: skip
UNITS = ("件", "个", "瓶", "盒", "支", "双", "套")
COLORS = ("黑色", "白色", "粉色", "蓝色", "米色", "灰色", "红色")
SIZES = ("S", "M", "L", "XL", "36", "38", "40", "大号", "小号")
WHO = ("妈妈", "老婆", "男朋友", "女朋友", "宝宝", "自己", "同事", "闺蜜")
DAYS = ("明天", "周末", "今天下午", "后天", "下周", "晚上")
CITIES = ("上海", "北京", "杭州", "成都", "广州", "深圳", "武汉", "西安", "南京")
DEFECTS = (
    "漏液了", "裂了", "掉色", "起球", "开线了", "有异味", "过敏了", "是坏的", "划痕很多",
    "尺码不对", "少了配件",
)  # fmt: skip
NUMBERS = ("2", "3", "5", "两", "三", "好几", "7", "10")

# Templates per intent: {p} product, {u} unit, {c} colour, {s} size, {w} who, {d} day,
# {city} city, {x} defect, {n} number.
TEMPLATES: dict[int, tuple[str, ...]] = {
    PURCHASE: (
        "{p}还有货吗，想买{n}{u}",
        "我要下单{p}，怎么付款",
        "{p}多少钱？{c}的有吗",
        "想给{w}买个{p}，有什么推荐",
        "{p}现在有活动吗，打算入手",
        "帮我留一{u}{p}，{d}去门店拿",
        "{p}{s}码还有吗，我直接拍",
        "能不能便宜点，我买{n}{u}",
        "怎么购买{p}",
        "{p}的链接发我一下，我要买",
        "我想要这款{c}的，怎么买",
        "团购价还能拿到吗，想多买几{u}",
        "{p}给我来{n}{u}",
        "{p}买二送一还有吗，想囤货",
        "会员价买{p}是多少，我准备下单了",
        "下单{p}可以{d}送到吗",
        "{c}{s}码的{p}帮我预定一{u}",
        "有{p}的试用装吗，用得好就买正装",
        "想买{p}送{w}，能帮忙包装吗",
        "{p}补货了吗？上次没抢到",
        "预售的{p}怎么付定金",
        "我在{city}，{p}能直接下单吗",
    ),
    COMPLAINT: (
        "{p}收到就{x}，怎么处理",
        "我要退货！{p}{x}",
        "都{n}天了还没发货，怎么回事",
        "快递一直不动，催了{n}次了",
        "{p}和图片完全不一样，太失望了",
        "客服一直不回，我要投诉",
        "质量太差了，{p}用了{n}天就{x}",
        "发错货了，我买的是{c}的",
        "退款什么时候到账？等了{n}天了",
        "少发了一{u}{p}",
        "申请售后没人处理，什么服务",
        "包装破损，里面的{p}{x}",
        "用了你们的{p}脸上{x}，必须给个说法",
        "{p}是不是假货，味道不对",
        "说好{d}到，到现在都没收到",
        "门店店员态度很差，要求投诉",
        "刚买就降价了，差价退不退",
        "{p}{x}，我要换货",
        "同一个问题反馈{n}次了还没解决",
        "赠品没给，{p}也{x}",
        "退货寄回去{n}天了还没退款",
        "物流显示签收了但我根本没收到",
    ),
    QUESTION: (
        "{p}怎么用",
        "{p}适合敏感肌吗",
        "门店几点关门",
        "会员积分怎么兑换",
        "生日礼什么时候发",
        "优惠券在哪里领",
        "能开发票吗",
        "{city}有门店吗，在哪",
        "{p}保质期多久",
        "会员等级怎么升级",
        "积分什么时候过期",
        "今天直播几点开始",
        "怎么修改收货地址",
        "可以寄到{city}吗",
        "{p}和{p}有什么区别",
        "{p}孕妇能用吗",
        "{s}码一般多高的人穿",
        "会员日是每月几号",
        "{p}是哪里产的",
        "小程序怎么绑定手机号",
        "{p}要怎么保存",
        "活动规则是什么，没看懂",
        "优惠券能和会员折扣一起用吗",
        "{p}一天用几次",
    ),
    CHIT_CHAT: (
        "谢谢",
        "好的",
        "收到",
        "哈哈哈",
        "晚安",
        "早上好",
        "今天天气真好",
        "你们辛苦了",
        "打卡",
        "晒单啦，{p}很好看",
        "收到了，很喜欢",
        "好滴",
        "下次再来",
        "新年快乐",
        "爱了爱了",
        "客服小姐姐真好",
        "{p}用着不错，推荐给{w}了",
        "周末愉快",
        "大家早",
        "我也是{city}的",
        "嗯嗯",
        "哈哈好的，知道了",
        "今天又来签到了",
        "已经分享给{w}啦",
    ),
    UNSUBSCRIBE: (
        "别再给我发消息了",
        "退订",
        "取消订阅",
        "不要再推送了",
        "TD",
        "请把我从名单里删掉",
        "以后不要联系我",
        "不需要了，别再发了",
        "关闭营销消息",
        "我不想收到这些信息",
        "不要打扰我",
        "退订微信消息和短信",
        "别发广告了，谢谢",
        "天天发烦不烦，退订",
        "取消推送，不用再联系",
        "请停止给我发活动通知",
        "回复TD退订",
        "把我的号码删了，别再推了",
    ),
}

# Phrasings that look like another intent; the label is what the speaker wants.
AMBIGUOUS: dict[int, tuple[str, ...]] = {
    PURCHASE: (
        "优惠券怎么用，想买{p}",
        "{p}还有吗",
        "{p}多少钱",
        "收到了，很喜欢，再来{n}{u}",
        "上次买的{p}不错，还有活动吗",
        "{p}适合{w}吗，合适就下单",
    ),
    COMPLAINT: (
        "还没发货吗",
        "{p}怎么还没到",
        "{p}怎么退",
        "收到了，但是{x}",
        "太烦了，东西还没到",
        "能不能快点",
    ),
    QUESTION: (
        "退货要自己出运费吗",
        "{p}坏了能保修吗",
        "什么时候发货",
        "{p}还有别的颜色吗",
        "怎么取消自动续费的会员",
        "{p}多久能到{city}",
    ),
    CHIT_CHAT: (
        "收到了",
        "好的，不用了",
        "{p}挺好的",
        "没事了",
        "哈哈太贵了",
        "算了",
    ),
    UNSUBSCRIBE: (
        "太烦了",
        "不用了，以后别发",
        "不要了",
        "取消",
        "别发了行吗，我要投诉了",
        "不需要这些活动",
    ),
}

PREFIXES = ("亲，", "你好，", "您好，", "在吗？", "哈喽，", "hi ", "客服，", "小姐姐，", "请问", "")
SUFFIXES = (
    "？", "?", "！！", "~", "。。。", "😊", "😭", "😡", "🙏", "👍", "[微笑]", "[捂脸]",
    "[抱拳]", "！", "哈", "呀", "...", "??", "😂",
)  # fmt: skip
FILLERS = ("麻烦了", "谢谢啦", "急", "在线等", "快点回复", "辛苦", "哈哈", "拜托了")
# typos an IME makes: homophones and near-misses
TYPOS = (
    ("吗", "嘛"), ("吗", "马"), ("的", "得"), ("的", "滴"), ("在", "再"), ("怎么", "咋"),
    ("什么", "啥"), ("货", "或"), ("发", "法"), ("钱", "前"), ("优惠", "有惠"), ("订", "定"),
    ("收到", "手到"), ("退", "腿"), ("买", "卖"), ("消息", "信息"), ("谢谢", "xx"),
    ("好的", "ok"), ("客服", "kf"),
)  # fmt: skip
P_PREFIX, P_SUFFIX, P_TYPO, P_LONG, P_SPACE = 0.35, 0.45, 0.15, 0.2, 0.05


def _fill(template: str, rng: np.random.Generator) -> str:
    def one(words):
        return words[int(rng.integers(len(words)))]

    text = template
    for slot, words in (
        ("{p}", PRODUCTS),
        ("{u}", UNITS),
        ("{c}", COLORS),
        ("{s}", SIZES),
        ("{w}", WHO),
        ("{d}", DAYS),
        ("{city}", CITIES),
        ("{x}", DEFECTS),
        ("{n}", NUMBERS),
    ):
        while slot in text:
            text = text.replace(slot, one(words), 1)
    return text


def _noisy(text: str, intent: int, rng: np.random.Generator) -> str:
    """The text as people type it: a greeting, a second clause, typos, emoji, stray spaces."""
    if rng.random() < P_LONG:
        # a longer message: a second clause of the same intent, or a filler
        if rng.random() < 0.5:
            more = TEMPLATES[intent]
            text = text + "，" + _fill(more[int(rng.integers(len(more)))], rng)
        else:
            text = text + "，" + FILLERS[int(rng.integers(len(FILLERS)))]
    if rng.random() < P_PREFIX:
        text = PREFIXES[int(rng.integers(len(PREFIXES)))] + text
    if rng.random() < P_TYPO:
        for k in rng.permutation(len(TYPOS)):
            right, wrong = TYPOS[int(k)]
            if right in text:
                text = text.replace(right, wrong, 1)
                break
    if rng.random() < P_SPACE and len(text) > 2:
        cut = int(rng.integers(1, len(text)))
        text = text[:cut] + " " + text[cut:]
    if rng.random() < P_SUFFIX:
        text = text + SUFFIXES[int(rng.integers(len(SUFFIXES)))]
    return text


@functools.cache
def text_pool(seed: int) -> tuple[str, ...]:
    """The pool of message texts of a generation seed: POOL_PER_INTENT texts per intent, in the
    order of INTENTS (text ``k`` says intent ``k // POOL_PER_INTENT``); AMBIGUOUS_SHARE of each
    are ambiguous phrasings. Deterministic, the same in every worker process."""
    rng = np.random.default_rng([seed, STREAM, 2])
    texts: list[str] = []
    for intent in range(len(INTENTS)):
        for _ in range(POOL_PER_INTENT):
            source = AMBIGUOUS if rng.random() < AMBIGUOUS_SHARE else TEMPLATES
            templates = source[intent]
            template = templates[int(rng.integers(len(templates)))]
            texts.append(_noisy(_fill(template, rng), intent, rng))
    return tuple(texts)


def pool_intents(index: np.ndarray) -> np.ndarray:
    """The intent (a name of INTENTS) of pool texts by index."""
    return np.asarray(INTENTS)[np.asarray(index, dtype=np.int64) // POOL_PER_INTENT]


_ONSET: dict[int, tuple[object, np.ndarray]] = {}


def unsubscribe_onset(pop, seed: int) -> np.ndarray:
    """Per person, the day from which they ask to unsubscribe in their 1:1 chats (-1: never).

    Drawn once per population from ``default_rng([seed, 14])`` (cached like the planted orders)."""
    key = id(pop)
    if key not in _ONSET or _ONSET[key][0] is not pop:
        rng = np.random.default_rng([seed, STREAM])
        wants = (pop.wecom_day >= 0) & (rng.random(pop.n) < P_WANTS_UNSUBSCRIBE)
        onset = pop.wecom_day + rng.integers(0, UNSUBSCRIBE_ONSET_DAYS, pop.n)
        _ONSET.clear()
        _ONSET[key] = (pop, np.where(wants, onset, -1).astype(np.int64))
    return _ONSET[key][1]


def plant_inbound_texts(pop, d: int, seed: int, person: np.ndarray, room: np.ndarray) -> np.ndarray:
    """The pool text (index into :func:`text_pool`) of each inbound message of day ``d``.

    ``person`` and ``room`` (-1 = 1:1 chat, else a customer group) per message. Group messages
    follow GROUP_MIX and are never unsubscribe requests; 1:1 messages follow SINGLE_MIX, except
    that a person past their unsubscribe onset asks for it with P_UNSUBSCRIBE_REPEAT.
    """
    rng = np.random.default_rng([seed, STREAM, 1, d])
    n = len(person)
    group = room >= 0
    u = rng.random(n)
    intent = np.where(
        group,
        np.searchsorted(np.cumsum(GROUP_MIX), u * GROUP_MIX.sum(), side="right"),
        np.searchsorted(np.cumsum(SINGLE_MIX), u * SINGLE_MIX.sum(), side="right"),
    )
    intent = np.minimum(intent, CHIT_CHAT)
    onset = unsubscribe_onset(pop, seed)[person] if n else np.zeros(0, dtype=np.int64)
    asks = ~group & (onset >= 0) & (d >= onset) & (rng.random(n) < P_UNSUBSCRIBE_REPEAT)
    intent = np.where(asks, UNSUBSCRIBE, intent)
    pick = (rng.random(n) * POOL_PER_INTENT).astype(np.int64)
    return intent * POOL_PER_INTENT + pick


def truth_table(msgids: pa.Array, batch: dict[str, np.ndarray], pop) -> pa.Table:
    """The planted intent of every inbound message of a messages batch (staff replies and
    duplicated rows left out): msgid, true_intent, channel, sent_at (UTC), true_person_id."""
    inbound = np.flatnonzero(batch["intent_text"] >= 0)
    idx = pa.array(inbound, type=pa.int64())
    table = pa.table(
        {
            "msgid": msgids.take(idx).cast(pa.string()),
            "true_intent": pa.array(pool_intents(batch["intent_text"][inbound])),
            "channel": pa.array(np.where(batch["room"][inbound] >= 0, "wecom_group", "wecom_1v1")),
            "sent_at": pa.array(batch["ms"][inbound].astype("datetime64[ms]")),
            "true_person_id": pop.person_ids.take(pa.array(batch["person"][inbound])).cast(
                pa.string()
            ),
        }
    )
    # a duplicated row (mess) is one message
    _, first = np.unique(np.asarray(table["msgid"]), return_index=True)
    return table.take(pa.array(np.sort(first)))


def write_truth_day(out: pathlib.Path, date: str, table: pa.Table) -> None:
    """``_truth/inbound_intents/<date>.parquet`` (a day without inbound messages: no rows)."""
    folder = pathlib.Path(out) / "_truth" / "inbound_intents"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{date}.parquet", compression="zstd")
