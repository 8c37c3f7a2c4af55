"""Static parameters of the synthetic world: personas, rates, text pools and the mess knobs.

Every number that shapes the planted behaviour lives here so that the README, the truth files
and the tests read the same values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

PERSONAS = ("high_value_paying", "content_sharing", "price_sensitive", "dormant")
PERSONA_MIX = np.array([0.15, 0.25, 0.30, 0.30])

CHANNELS = ("store", "online_mall", "miniprogram", "wecom")
CHANNEL_LABELS_CN = ("门店", "线上商城", "小程序", "企业微信")
CHANNEL_MIX = np.array([0.35, 0.20, 0.30, 0.15])
# Registrations per channel and weekday (Mon..Sun): stores peak at the weekend, the online mall
# and WeCom on weekdays, the mini-program in the evening of every day with a Sunday bump.
CHANNEL_WEEKLY = np.array(
    [
        [0.80, 0.75, 0.80, 0.90, 1.10, 1.45, 1.40],
        [1.15, 1.10, 1.05, 1.05, 1.00, 0.80, 0.85],
        [0.95, 0.90, 0.95, 0.95, 1.00, 1.05, 1.20],
        [1.20, 1.20, 1.15, 1.10, 1.00, 0.65, 0.70],
    ]
)
# Relative growth of daily registrations from the first to the last generated day.
CHANNEL_TREND = np.array([0.10, 0.25, 0.40, 0.30])

# Which systems a person has, by registration channel (store, online_mall, miniprogram, wecom).
P_HAS_CRM = np.array([1.0, 1.0, 0.5, 0.6])
P_HAS_WECOM = np.array([0.6, 0.4, 0.45, 1.0])
P_HAS_MINI = np.array([0.45, 0.6, 1.0, 0.5])

# --- behaviour by persona (order of PERSONAS) -------------------------------------------------
P_SESSION = np.array([0.16, 0.22, 0.12, 0.03])  # daily prob. of an inbound session while alive
NOVELTY_BOOST = 1.0  # session prob. x (1 + NOVELTY_BOOST * exp(-age_days / NOVELTY_DAYS))
NOVELTY_DAYS = 3.0
EVENTS_PER_SESSION = np.array([4.0, 6.0, 3.5, 1.0])  # 1 + Poisson(this)
EVENT_NAMES = ("page_view", "add_to_cart", "share", "coupon_claim", "task_complete", "review")
EVENT_MIX = np.array(
    [
        [0.55, 0.30, 0.03, 0.02, 0.05, 0.05],
        [0.35, 0.07, 0.25, 0.03, 0.18, 0.12],
        [0.45, 0.15, 0.03, 0.30, 0.05, 0.02],
        [0.80, 0.10, 0.02, 0.05, 0.02, 0.01],
    ]
)
P_INBOUND_MSG = np.array([0.35, 0.45, 0.20, 0.20])  # per session, for WeCom contacts
MSGS_PER_BURST = 0.6  # 1 + Poisson(this) messages per inbound burst
P_GROUP_MSG = np.array([0.10, 0.45, 0.10, 0.05])  # share of bursts said in a group chat
P_ORDER = np.array([0.060, 0.020, 0.035, 0.004])  # daily order prob. while alive
ORDER_MEAN_CNY = np.array([650.0, 220.0, 130.0, 160.0])
ORDER_SIGMA = 0.35
P_COUPON = np.array([0.08, 0.35, 0.85, 0.30])
DISCOUNT_DEPTH = np.array([[0.03, 0.08], [0.10, 0.20], [0.30, 0.50], [0.10, 0.25]])  # uniform
P_REFUND = 0.03
P_FEEDBACK = 0.04  # per CRM order
P_CHECKIN = 0.30  # CRM 签到 points per session
TIER_MIX = np.array(  # 普通, 银卡, 金卡, 钻石
    [
        [0.10, 0.30, 0.40, 0.20],
        [0.45, 0.35, 0.17, 0.03],
        [0.60, 0.30, 0.09, 0.01],
        [0.75, 0.20, 0.05, 0.00],
    ]
)

# --- churn and the planted interaction effect ----------------------------------------------------
BASE_HAZARD = np.array([0.004, 0.008, 0.010, 0.045])  # daily churn prob. at zero touches
HAZARD_SIGMA = 0.5  # lognormal spread of the person's hazard around the persona base
TOUCH_BETA = 0.25  # hazard x exp(-beta * effective touches/week)
TOUCH_KNEE = 3.0  # above this many touches/week each extra touch counts TOUCH_TAIL
TOUCH_TAIL = 0.3
TOUCH_CAP = 4.0  # effective touches/week never exceed this
TOUCH_SHAPE, TOUCH_SCALE = 2.0, 0.6  # individual touches/week ~ Gamma (then x persona factor)
TOUCH_PERSONA_FACTOR = np.array([1.15, 1.10, 1.00, 0.85])
TOUCH_MAX = 5.0
# Interaction also lifts engagement: session prob. x (1 + SESSION_LIFT * min(touches/week, cap)).
SESSION_LIFT_PER_TOUCH = 0.10
P_JOIN_GROUP = np.array([0.45, 0.80, 0.45, 0.20])  # WeCom contacts joining a customer group
P_SECOND_GROUP = 0.2
GROUP_SIZE = 200
GROUP_SENDS_PER_WEEK = 1.4  # mass sends per customer group per week
P_BURST = 0.025  # persons touched on every day of a 7-10 day campaign blitz
P_CONSENT = 0.85
P_UNSUBSCRIBE = 0.04  # of consenting persons, during their lifetime
P_WECOM_SINGLE = 0.7  # individual touch goes to WeCom 1:1 (else SMS) when both are possible
P_SEND_FAILED = 0.03
# Staff reply to a 1:1 inbound burst: within 2 h, late (2-20 h), never.
REPLY_MIX = np.array([0.92, 0.05, 0.03])
REPLY_FAST_MEAN_MIN = 25.0
TWO_YEARS_DAYS = 730

SCENARIOS = (
    "welcome_3d",
    "post_purchase_7d",
    "birthday",
    "member_day",
    "new_product",
    "ugc_topic",
    "recall",
    "promotion",
)
SCENARIO_MIX = np.array([0.08, 0.12, 0.0, 0.15, 0.20, 0.15, 0.10, 0.20])
CONTENT_TYPES = ("coupon", "article", "product", "live", "survey", "points")
CONTENT_MIX = np.array([0.30, 0.25, 0.20, 0.10, 0.05, 0.10])


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    campaign_id: str
    scenario: str
    channel: str  # "wecom" (campaign_sends, single) or "sms"
    window_frac: float  # send day = int(window_frac * days)
    control_content: str
    treatment_content: str
    control_rate: float  # true P(order within window_days after the send), control
    lift: float  # true absolute lift of treatment
    participation: float = 0.9  # share of eligible persons enrolled
    window_days: int = 7


EXPERIMENTS = (
    Experiment("exp_01", "cmp_exp_01", "recall", "wecom", 0.2, "article", "coupon", 0.12, 0.05),
    Experiment(
        "exp_02", "cmp_exp_02", "new_product", "wecom", 0.4, "article", "product", 0.15, 0.03
    ),
    Experiment("exp_03", "cmp_exp_03", "member_day", "sms", 0.6, "points", "coupon", 0.10, 0.04),
    Experiment("exp_04", "cmp_exp_04", "promotion", "wecom", 0.8, "article", "live", 0.18, 0.01),
)
# Each experiment holds three per-person arrays; a brand rarely runs more at once.
MAX_EXPERIMENTS = 20


def plan_experiments(count: int, sources: tuple[str, ...]) -> tuple[Experiment, ...]:
    """``count`` experiments sent at evenly spaced points of the window (k / (count + 1)).

    Experiment k repeats the design of ``EXPERIMENTS[k % 4]`` under the id ``exp_<k+1>``; one
    whose channel the brand lacks goes out on the other one (WeCom 1:1 <-> SMS). The default
    four are exactly ``EXPERIMENTS``. Empty without a CRM (SMS) or WeCom to send from.
    """
    channels = [c for c, source in (("wecom", "wecom"), ("sms", "crm")) if source in sources]
    if not channels:
        return ()
    planned = []
    for k in range(count):
        template = EXPERIMENTS[k % len(EXPERIMENTS)]
        planned.append(
            dataclasses.replace(
                template,
                experiment_id=f"exp_{k + 1:02d}",
                campaign_id=f"cmp_exp_{k + 1:02d}",
                channel=template.channel if template.channel in channels else channels[0],
                window_frac=(k + 1) / (count + 1),
            )
        )
    return tuple(planned)


# --- identifiers ------------------------------------------------------------------------------
JUNK_PHONE = "13800000000"
STORE_PHONES = ("13912345678", "18688886666", "15900001234")
PHONE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        155,
        156,
        157,
        158,
        159,
        166,
        176,
        177,
        178,
        180,
        181,
        182,
        183,
        185,
        186,
        187,
        188,
        189,
        198,
        199,
    ]
)
P_DUPLICATE_MEMBER = 0.01  # CRM persons registering a second member record with the same phone
UNLINKABLE_MAX = 0.003  # share of persons allowed to keep systems that no identifier links
P_PHONE_AUTH_MINI = 0.55  # mini-program users authorising getPhoneNumber (before link repair)
P_REMARK_MOBILE = 0.5  # WeCom contacts whose remark_mobiles holds the phone (before repair)

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤"
)
GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚英华玉萍红玲芬燕彬鹏辉婷雪琳晨浩宇欣怡轩涵诺远佳颖博文睿"
)
CITIES = (
    "上海",
    "北京",
    "广州",
    "深圳",
    "杭州",
    "成都",
    "重庆",
    "武汉",
    "南京",
    "西安",
    "苏州",
    "天津",
    "长沙",
    "郑州",
    "青岛",
    "厦门",
    "宁波",
    "合肥",
    "福州",
    "昆明",
)
CITY_MIX = np.array([14, 12, 9, 9, 8, 7, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 1.5, 1.5, 1, 1], float)
TIERS = ("普通会员", "银卡会员", "金卡会员", "钻石会员")
TIER_TAGS = ("普通", "银卡", "金卡", "钻石")
STAFF_NAMES = (
    "li",
    "wang",
    "zhang",
    "liu",
    "chen",
    "yang",
    "huang",
    "zhao",
    "wu",
    "zhou",
    "xu",
    "sun",
    "ma",
    "zhu",
    "hu",
    "guo",
    "he",
    "gao",
    "lin",
    "luo",
)
NICKNAMES = (
    "小鱼",
    "阳光",
    "Amy",
    "momo_88",
    "晴天",
    "Lucky",
    "木木",
    "糖糖",
    "Kevin",
    "一只猫",
    "安静的风",
    "Coco",
    "大白",
    "小七",
    "Jason",
    "落叶",
    "橙子",
    "麦兜",
    "Vivian",
    "阿杰",
)
INBOUND_TEXTS = (
    "请问这款还有货吗",
    "什么时候发货？",
    "优惠券怎么用",
    "谢谢",
    "我想退货",
    "会员积分怎么兑换",
    "门店几点关门",
    "这个适合敏感肌吗",
    "收到了，很喜欢",
    "能开发票吗",
    "生日礼什么时候发",
    "活动还有吗",
    "尺码偏大还是偏小",
    "好的",
    "在吗",
)
STAFF_TEXTS = (
    "您好，已为您查询，请稍等",
    "亲，今天下单明天就发货哦",
    "优惠券在会员中心领取后下单自动抵扣",
    "好的，已经帮您登记",
    "感谢您的支持！",
    "门店营业时间是10:00-22:00",
)
GROUP_TEXTS = (
    "大家好，今天的话题是#我的使用心得#",
    "有没有人试过新品？",
    "打卡",
    "求推荐",
    "晒单啦",
    "今天直播几点开始",
)
FEEDBACK_TEXTS = (
    "东西不错，物流很快",
    "包装有点破损,希望改进",
    '客服说"马上处理"，结果等了三天',
    "第一次买，\n整体满意",
    '"强烈推荐"给朋友了',
    "价格偏贵, 但是质量好",
    "门店店员很热情",
    "希望多一些优惠活动",
    '尺码不准，"L"码偏小,\n建议看详情页',
    "一般般",
    "会员日折扣力度很大，点赞",
)
PAGES = (
    "pages/index/index",
    "pages/goods/detail",
    "pages/cart/cart",
    "pages/share/share",
    "pages/coupon/center",
    "pages/task/list",
    "pages/review/edit",
    "pages/member/home",
)
EVENT_PAGE = np.array([0, 2, 3, 4, 5, 6])  # default page per event name
POINT_REASONS = ("消费", "签到", "兑换", "UGC奖励", "过期")
MINI_SCENES = np.array([1001, 1011, 1047, 1089, 1007, 1036])
COUPON_VALUES_CNY = np.unique(np.round(np.geomspace(5, 400, 400)))  # coupon cp_NNNN is worth this


SOURCES = ("crm", "wecom", "miniprogram")


@dataclass(frozen=True)
class BrandShape:
    """Which systems the brand has and what it does with them (``siyu generate --sources``,
    ``--experiments``, ``--no-interactions``). The default is the full three-system brand.

    ``sources``: the systems the brand runs, hence the only extracts written. Registration
    channels are those of the brand's systems (store and online mall need the CRM, the
    mini-program channel the mini-program, the WeCom channel WeCom), so every person is present
    in some written extract. ``interactions=False``: the brand sends nothing and keeps no
    interaction logs (no SMS sends, WeCom messages or campaign sends, mini-program events; no
    check-in or UGC points): members, contacts, groups, users, orders, purchase points and
    feedback only. ``experiments``: how many A/B tests run (None: the four of ``EXPERIMENTS``
    when the brand can send at all, else 0).
    """

    sources: tuple[str, ...] = SOURCES
    experiments: int | None = None
    interactions: bool = True

    def __post_init__(self):
        sources = tuple(self.sources)
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown or not sources:
            raise ValueError(
                f"sources must be a non-empty subset of {', '.join(SOURCES)}; "
                f"got {', '.join(sources) or 'none'}"
            )
        object.__setattr__(self, "sources", tuple(s for s in SOURCES if s in sources))
        can_send = self.interactions and ("crm" in sources or "wecom" in sources)
        if self.experiments is None:
            object.__setattr__(self, "experiments", len(EXPERIMENTS) if can_send else 0)
        if not 0 <= self.experiments <= MAX_EXPERIMENTS:
            raise ValueError(f"experiments must be 0..{MAX_EXPERIMENTS}, got {self.experiments}")
        if self.experiments and not can_send:
            why = (
                "no interactions are sent"
                if not self.interactions
                else "the brand has neither a CRM (SMS) nor WeCom to send from"
            )
            raise ValueError(
                f"{self.experiments} experiments asked for, but {why}: "
                "use experiments=0 (--experiments 0)"
            )

    def has(self, source: str) -> bool:
        return source in self.sources

    def describe(self) -> str:
        return (
            f"sources {','.join(self.sources)}; experiments {self.experiments}; "
            f"interactions {'yes' if self.interactions else 'no'}"
        )


@dataclass(frozen=True)
class MessConfig:
    """Rates of the deliberate mess in the extracts (defaults match datagen/FORMATS.md).

    Rates are per row unless the name says per file. ``MessConfig.off()`` gives clean extracts:
    plain phones, every unionid present, no duplicates, resends, late rows or junk phones,
    every CRM file UTF-8.
    """

    messy_phone_rate: float = 0.40  # phones not written as plain 11 digits
    wecom_unionid_missing_rate: float = 0.05  # WeCom contacts without unionid
    miniprogram_unionid_unbound_rate: float = 0.30  # mini-program users that never bind
    duplicate_row_rate: float = 0.01  # exact duplicate rows inside a file
    resend_file_rate: float = 0.02  # files delivered again next day as <entity>_resend.<ext>
    late_row_rate: float = 0.02  # events/orders exported 1..late_max_days later
    late_max_days: int = 3
    junk_phone_rate: float = 0.015  # CRM members typed with 13800000000
    store_phone_rate: float = 0.008  # CRM members typed with each of the STORE_PHONES
    crm_gbk_share: float = 0.30  # CRM files in GBK
    crm_utf8_bom_share: float = 0.40  # CRM files in UTF-8 with BOM (rest UTF-8)
    alt_time_format_rate: float = 0.10  # 注册时间 written as `2026/5/1 13:45`

    @classmethod
    def off(cls) -> MessConfig:
        return cls(
            **{f.name: (3 if f.name == "late_max_days" else 0.0) for f in dataclasses.fields(cls)}
        )
