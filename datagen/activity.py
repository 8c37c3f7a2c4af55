"""One simulated day: what every person and the brand did, as column arrays per entity.

A batch is a ``dict[str, np.ndarray]`` of equal-length columns; :mod:`datagen.writers` turns it
into the landing file. Times are epoch milliseconds (UTC); day indices count from the start date.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from datagen import config, plants_activation, plants_intent
from datagen.population import DAY_MS, Population, local_midnight_ms, time_of_day_ms

Batch = dict[str, np.ndarray]

ENTITIES = (
    ("crm", "members"),
    ("crm", "orders"),
    ("crm", "points"),
    ("crm", "feedback"),
    ("crm", "sms_sends"),
    ("wecom", "external_contacts"),
    ("wecom", "group_members"),
    ("wecom", "messages"),
    ("wecom", "campaign_sends"),
    ("miniprogram", "users"),
    ("miniprogram", "events"),
    ("miniprogram", "orders"),
)
# The logs of touches and inbound actions: a brand without interactions has none of them.
INTERACTION_ENTITIES = frozenset(
    {
        ("crm", "sms_sends"),
        ("wecom", "messages"),
        ("wecom", "campaign_sends"),
        ("miniprogram", "events"),
    }
)
KIND_WECOM_SINGLE, KIND_GROUP, KIND_SMS = 0, 1, 2


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


EVENT_CUM = np.cumsum(config.EVENT_MIX, axis=1)
IS_UGC_EVENT = np.isin(np.arange(len(config.EVENT_NAMES)), (2, 4, 5))
_PLANTED: dict[int, list] = {}


def _choice_by_persona(u: np.ndarray, persona: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Category per row: the number of entries of ``cum[persona]`` below ``u`` (capped)."""
    out = np.empty(len(u), dtype=np.int64)
    for p in range(len(cum)):
        m = persona == p
        out[m] = np.searchsorted(cum[p], u[m], side="left")
    return np.minimum(out, cum.shape[1] - 1)


def _planted_orders(pop: Population) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per experiment: planted order times (sorted) and their persons (cached per population)."""
    key = id(pop)
    if key not in _PLANTED or _PLANTED[key][0] is not pop:
        per_exp = []
        for conv in pop.exp_conv_ms:
            who = np.flatnonzero(conv >= 0)
            order = np.argsort(conv[who], kind="stable")
            per_exp.append((conv[who][order], who[order]))
        _PLANTED.clear()
        _PLANTED[key] = (pop, per_exp)
    return _PLANTED[key][1]


def _seq(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n, d, dtype=np.int64), np.arange(n, dtype=np.int64)


def simulate_day(pop: Population, d: int, seed: int) -> dict[tuple[str, str], Batch]:
    rng = np.random.default_rng([seed, 1, d])
    day0 = int(local_midnight_ms(pop.start_epoch_day + d))
    interactions = pop.shape.interactions
    out: dict[tuple[str, str], Batch] = {}

    registered = int(np.searchsorted(pop.arrival, d, side="right"))  # persons sorted by arrival
    alive = np.flatnonzero(pop.churn_day[:registered] >= d)
    persona = pop.persona[alive]
    age = d - pop.arrival[alive]
    novelty = 1 + config.NOVELTY_BOOST * np.exp(-age / config.NOVELTY_DAYS)

    # --- sessions: mini-program events, WeCom inbound messages, CRM check-ins ------------------------
    lift = 1 + config.SESSION_LIFT_PER_TOUCH * np.minimum(
        pop.touches_total[alive], config.TOUCH_CAP
    )
    p_sess = np.minimum(config.P_SESSION[persona] * pop.activity[alive] * novelty * lift, 0.9)
    p_sess[age == 0] = 1.0
    # sessions are interactions (events, messages, check-ins): none without them
    sess = alive[(rng.random(len(alive)) < p_sess) & interactions]
    sess_start = day0 + time_of_day_ms(rng, len(sess))
    sess_start = plants_activation.session_starts(pop, sess, sess_start, day0, d)
    on_mini = (pop.mini_day[sess] >= 0) & (pop.mini_day[sess] <= d)
    # on the registration day activity starts after the registration itself
    first_ms = np.where(pop.mini_day[sess] == d, pop.mini_ms[sess], day0)
    ev_people, ev_start = sess[on_mini], np.maximum(sess_start, first_ms)[on_mini]
    n_ev = 1 + rng.poisson(config.EVENTS_PER_SESSION[pop.persona[ev_people]])
    ev_person = np.repeat(ev_people, n_ev)
    gap = rng.exponential(40_000, size=len(ev_person)).astype(np.int64)
    csum = np.cumsum(gap)
    ev_ms = np.repeat(ev_start, n_ev) + csum - np.repeat(csum[np.cumsum(n_ev) - n_ev], n_ev)
    ev_ms = np.minimum(ev_ms, day0 + DAY_MS - 1)
    ev_persona = pop.persona[ev_person]
    ev_name = _choice_by_persona(rng.random(len(ev_person)), ev_persona, EVENT_CUM)
    is_claim = ev_name == 3
    u_depth = rng.random(len(ev_person))[is_claim]
    claim_persona = ev_persona[is_claim]
    depth = config.DISCOUNT_DEPTH[claim_persona]
    wanted = (depth[:, 0] + u_depth * (depth[:, 1] - depth[:, 0])) * config.ORDER_MEAN_CNY[
        claim_persona
    ]  # coupon value in CNY
    values = config.COUPON_VALUES_CNY
    ev_coupon = np.full(len(ev_person), -1, dtype=np.int64)
    ev_coupon[is_claim] = np.minimum(np.searchsorted(values, wanted), len(values) - 1)
    ugc = IS_UGC_EVENT[ev_name]
    ev_scen = np.where(ugc, np.where(ev_name == 2, 5, rng.integers(3, 8, len(ev_person))), -1)
    page = config.EVENT_PAGE[ev_name]
    browse = (ev_name == 0) & (rng.random(len(ev_person)) < 0.5)
    page = np.where(browse, 1, page)
    ev_day, ev_seq = _seq(len(ev_person), d)
    out[("miniprogram", "events")] = dict(
        day=ev_day,
        seq=ev_seq,
        person=ev_person,
        name=ev_name,
        ms=ev_ms,
        page=page,
        coupon=ev_coupon,
        scenario=ev_scen,
    )

    # WeCom inbound bursts (1:1 or in a customer group) and the staff reply
    on_wecom = (pop.wecom_day[sess] >= 0) & (pop.wecom_day[sess] <= d)
    talk = on_wecom & (rng.random(len(sess)) < config.P_INBOUND_MSG[pop.persona[sess]])
    talkers = sess[talk]
    t_start = np.maximum(sess_start[talk], pop.wecom_ms[talkers] + 60_000)
    t_start = np.minimum(t_start, day0 + DAY_MS - 600_000)
    # a group chat only in a group the person is already in
    gm_ok = pop.gm_day <= d
    person_group = np.full(pop.n, -1, dtype=np.int64)
    person_group[pop.gm_person[gm_ok]] = pop.gm_group[gm_ok]
    room = np.where(
        rng.random(len(talkers)) < config.P_GROUP_MSG[pop.persona[talkers]],
        person_group[talkers],
        -1,
    )
    n_msg = 1 + rng.poisson(config.MSGS_PER_BURST, size=len(talkers))
    in_person = np.repeat(talkers, n_msg)
    in_ms = np.repeat(t_start, n_msg) + rng.integers(0, 300_000, size=len(in_person))
    in_room = np.repeat(room, n_msg)
    in_text = rng.integers(0, len(config.INBOUND_TEXTS), size=len(in_person))
    in_text = np.where(
        in_room >= 0, rng.integers(0, len(config.GROUP_TEXTS), len(in_person)), in_text
    )
    # one reply per 1:1 burst, timed from its last message
    single = room < 0
    burst_end = (
        np.maximum.reduceat(in_ms, np.cumsum(n_msg) - n_msg)
        if len(talkers)
        else np.zeros(0, dtype=np.int64)
    )
    kind = np.minimum((rng.random(len(talkers))[:, None] > np.cumsum(config.REPLY_MIX)).sum(1), 2)
    delay = np.where(
        kind == 0,
        np.minimum(
            rng.exponential(config.REPLY_FAST_MEAN_MIN * 60_000, len(talkers)), 110 * 60_000
        ),
        rng.uniform(2.05 * 3_600_000, 20 * 3_600_000, len(talkers)),
    ).astype(np.int64)
    replied = single & (kind < 2)
    rep_person = talkers[replied]
    rep_ms = burst_end[replied] + delay[replied]
    n_in, n_rep = len(in_person), len(rep_person)
    msg_day, msg_seq = _seq(n_in + n_rep, d)
    out[("wecom", "messages")] = dict(
        day=msg_day,
        seq=msg_seq,
        from_staff=np.concatenate([np.zeros(n_in, bool), np.ones(n_rep, bool)]),
        person=np.concatenate([in_person, rep_person]),
        staff=pop.staff[np.concatenate([in_person, rep_person])],
        room=np.concatenate([in_room, np.full(n_rep, -1)]),
        ms=np.concatenate([in_ms, rep_ms]),
        text=np.concatenate([in_text, rng.integers(0, len(config.STAFF_TEXTS), n_rep)]),
        # the planted intent's text of each inbound message (its own stream; -1: staff reply)
        intent_text=np.concatenate(
            [
                plants_intent.plant_inbound_texts(pop, d, seed, in_person, in_room),
                np.full(n_rep, -1),
            ]
        ),
    )

    # CRM check-in points on a session day
    on_crm_sess = (pop.crm_day[sess] >= 0) & (pop.crm_day[sess] <= d)
    ci_mask = on_crm_sess & (rng.random(len(sess)) < config.P_CHECKIN)
    checkin = sess[ci_mask]
    checkin_ms = np.maximum(sess_start[ci_mask], pop.crm_ms[checkin] + 60_000)
    # UGC reward points for reviews by CRM members
    rev = ev_person[ev_name == 5]
    rev_ms = ev_ms[ev_name == 5]
    rev_ok = (pop.crm_day[rev] >= 0) & (pop.crm_day[rev] <= d)
    rev, rev_ms = rev[rev_ok], np.minimum(rev_ms[rev_ok] + 300_000, day0 + DAY_MS - 1)

    # --- orders ------------------------------------------------------------------------------------------
    p_order = config.P_ORDER[persona] * pop.activity[alive]
    in_window = np.zeros(len(alive), dtype=bool)
    for e, ex in enumerate(pop.experiments):
        sd = pop.exp_send_day[e]
        if sd >= 0 and sd <= d < sd + ex.window_days:
            in_window |= pop.exp_variant[e, alive] >= 0
    buyers = alive[(rng.random(len(alive)) < p_order) & ~in_window]
    buy_ms = day0 + time_of_day_ms(rng, len(buyers))
    planted, planted_ms = [], []
    for e, (conv_sorted, conv_person) in enumerate(_planted_orders(pop)):
        lo, hi = np.searchsorted(conv_sorted, [day0, day0 + DAY_MS])
        hit = np.sort(conv_person[lo:hi])
        planted.append(hit)
        planted_ms.append(pop.exp_conv_ms[e][hit])
    buyers = np.concatenate([buyers, *planted])
    buy_ms = np.concatenate([buy_ms, *planted_ms])
    crm_ok = (pop.crm_day[buyers] >= 0) & (pop.crm_day[buyers] <= d)
    mini_ok = (pop.mini_day[buyers] >= 0) & (pop.mini_day[buyers] <= d)
    use_crm = crm_ok & (~mini_ok | (rng.random(len(buyers)) < pop.order_pref_crm[buyers]))
    use_mini = ~use_crm & mini_ok
    sys_ms = np.where(use_crm, pop.crm_ms[buyers], pop.mini_ms[buyers])
    buy_ms = np.minimum(np.maximum(buy_ms, sys_ms + 120_000), day0 + DAY_MS - 1)
    bp = pop.persona[buyers]
    gross = (
        np.exp(
            np.log(config.ORDER_MEAN_CNY[bp])
            + config.ORDER_SIGMA * rng.standard_normal(len(buyers))
        )
        * 100
    )
    coupon = rng.random(len(buyers)) < config.P_COUPON[bp]
    depth = config.DISCOUNT_DEPTH[bp]
    frac = depth[:, 0] + rng.random(len(buyers)) * (depth[:, 1] - depth[:, 0])
    discount = np.where(coupon, np.round(gross * frac / 100) * 100, 0).astype(np.int64)
    paid = np.maximum(np.round(gross).astype(np.int64) - discount, 100)
    refunded = rng.random(len(buyers)) < config.P_REFUND
    coupon_id = np.where(
        coupon,
        np.minimum(
            np.searchsorted(config.COUPON_VALUES_CNY, discount / 100),
            len(config.COUPON_VALUES_CNY) - 1,
        ),
        -1,
    )

    c = use_crm
    crm_buyers = buyers[c]
    o_day, o_seq = _seq(int(c.sum()), d)
    out[("crm", "orders")] = dict(
        day=o_day,
        seq=o_seq,
        mem=pop.primary_mem[crm_buyers],
        ms=buy_ms[c],
        amount=paid[c],
        discount=discount[c],
        coupon=coupon[c],
        refunded=refunded[c],
        store=pop.store_idx[crm_buyers],
    )
    m = use_mini
    w_day, w_seq = _seq(int(m.sum()), d)
    out[("miniprogram", "orders")] = dict(
        day=w_day,
        seq=w_seq,
        person=buyers[m],
        ms=buy_ms[m],
        amount=paid[m],
        discount=discount[m],
        coupon=coupon_id[m],
        refunded=refunded[m],
    )

    # points: purchase, check-in, UGC, occasional redemption
    r_mask = rng.random(len(crm_buyers)) < 0.05
    redeem, redeem_ms = crm_buyers[r_mask], buy_ms[c][r_mask]
    pt_mem = np.concatenate([crm_buyers, checkin, rev, redeem])
    pt_ms = np.concatenate(
        [buy_ms[c] + 1000, checkin_ms, rev_ms, np.minimum(redeem_ms + 2000, day0 + DAY_MS - 1)]
    )
    pt_points = np.concatenate(
        [
            paid[c] // 100,
            np.full(len(checkin), 5),
            np.full(len(rev), 50),
            -rng.integers(1, 11, len(redeem)) * 100,
        ]
    )
    pt_reason = np.concatenate(
        [
            np.zeros(len(crm_buyers)),
            np.ones(len(checkin)),
            np.full(len(rev), 3),
            np.full(len(redeem), 2),
        ]
    ).astype(np.int64)
    p_day, p_seq = _seq(len(pt_mem), d)
    out[("crm", "points")] = dict(
        day=p_day,
        seq=p_seq,
        mem=pop.primary_mem[pt_mem],
        ms=np.minimum(pt_ms, day0 + DAY_MS - 1),
        points=pt_points,
        reason=pt_reason,
    )

    fb = rng.random(len(crm_buyers)) < config.P_FEEDBACK
    fb_people = crm_buyers[fb]
    fb_ms = np.minimum(
        buy_ms[c][fb] + rng.integers(600_000, 6 * 3_600_000, int(fb.sum())), day0 + DAY_MS - 1
    )
    f_day, f_seq = _seq(len(fb_people), d)
    rating = np.clip(np.round(rng.normal(4.2, 0.9, len(fb_people))), 1, 5).astype(np.int64)
    out[("crm", "feedback")] = dict(
        day=f_day,
        seq=f_seq,
        mem=pop.primary_mem[fb_people],
        ms=fb_ms,
        rating=rating,
        text=rng.integers(0, len(config.FEEDBACK_TEXTS), len(fb_people)),
    )

    # --- outbound touches ------------------------------------------------------------------------------
    unsub_day = pop.unsub_day[:registered]
    cons = pop.consent[:registered] & ((unsub_day < 0) | (unsub_day > d))
    crm_on = (pop.crm_day[:registered] >= 0) & (pop.crm_day[:registered] < d)
    wecom_on = (pop.wecom_day[:registered] >= 0) & (pop.wecom_day[:registered] < d)
    reach = cons & (crm_on | wecom_on) & interactions
    in_burst = (
        (pop.burst_start[:registered] >= 0)
        & (pop.burst_start[:registered] <= d)
        & (d < pop.burst_start[:registered] + pop.burst_len[:registered])
    )
    touched = reach & ((rng.random(registered) < pop.touches_ind[:registered] / 7) | in_burst)
    md = _month_day(pop, d)
    bday = reach & (pop.birth_md[:registered] == md)
    t_people = np.concatenate([np.flatnonzero(touched), np.flatnonzero(bday)])
    t_scen = np.concatenate(
        [
            rng.choice(len(config.SCENARIOS), int(touched.sum()), p=config.SCENARIO_MIX),
            np.full(int(bday.sum()), 2),
        ]
    )
    t_content = np.concatenate(
        [
            rng.choice(len(config.CONTENT_TYPES), int(touched.sum()), p=config.CONTENT_MIX),
            np.zeros(int(bday.sum())),
        ]
    )
    t_age = d - pop.arrival[t_people]
    t_scen = np.where((t_age == 3) & (t_scen != 2), 0, t_scen)
    t_wecom = wecom_on[t_people] & (
        ~crm_on[t_people] | (rng.random(len(t_people)) < config.P_WECOM_SINGLE)
    )
    t_ms = (
        day0
        + np.where(rng.random(len(t_people)) < 0.5, 10, 20) * 3_600_000
        + rng.integers(0, 3_600_000, len(t_people))
    )
    t_kind = np.where(t_wecom, KIND_WECOM_SINGLE, KIND_SMS)
    t_campaign = (d + 1) * 100_000 + t_scen * 10 + t_kind  # one campaign per day x scenario
    t_exp = np.full(len(t_people), -1)
    t_var = np.full(len(t_people), -1)
    # experiment sends
    for e, ex in enumerate(pop.experiments):
        if pop.exp_send_day[e] != d:
            continue
        who = np.flatnonzero(pop.exp_variant[e] >= 0)
        var = pop.exp_variant[e, who]
        content = np.where(
            var == 1,
            config.CONTENT_TYPES.index(ex.treatment_content),
            config.CONTENT_TYPES.index(ex.control_content),
        )
        t_people = np.concatenate([t_people, who])
        t_scen = np.concatenate([t_scen, np.full(len(who), config.SCENARIOS.index(ex.scenario))])
        t_content = np.concatenate([t_content, content])
        t_wecom = np.concatenate([t_wecom, np.full(len(who), ex.channel == "wecom")])
        t_ms = np.concatenate([t_ms, pop.exp_send_ms[e, who]])
        t_kind = np.concatenate(
            [t_kind, np.full(len(who), KIND_WECOM_SINGLE if ex.channel == "wecom" else KIND_SMS)]
        )
        t_campaign = np.concatenate([t_campaign, np.full(len(who), -(e + 1))])
        t_exp = np.concatenate([t_exp, np.full(len(who), e)])
        t_var = np.concatenate([t_var, var])
    t_ok = rng.random(len(t_people)) >= config.P_SEND_FAILED
    t_content = t_content.astype(np.int64)
    sms = ~t_wecom
    out[("crm", "sms_sends")] = dict(
        campaign=t_campaign[sms],
        mem=pop.primary_mem[t_people[sms]],
        ms=t_ms[sms],
        scenario=t_scen[sms],
        content=t_content[sms],
        exp=t_exp[sms],
        variant=t_var[sms],
        ok=t_ok[sms],
    )
    w = t_wecom
    # customer-group mass sends: one row per external member already in the group
    sending = np.flatnonzero(
        (pop.group_day <= d)
        & (rng.random(len(pop.group_day)) < config.GROUP_SENDS_PER_WEEK / 7)
        & interactions
    )
    g_scen = rng.choice(len(config.SCENARIOS), len(sending), p=config.SCENARIO_MIX)
    g_content = rng.choice(len(config.CONTENT_TYPES), len(sending), p=config.CONTENT_MIX)
    g_ms = day0 + rng.integers(9 * 3_600_000, 21 * 3_600_000, len(sending))
    lookup = np.full(len(pop.group_day), -1)
    lookup[sending] = np.arange(len(sending))
    rows = np.flatnonzero((lookup[pop.gm_group] >= 0) & (pop.gm_day < d))
    k = lookup[pop.gm_group[rows]]
    g_people = pop.gm_person[rows]
    out[("wecom", "campaign_sends")] = dict(
        # each customer-group send is its own campaign
        campaign=np.concatenate([t_campaign[w], (d + 1) * 100_000 + 100 + sending[k]]),
        person=np.concatenate([t_people[w], g_people]),
        staff=np.concatenate([pop.staff[t_people[w]], pop.group_owner[pop.gm_group[rows]]]),
        group=np.concatenate([np.zeros(int(w.sum()), bool), np.ones(len(rows), bool)]),
        ms=np.concatenate([t_ms[w], g_ms[k] + rng.integers(0, 5000, len(rows))]),
        scenario=np.concatenate([t_scen[w], g_scen[k]]),
        content=np.concatenate([t_content[w], g_content[k]]),
        exp=np.concatenate([t_exp[w], np.full(len(rows), -1)]),
        variant=np.concatenate([t_var[w], np.full(len(rows), -1)]),
        ok=np.concatenate([t_ok[w], rng.random(len(rows)) >= config.P_SEND_FAILED]),
    )
    plants_activation.add_incident_touches(pop, d, out)

    # --- master data: new and changed records --------------------------------------------------------
    new_mem = np.flatnonzero(pop.mem_day == d)
    unsub_today = np.flatnonzero(pop.unsub_day == d)
    unsub_mem = pop.primary_mem[unsub_today]
    unsub_mem = unsub_mem[unsub_mem >= 0]  # unsubscribing comes after joining every system
    person_unsub_ms = pop.unsub_ms
    mems = np.concatenate([new_mem, unsub_mem])
    mp = pop.mem_person[mems]
    out[("crm", "members")] = dict(
        mem=mems,
        updated_ms=np.concatenate([pop.mem_ms[new_mem], person_unsub_ms[mp[len(new_mem) :]]]),
        unsub_ms=np.concatenate([np.full(len(new_mem), -1), person_unsub_ms[mp[len(new_mem) :]]]),
        consent=np.concatenate([pop.consent[mp[: len(new_mem)]], np.zeros(len(unsub_mem), bool)]),
    )
    new_contacts = np.flatnonzero(pop.wecom_day == d)
    out[("wecom", "external_contacts")] = dict(person=new_contacts, ms=pop.wecom_ms[new_contacts])
    joins = np.flatnonzero(pop.gm_day == d)
    new_groups = np.flatnonzero(pop.group_day == d)
    out[("wecom", "group_members")] = dict(
        group=np.concatenate([new_groups, pop.gm_group[joins]]),
        person=np.concatenate([np.full(len(new_groups), -1), pop.gm_person[joins]]),
        staff=np.concatenate([pop.group_owner[new_groups], np.zeros(len(joins), np.int64)]),
        ms=np.concatenate([day0 + np.full(len(new_groups), 8 * 3_600_000), pop.gm_ms[joins]]),
        scene=np.concatenate(
            [
                np.ones(len(new_groups), np.int64),
                rng.choice([1, 2, 3], len(joins), p=[0.2, 0.3, 0.5]),
            ]
        ),
    )
    new_users = np.flatnonzero(pop.mini_day == d)
    phone_later = np.flatnonzero((pop.mini_phone_day == d) & (pop.mini_day < d))
    unsub_users = unsub_today[(pop.mini_day[unsub_today] >= 0) & (pop.mini_day[unsub_today] < d)]
    phone_ms = day0 + time_of_day_ms(rng, len(phone_later))
    users = np.concatenate([new_users, phone_later, unsub_users])
    updated = np.concatenate([pop.mini_ms[new_users], phone_ms, person_unsub_ms[unsub_users]])
    unsub_seen = (pop.unsub_day[users] >= 0) & (pop.unsub_day[users] <= d)
    out[("miniprogram", "users")] = dict(
        person=users,
        updated_ms=updated,
        unsub_ms=np.where(unsub_seen, pop.unsub_ms[users], -1),
        consent=pop.consent[users] & ~unsub_seen,
        phone=(pop.mini_phone_day[users] >= 0) & (pop.mini_phone_day[users] <= d),
    )
    return out


def _month_day(pop: Population, d: int) -> int:
    day = pop.start + dt.timedelta(days=d)
    return day.month * 100 + day.day
