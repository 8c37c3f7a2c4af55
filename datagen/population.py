"""The latent population: who each person is, which systems they use, when they churn.

Everything here is drawn once per run (vectorised, from one seeded generator); the daily
simulation in :mod:`datagen.activity` only reads it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from datagen import config, ids

DAY_MS = 86_400_000
TZ_OFFSET_MS = 8 * 3_600_000  # Asia/Shanghai, no DST


def local_midnight_ms(epoch_day: np.ndarray | int) -> np.ndarray | int:
    """Epoch ms (UTC) of local midnight at the start of ``epoch_day`` (days since 1970-01-01)."""
    return np.asarray(epoch_day, dtype=np.int64) * DAY_MS - TZ_OFFSET_MS


@dataclass
class Population:
    n: int
    days: int
    start: dt.date
    start_epoch_day: int
    # per person ------------------------------------------------------------------------------
    person_ids: pa.Array
    arrival: np.ndarray  # day index of registration (first seen)
    arrival_ms: np.ndarray
    channel: np.ndarray
    persona: np.ndarray
    hazard: np.ndarray  # effective daily churn probability
    churn_day: np.ndarray  # last active day index (may be >= days)
    activity: np.ndarray  # person-level multiplier of session and order rates
    touches_ind: np.ndarray  # expected individual touches per week (0 if unreachable)
    touches_total: np.ndarray  # individual + customer-group sends per week
    consent: np.ndarray
    unsub_day: np.ndarray  # -1 = never
    unsub_ms: np.ndarray
    crm_day: np.ndarray  # -1 = no such system
    wecom_day: np.ndarray
    mini_day: np.ndarray
    crm_ms: np.ndarray
    wecom_ms: np.ndarray
    mini_ms: np.ndarray
    wecom_unionid: np.ndarray  # bool: unionid written on the WeCom contact
    remark_mobile: np.ndarray  # bool: phone in remark_mobiles
    mini_unionid: np.ndarray
    mini_phone_day: np.ndarray  # day the phone was authorised, -1 never
    order_pref_crm: np.ndarray
    city: np.ndarray
    tier: np.ndarray
    gender: np.ndarray
    name_idx: np.ndarray
    nick_idx: np.ndarray
    store_idx: np.ndarray  # -1 = online
    staff: np.ndarray
    birth_md: np.ndarray  # month*100+day, -1 unknown
    birthday_str: pa.Array  # 'YYYY-MM-DD' or ''
    burst_start: np.ndarray
    burst_len: np.ndarray
    phone: np.ndarray  # int64 true phone
    phone11: pa.Array
    external_userid: pa.Array
    openid: pa.Array
    unionid: pa.Array
    unlinkable: np.ndarray  # bool: systems left without any linking identifier
    # member records (a person may have two) ------------------------------------------------
    mem_person: np.ndarray
    mem_day: np.ndarray
    mem_ms: np.ndarray
    mem_id: pa.Array
    mem_phone11: pa.Array  # the phone typed on the record (junk phones included)
    mem_junk: np.ndarray  # bool
    primary_mem: np.ndarray  # per person index into mem_*, -1 if no CRM
    # customer groups --------------------------------------------------------------------------
    gm_person: np.ndarray
    gm_group: np.ndarray
    gm_day: np.ndarray
    gm_ms: np.ndarray
    group_day: np.ndarray  # day the group was created (first join)
    group_owner: np.ndarray
    chat_ids: pa.Array
    staff_ids: list[str]
    # experiments --------------------------------------------------------------------------------
    exp_send_day: np.ndarray  # per experiment, -1 = not run (window does not fit)
    exp_variant: np.ndarray  # (n_exp, n) -1 none, 0 control, 1 treatment
    exp_send_ms: np.ndarray  # (n_exp, n)
    exp_conv_ms: np.ndarray  # (n_exp, n) planted order time, -1 none
    names: list[str] = field(default_factory=list)
    shape: config.BrandShape = field(default_factory=config.BrandShape)
    experiments: tuple[config.Experiment, ...] = config.EXPERIMENTS  # exp_* arrays' rows
    activation: object | None = None  # datagen.plants_activation.ActivationPlan, set by generate


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _delay_within(rng, base_day, limit_day, p_same=0.4, p_geom=0.2):
    """A later day for joining a second system; the same day when it would not fit."""
    delay = np.where(rng.random(len(base_day)) < p_same, 0, rng.geometric(p_geom, len(base_day)))
    day = base_day + delay
    return np.where(day > limit_day, base_day, day)


def _ms_on_or_after(rng, day, after_ms, start_epoch_day):
    """A random time on local ``day`` no earlier than ``after_ms`` (when on the same day)."""
    day_start = local_midnight_ms(start_epoch_day + day)
    lo = np.maximum(day_start, after_ms + 60_000)
    hi = day_start + DAY_MS - 1000
    lo = np.minimum(lo, hi)
    return lo + (rng.random(len(day)) * (hi - lo)).astype(np.int64)


def time_of_day_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Local time of day in ms, busy at lunch and in the evening."""
    w = np.array(
        [
            1,
            0.5,
            0.3,
            0.2,
            0.2,
            0.3,
            0.8,
            1.5,
            2.5,
            3.5,
            4.5,
            5,
            6,
            5,
            4.5,
            4.5,
            4.5,
            5,
            5.5,
            7,
            8,
            7.5,
            5,
            2.5,
        ]
    )
    hour = rng.choice(24, size=n, p=w / w.sum())
    return hour.astype(np.int64) * 3_600_000 + rng.integers(0, 3_600_000, size=n)


def build_population(
    persons: int,
    days: int,
    start: dt.date,
    seed: int,
    mess: config.MessConfig,
    shape: config.BrandShape | None = None,
) -> Population:
    """Draw every person of the run. ``shape`` limits the brand's systems (a person only has
    the systems the brand runs, and registers through one of them), whether it sends anything,
    and its experiments; the default shape draws exactly what it always did."""
    shape = config.BrandShape() if shape is None else shape
    rng = np.random.default_rng([seed, 0])
    n = persons
    start_epoch_day = (start - dt.date(1970, 1, 1)).days
    last = days - 1

    # --- arrivals: weekly pattern and a mild trend per channel --------------------------------
    dow = (np.arange(days) + start.weekday()) % 7
    t = np.arange(days) / max(days - 1, 1)
    # a brand registers persons only through channels of the systems it runs
    channel_open = np.array(
        [shape.has("crm"), shape.has("crm"), shape.has("miniprogram"), shape.has("wecom")],
        dtype=float,
    )
    w = (
        config.CHANNEL_MIX[None, :]
        * config.CHANNEL_WEEKLY[:, dow].T
        * (1 + config.CHANNEL_TREND[None, :] * t[:, None])
        * channel_open[None, :]
    )
    cell = rng.choice(days * 4, size=n, p=(w / w.sum()).ravel())
    arrival_raw, channel_raw = cell // 4, cell % 4
    tod = time_of_day_ms(rng, n)
    order = np.lexsort((tod, arrival_raw))
    arrival = arrival_raw[order].astype(np.int64)
    channel = channel_raw[order].astype(np.int8)
    arrival_ms = local_midnight_ms(start_epoch_day + arrival) + tod[order]

    persona = rng.choice(4, size=n, p=config.PERSONA_MIX).astype(np.int8)
    activity = rng.gamma(4.0, 0.25, size=n)

    # --- systems ----------------------------------------------------------------------------
    has_crm = rng.random(n) < config.P_HAS_CRM[channel]
    has_wecom = rng.random(n) < config.P_HAS_WECOM[channel]
    has_mini = rng.random(n) < config.P_HAS_MINI[channel]
    has_crm &= shape.has("crm")
    has_wecom &= shape.has("wecom")
    has_mini |= ~has_crm  # everyone can order somewhere (when the brand has a mini-program)
    has_mini &= shape.has("miniprogram")
    consent = rng.random(n) < config.P_CONSENT

    # --- touches and churn ----------------------------------------------------------------------
    # a brand without interactions sends nothing: no individual or group touches, no blitz,
    # so the hazard is the zero-touch one
    reachable = consent & (has_crm | has_wecom) & shape.interactions
    group_sends_per_week = config.GROUP_SENDS_PER_WEEK if shape.interactions else 0.0
    touches_ind = np.clip(
        rng.gamma(config.TOUCH_SHAPE, config.TOUCH_SCALE, size=n)
        * config.TOUCH_PERSONA_FACTOR[persona],
        0,
        config.TOUCH_MAX,
    )
    touches_ind = np.where(reachable, touches_ind, 0.0)
    n_groups = np.where(
        has_wecom & (rng.random(n) < config.P_JOIN_GROUP[persona]),
        1 + (rng.random(n) < config.P_SECOND_GROUP),
        0,
    )
    touches_total = touches_ind + n_groups * group_sends_per_week
    effective = np.minimum(
        config.TOUCH_CAP,
        np.minimum(touches_total, config.TOUCH_KNEE)
        + config.TOUCH_TAIL * np.maximum(touches_total - config.TOUCH_KNEE, 0),
    )
    hazard = np.clip(
        config.BASE_HAZARD[persona]
        * rng.lognormal(0.0, config.HAZARD_SIGMA, size=n)
        * np.exp(-config.TOUCH_BETA * effective),
        1e-5,
        0.5,
    )
    churn_day = arrival + rng.geometric(hazard) - 1
    limit = np.minimum(churn_day, last)

    # --- system join days -------------------------------------------------------------------------
    first_is = [channel <= 1, channel == 3, channel == 2]  # crm, wecom, mini
    sys_days, sys_ms = [], []
    for has, first in zip((has_crm, has_wecom, has_mini), first_is, strict=True):
        day = np.where(first, arrival, _delay_within(rng, arrival, limit))
        ms = np.where(first, arrival_ms, _ms_on_or_after(rng, day, arrival_ms, start_epoch_day))
        sys_days.append(np.where(has, day, -1))
        sys_ms.append(np.where(has, ms, -1))
    crm_day, wecom_day, mini_day = sys_days
    crm_ms, wecom_ms, mini_ms = sys_ms

    # --- linking identifiers, then repair so almost everyone is one component ---------------------
    wecom_unionid = has_wecom & (rng.random(n) >= mess.wecom_unionid_missing_rate)
    mini_unionid = has_mini & (rng.random(n) >= mess.miniprogram_unionid_unbound_rate)
    remark_mobile = has_wecom & (rng.random(n) < config.P_REMARK_MOBILE)
    mini_phone = has_mini & (rng.random(n) < config.P_PHONE_AUTH_MINI)

    def connected():
        cw = remark_mobile & has_crm
        cm = mini_phone & has_crm
        wm = (wecom_unionid & mini_unionid) | (remark_mobile & mini_phone)
        n_sys = has_crm.astype(int) + has_wecom + has_mini
        n_edges = cw.astype(int) + cm + wm
        return (n_sys <= 1) | (n_edges >= n_sys - 1)

    ok = connected()
    broken = np.flatnonzero(~ok)
    keep_broken = broken[rng.random(len(broken)) < config.UNLINKABLE_MAX * n / max(len(broken), 1)]
    repair = np.setdiff1d(broken, keep_broken)
    remark_mobile[repair] |= has_wecom[repair]
    mini_phone[repair] |= has_mini[repair]
    unlinkable = np.zeros(n, dtype=bool)
    unlinkable[keep_broken] = True
    mini_phone_day = np.where(
        mini_phone,
        np.where(rng.random(n) < 0.6, mini_day, _delay_within(rng, mini_day, limit, 0.0, 0.2)),
        -1,
    )

    # --- consent, unsubscribe, demographics ----------------------------------------------------------
    # unsubscribing happens after the person joined all their systems, before churning
    joined_all = np.maximum(np.maximum(crm_day, wecom_day), mini_day)
    unsub = consent & (rng.random(n) < config.P_UNSUBSCRIBE) & (limit > joined_all)
    span = np.maximum(limit - joined_all, 1)
    unsub_day = np.where(unsub, joined_all + 1 + (rng.random(n) * span).astype(np.int64), -1)
    unsub_day = np.where(unsub_day > limit, -1, unsub_day)
    unsub_ms = np.where(
        unsub_day >= 0, local_midnight_ms(start_epoch_day + unsub_day) + time_of_day_ms(rng, n), -1
    )
    city = rng.choice(len(config.CITIES), size=n, p=config.CITY_MIX / config.CITY_MIX.sum())
    tier = _choice_rows(rng, config.TIER_MIX[persona])
    gender = rng.integers(1, 3, size=n)
    name_pool = [s + g for s in config.SURNAMES for g in config.GIVEN]
    name_pool += [
        s + g + h
        for s in config.SURNAMES[:20]
        for g in config.GIVEN[:25]
        for h in config.GIVEN[25:]
    ]
    name_idx = rng.integers(0, len(name_pool), size=n)
    nick_idx = rng.integers(0, len(config.NICKNAMES) + 50, size=n)  # >= len: use the name
    store_idx = np.where(channel == 1, -1, city * 3 + rng.integers(0, 3, size=n))
    n_staff = max(5, n // 400)
    staff_ids = [
        f"staff_{config.STAFF_NAMES[i % 20]}{'' if i < 20 else i // 20 + 1}" for i in range(n_staff)
    ]
    staff = rng.integers(0, n_staff, size=n)
    has_birth = rng.random(n) < 0.8
    birth = (np.datetime64("1966-01-01") + rng.integers(0, 40 * 365, size=n)).astype(
        "datetime64[D]"
    )
    birth_str = np.where(has_birth, birth.astype(str), "")
    months = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mday = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    birth_md = np.where(has_birth, months * 100 + mday, -1)
    order_pref_crm = rng.uniform(0.2, 0.8, size=n)
    burst = reachable & (rng.random(n) < config.P_BURST)
    burst_start = np.where(burst, arrival + (rng.random(n) * (last - arrival + 1)).astype(int), -1)
    burst_len = rng.integers(7, 11, size=n)

    # --- identifiers ----------------------------------------------------------------------------------
    width = max(6, len(str(n)))
    person_ids = ids.padded(np.arange(1, n + 1), width)
    person_ids = pa.compute.binary_join_element_wise(pa.scalar("P"), person_ids, "")
    phone = ids.unique_phones(rng, n)
    phone11 = ids.phone_strings(phone)
    external_userid = ids.random_ids(rng, n, "wm", 30)
    openid = ids.random_ids(rng, n, "o", 27)
    unionid = ids.random_ids(rng, n, "oU", 26)

    # --- CRM member records: duplicates and junk phones ----------------------------------------------
    crm_people = np.flatnonzero(has_crm)
    crm_only = has_crm & ~has_wecom & ~has_mini
    junk_code = np.zeros(n, dtype=np.int8)  # 0 real, 1 = 13800000000, 2.. = store phones
    candidates = rng.permutation(np.flatnonzero(crm_only))
    n_crm = len(crm_people)
    counts = [int(round(mess.junk_phone_rate * n_crm))]
    counts += [int(round(mess.store_phone_rate * n_crm))] * len(config.STORE_PHONES)
    pos = 0
    for code, c in enumerate(counts, start=1):
        take = candidates[pos : pos + c]
        junk_code[take] = code
        pos += len(take)
    dup = has_crm & (junk_code == 0) & (rng.random(n) < config.P_DUPLICATE_MEMBER)
    dup_day = crm_day + rng.integers(1, 31, size=n)
    dup &= dup_day <= limit
    dup_people = np.flatnonzero(dup)
    dup_ms = _ms_on_or_after(rng, dup_day[dup_people], crm_ms[dup_people], start_epoch_day)
    mem_person = np.concatenate([crm_people, dup_people])
    mem_day = np.concatenate([crm_day[crm_people], dup_day[dup_people]])
    mem_ms = np.concatenate([crm_ms[crm_people], dup_ms])
    order_m = np.lexsort((mem_person, mem_ms))
    mem_person, mem_day, mem_ms = mem_person[order_m], mem_day[order_m], mem_ms[order_m]
    mem_id = pa.compute.binary_join_element_wise(
        pa.scalar("M"), ids.padded(np.arange(len(mem_person)) + 1001, 7), ""
    )
    junk_values = np.array([config.JUNK_PHONE, *config.STORE_PHONES])
    mem_junk_code = junk_code[mem_person]
    mem_phone_np = np.where(
        mem_junk_code > 0,
        junk_values[np.maximum(mem_junk_code - 1, 0)],
        phone[mem_person].astype(str),
    )
    # the earlier record of a person is the primary one (records are sorted by time)
    is_primary = np.zeros(len(mem_person), dtype=bool)
    is_primary[np.unique(mem_person, return_index=True)[1]] = True
    primary_mem = np.full(n, -1, dtype=np.int64)
    primary_mem[mem_person[is_primary]] = np.flatnonzero(is_primary)

    # --- customer groups ------------------------------------------------------------------------------
    members1 = np.flatnonzero(n_groups >= 1)
    n_grp = max(1, int(np.ceil(len(members1) * (1 + config.P_SECOND_GROUP) / config.GROUP_SIZE)))
    members2 = np.flatnonzero(n_groups >= 2) if n_grp > 1 else np.zeros(0, dtype=np.int64)
    g1 = rng.integers(0, n_grp, size=len(members1))
    g2_first = g1[np.searchsorted(members1, members2)]
    g2 = (g2_first + 1 + rng.integers(0, max(n_grp - 1, 1), size=len(members2))) % n_grp
    gm_person = np.concatenate([members1, members2])
    gm_group = np.concatenate([g1, g2]).astype(np.int64)
    gm_day = _delay_within(rng, wecom_day[gm_person], limit[gm_person], 0.5, 0.15)
    gm_ms = _ms_on_or_after(rng, gm_day, wecom_ms[gm_person], start_epoch_day)
    group_day = np.full(n_grp, days, dtype=np.int64)
    np.minimum.at(group_day, gm_group, gm_day)
    group_owner = rng.integers(0, n_staff, size=n_grp)
    chat_ids = ids.random_ids(rng, n_grp, "wr", 30)

    # --- experiments ------------------------------------------------------------------------------------
    experiments = config.plan_experiments(shape.experiments, shape.sources)
    n_exp = len(experiments)
    exp_send_day = np.full(n_exp, -1, dtype=np.int64)
    exp_variant = np.full((n_exp, n), -1, dtype=np.int8)
    exp_send_ms = np.full((n_exp, n), -1, dtype=np.int64)
    exp_conv_ms = np.full((n_exp, n), -1, dtype=np.int64)
    busy_until = np.full(n, -1, dtype=np.int64)
    for e, ex in enumerate(experiments):
        d = int(ex.window_frac * days)
        if d + ex.window_days > days or d < 1:
            continue
        exp_send_day[e] = d
        sys_day = wecom_day if ex.channel == "wecom" else crm_day
        eligible = (
            (sys_day >= 0)
            & (sys_day < d)
            & consent
            & ((unsub_day < 0) | (unsub_day > d))
            & (churn_day >= d + ex.window_days - 1)
            & (busy_until < d)
        )
        chosen = np.flatnonzero(eligible & (rng.random(n) < ex.participation))
        variant = (rng.random(len(chosen)) < 0.5).astype(np.int8)
        exp_variant[e, chosen] = variant
        send_ms = (
            local_midnight_ms(start_epoch_day + d)
            + 10 * 3_600_000
            + rng.integers(0, 3_600_000, size=len(chosen))
        )
        exp_send_ms[e, chosen] = send_ms
        converts = rng.random(len(chosen)) < ex.control_rate + ex.lift * variant
        offset = rng.integers(0, ex.window_days, size=len(chosen))
        conv_day_start = local_midnight_ms(start_epoch_day + d + offset)
        conv_ms = np.where(
            offset == 0,
            send_ms + rng.integers(600_000, 36_000_000, len(chosen)),
            conv_day_start + time_of_day_ms(rng, len(chosen)),
        )
        exp_conv_ms[e, chosen] = np.where(converts, conv_ms, -1)
        busy_until[chosen] = d + ex.window_days - 1

    return Population(
        n=n,
        days=days,
        start=start,
        start_epoch_day=start_epoch_day,
        person_ids=person_ids,
        arrival=arrival,
        arrival_ms=arrival_ms,
        channel=channel,
        persona=persona,
        hazard=hazard,
        churn_day=churn_day,
        activity=activity,
        touches_ind=touches_ind,
        touches_total=touches_total,
        consent=consent,
        unsub_day=unsub_day,
        unsub_ms=unsub_ms,
        crm_day=crm_day,
        wecom_day=wecom_day,
        mini_day=mini_day,
        crm_ms=crm_ms,
        wecom_ms=wecom_ms,
        mini_ms=mini_ms,
        wecom_unionid=wecom_unionid,
        remark_mobile=remark_mobile,
        mini_unionid=mini_unionid,
        mini_phone_day=mini_phone_day,
        order_pref_crm=order_pref_crm,
        city=city,
        tier=tier,
        gender=gender,
        name_idx=name_idx,
        nick_idx=nick_idx,
        store_idx=store_idx,
        staff=staff,
        birth_md=birth_md,
        birthday_str=pa.array(birth_str),
        burst_start=burst_start,
        burst_len=burst_len,
        phone=phone,
        phone11=phone11,
        external_userid=external_userid,
        openid=openid,
        unionid=unionid,
        unlinkable=unlinkable,
        mem_person=mem_person,
        mem_day=mem_day,
        mem_ms=mem_ms,
        mem_id=mem_id,
        mem_phone11=pa.array(mem_phone_np),
        mem_junk=mem_junk_code > 0,
        primary_mem=primary_mem,
        gm_person=gm_person,
        gm_group=gm_group,
        gm_day=gm_day,
        gm_ms=gm_ms,
        group_day=group_day,
        group_owner=group_owner,
        chat_ids=chat_ids,
        staff_ids=staff_ids,
        exp_send_day=exp_send_day,
        exp_variant=exp_variant,
        exp_send_ms=exp_send_ms,
        exp_conv_ms=exp_conv_ms,
        names=name_pool,
        shape=shape,
        experiments=experiments,
    )
