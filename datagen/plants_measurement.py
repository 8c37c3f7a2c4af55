"""Planted behaviours of the content, registration and satisfaction marts (issue 14).

Three things the generator did not write before, each recoverable by a mart:

* **Message clicks** (`content_performance`): a person who receives a touch (SMS, WeCom 1:1 or a
  customer-group mass send) may open its link, which the mini-program logs as an event
  `message_click` carrying the touch's campaign_id, within 48 hours. The click probability depends
  on the content type; `live` is planted clearly above the others (``CLICK_PROBABILITY``).
* **Visit statistics** (`registration_funnel`): the mini-program's daily new visitors per
  acquisition channel (`miniprogram/<day>/visit_stats.jsonl`, an extract of its own). Every
  mini-program user registered that day is a visitor; visitors who left before logging in are
  added per channel (``ANONYMOUS_VISITS_PER_USER``): the online mall's traffic mostly leaves
  before authorising a phone, so its funnel loses most at that step.
* **Satisfaction survey** (`feedback_satisfaction`): each month a sample of the active members
  answers a survey (seed 000, 6.4: a monthly sample of users), scored 1-5 like the order
  feedback; one month (``DIP_MONTH_OFFSET`` months after the start month) scores much lower.

Every planted row goes into a file of its own (``planted_files``) and every draw comes from the
streams ``default_rng([seed, PLANT_STREAM, part, day])``, so the other extracts keep their bytes
(tests/datagen pins them). ``plant_day`` is called once per simulated day by the generator; the
truth is ``_truth/measurement_plants.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen import config, ids
from datagen.activity import ENTITIES
from datagen.population import DAY_MS, TZ_OFFSET_MS, Population, local_midnight_ms

# default_rng([seed, PLANT_STREAM, part, day]); the generator's own streams are 0..3.
PLANT_STREAM = 14
PART_CLICKS, PART_VISITS, PART_SURVEY = 0, 1, 2

# --- message clicks -----------------------------------------------------------------------------
CLICK_EVENT = "message_click"
CLICK_PAGE = "pages/campaign/landing"
CLICKS_FILE = "events_campaign_clicks"  # an `events` file: the loader reads it as events
# P(click within 48 h | delivered touch, person alive that day and already a mini-program user),
# in the order of config.CONTENT_TYPES: coupon, article, product, live, survey, points.
CLICK_PROBABILITY = np.array([0.06, 0.04, 0.05, 0.35, 0.03, 0.03])
PLANTED_CONTENT_TYPE = "live"
CLICK_DELAY_MEAN_MIN = 120.0  # exponential delay after the touch; a click lands by the next day

# --- visit statistics ---------------------------------------------------------------------------
VISITS_FILE = "visit_stats"
# Visitors who left before logging in, per mini-program user registered the same day, by
# acquisition channel (config.CHANNELS: store, online_mall, miniprogram, wecom).
ANONYMOUS_VISITS_PER_USER = np.array([0.15, 2.0, 0.10, 0.15])
PLANTED_FUNNEL_CHANNEL = "online_mall"

# --- satisfaction survey ------------------------------------------------------------------------
SURVEY_FILE = "feedback_survey"  # a `feedback` file: the loader reads it as feedback
SURVEY_MONTHLY_SHARE = 0.12  # of the active members, answering per month
# P(score = 1..5): an ordinary month and the planted dip month.
SURVEY_SCORES = np.array([0.04, 0.06, 0.15, 0.35, 0.40])
SURVEY_SCORES_DIP = np.array([0.20, 0.20, 0.25, 0.20, 0.15])
DIP_MONTH_OFFSET = 2  # the dip is the calendar month this many months after the start month
SURVEY_HEADER = "反馈编号,会员编号,反馈时间,评分,反馈内容\n"  # crm feedback.csv's header
SURVEY_TEXTS = (
    "满意度调研：整体满意",
    "满意度调研：会员权益不错",
    "满意度调研：客服回复及时",
    "满意度调研：一般",
    "满意度调研：希望活动多一些",
)
SURVEY_DIP_TEXTS = (
    "满意度调研：最近发货太慢了",
    "满意度调研：物流延迟，客服也联系不上",
    "满意度调研：商品缺货，体验很差",
    "满意度调研：一般",
)

_SMS = ENTITIES.index(("crm", "sms_sends"))
_SENDS = ENTITIES.index(("wecom", "campaign_sends"))


def planted_files(shape: config.BrandShape) -> dict[str, set[str]]:
    """The file names each source's day folder gets from this module, for a brand shape (with
    one batch a day): the clicks need touches and the mini-program, the survey the CRM."""
    out: dict[str, set[str]] = {}
    if shape.has("miniprogram"):
        out["miniprogram"] = {f"{VISITS_FILE}.jsonl"}
        if shape.interactions:
            out["miniprogram"].add(f"{CLICKS_FILE}.jsonl")
    if shape.has("crm"):
        out["crm"] = {f"{SURVEY_FILE}.csv"}
    return out


def is_planted_file(name: str) -> bool:
    """True for a landing file this module writes (any batch suffix)."""
    return name.startswith((CLICKS_FILE, VISITS_FILE, SURVEY_FILE))


def dip_month(start: dt.date, days: int) -> dt.date | None:
    """First day of the planted dip month, or None when the window does not reach it."""
    month = start.month - 1 + DIP_MONTH_OFFSET
    first = dt.date(start.year + month // 12, month % 12 + 1, 1)
    return first if (first - start).days < days else None


def plant_day(ctx, d: int, ready: list[tuple[int, dict[str, np.ndarray]]], stats, write: bool):
    """Plant day ``d``: clicks on its touches (those landing on the next day are kept in
    ``ctx.carry``), the day's visit statistics and survey answers; write the day's files when
    ``write`` (the generator simulates a few days before each chunk without writing them).
    ``ready`` holds the day's batches by index into ``ENTITIES``; ``stats`` counts rows, files
    and bytes like the generator's own files."""
    pop: Population = ctx.pop
    shape = pop.shape
    batches = dict(ready)
    today, tomorrow = _clicks(pop, d, ctx.seed, batches.get(_SMS), batches.get(_SENDS))
    carried = ctx.carry.pop(d, None)
    ctx.carry[d + 1] = tomorrow
    if not write:
        return
    day = ctx.start + dt.timedelta(days=d)
    if shape.has("miniprogram"):
        if shape.interactions:
            clicks = _concat([c for c in (carried, today) if c is not None])
            order = np.lexsort((clicks["person"], clicks["ms"]))
            clicks = {k: v[order] for k, v in clicks.items()}
            _write(
                ctx,
                stats,
                "miniprogram",
                "events",
                CLICKS_FILE,
                day,
                _click_lines(pop, day, clicks),
                clicks["ms"],
            )
        visits = _visits(pop, d, ctx.seed)
        day_ms = np.full(len(visits[0]), int(local_midnight_ms(pop.start_epoch_day + d)))
        _write(
            ctx,
            stats,
            "miniprogram",
            VISITS_FILE,
            VISITS_FILE,
            day,
            _visit_lines(day, *visits),
            day_ms,
        )
    if shape.has("crm"):
        mem, ms, score, text = _survey(pop, d, ctx.seed)
        lines = _survey_lines(pop, day, mem, ms, score, text)
        _write(ctx, stats, "crm", "feedback", SURVEY_FILE, day, lines, ms, header=SURVEY_HEADER)


# --- clicks ---------------------------------------------------------------------------------------
def _clicks(pop: Population, d: int, seed: int, sms, sends) -> tuple[dict, dict]:
    """The clicks on day ``d``'s touches: (those on day d, those on day d + 1)."""
    person, ms, content, campaign, scenario, ok = [], [], [], [], [], []
    if sms is not None:
        person.append(pop.mem_person[sms["mem"]])
        for out, key in ((ms, "ms"), (content, "content"), (campaign, "campaign")):
            out.append(sms[key])
        scenario.append(sms["scenario"])
        ok.append(sms["ok"])
    if sends is not None:
        person.append(sends["person"])
        for out, key in ((ms, "ms"), (content, "content"), (campaign, "campaign")):
            out.append(sends[key])
        scenario.append(sends["scenario"])
        ok.append(sends["ok"])
    empty = {k: np.zeros(0, dtype=np.int64) for k in ("person", "ms", "campaign", "scenario")}
    if not person or not sum(len(p) for p in person):
        return empty, dict(empty)
    person = np.concatenate(person).astype(np.int64)
    ms = np.concatenate(ms).astype(np.int64)
    content = np.concatenate(content).astype(np.int64)
    campaign = np.concatenate(campaign).astype(np.int64)
    scenario = np.concatenate(scenario).astype(np.int64)
    ok = np.concatenate(ok).astype(bool)
    rng = np.random.default_rng([seed, PLANT_STREAM, PART_CLICKS, d])
    u = rng.random(len(person))
    delay = rng.exponential(CLICK_DELAY_MEAN_MIN * 60_000, len(person)).astype(np.int64)
    eligible = (
        ok
        & (pop.churn_day[person] >= d)
        & (pop.mini_day[person] >= 0)
        & (pop.mini_day[person] <= d)
    )
    clicked = eligible & (u < CLICK_PROBABILITY[content])
    # a click lands by the end of the next day, never after the person's last active day or the
    # last generated day, and after the person became a mini-program user
    last_day = np.minimum(np.minimum(pop.churn_day[person], d + 1), pop.days - 1)
    bound = local_midnight_ms(pop.start_epoch_day + last_day + 1) - 1
    at = np.maximum(ms + 1000 + delay, pop.mini_ms[person] + 60_000)
    at = np.minimum(at, bound)
    click_day = (at + TZ_OFFSET_MS) // DAY_MS - pop.start_epoch_day
    rows = {"person": person, "ms": at, "campaign": campaign, "scenario": scenario}
    on_d = clicked & (click_day == d)
    on_next = clicked & (click_day == d + 1)
    return {k: v[on_d] for k, v in rows.items()}, {k: v[on_next] for k, v in rows.items()}


def _campaign_ids(pop: Population, code: np.ndarray) -> pa.Array:
    """The campaign id of each code, as the generator writes it (cmp_NNNNNN or cmp_exp_NN)."""
    regular = pc.binary_join_element_wise("cmp_", ids.padded(np.maximum(code, 0), 6), "")
    if not pop.experiments:
        return regular
    exp = pa.array([e.campaign_id for e in pop.experiments]).take(
        pa.array(np.maximum(-code - 1, 0))
    )
    return pc.if_else(pa.array(code < 0), exp, regular)


def _click_lines(pop: Population, day: dt.date, c: dict[str, np.ndarray]) -> pa.Array:
    n = len(c["person"])
    take = lambda arr, idx: arr.take(pa.array(idx, type=pa.int64()))  # noqa: E731
    scenarios = pa.array(list(config.SCENARIOS))
    return _join(
        '{"event_id": "k',
        day.strftime("%Y%m%d"),
        ids.padded(np.arange(n), 9),
        '", "openid": "',
        take(pop.openid, c["person"]),
        f'", "event_name": "{CLICK_EVENT}", "event_time": ',
        _str(c["ms"]),
        f', "page": "{CLICK_PAGE}", "properties": {{"scenario": "',
        take(scenarios, c["scenario"]),
        '", "campaign_id": "',
        _campaign_ids(pop, c["campaign"]),
        '"}}\n',
        n=n,
    )


# --- visit statistics ---------------------------------------------------------------------------
def _open_channels(shape: config.BrandShape) -> np.ndarray:
    """The registration channels of a brand shape (population.py's rule)."""
    return np.array(
        [shape.has("crm"), shape.has("crm"), shape.has("miniprogram"), shape.has("wecom")]
    )


def _visits(pop: Population, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(channel index, new visitors) of day ``d``, one row per registration channel."""
    users = np.bincount(pop.channel[pop.mini_day == d], minlength=len(config.CHANNELS))
    rng = np.random.default_rng([seed, PLANT_STREAM, PART_VISITS, d])
    anonymous = rng.poisson(ANONYMOUS_VISITS_PER_USER * users)
    channels = np.flatnonzero(_open_channels(pop.shape))
    return channels, (users + anonymous)[channels]


def _visit_lines(day: dt.date, channels: np.ndarray, visitors: np.ndarray) -> pa.Array:
    names = pa.array(list(config.CHANNELS)).take(pa.array(channels, type=pa.int64()))
    return _join(
        f'{{"ref_date": "{day.strftime("%Y%m%d")}", "channel": "',
        names,
        '", "visit_uv_new": ',
        _str(visitors),
        "}\n",
        n=len(channels),
    )


# --- survey ---------------------------------------------------------------------------------------
def _survey(pop: Population, d: int, seed: int):
    """Day ``d``'s survey answers, in time order: member index, epoch ms, score 1-5, text."""
    registered = int(np.searchsorted(pop.arrival, d, side="right"))
    rng = np.random.default_rng([seed, PLANT_STREAM, PART_SURVEY, d])
    u = rng.random(registered)
    member = pop.primary_mem[:registered]
    active = (
        (member >= 0)
        & (pop.crm_day[:registered] >= 0)
        & (pop.crm_day[:registered] < d)
        & (pop.churn_day[:registered] >= d)
    )
    who = np.flatnonzero(active & (u < SURVEY_MONTHLY_SHARE / 30))
    day = pop.start + dt.timedelta(days=d)
    dip = dip_month(pop.start, pop.days)
    is_dip = dip is not None and (day.year, day.month) == (dip.year, dip.month)
    score = 1 + rng.choice(5, size=len(who), p=SURVEY_SCORES_DIP if is_dip else SURVEY_SCORES)
    pool = pa.array([_csv_field(t) for t in (SURVEY_DIP_TEXTS if is_dip else SURVEY_TEXTS)])
    text = pool.take(pa.array(rng.integers(0, len(pool), len(who))))
    day0 = int(local_midnight_ms(pop.start_epoch_day + d))
    ms = day0 + rng.integers(9 * 3_600_000, 21 * 3_600_000, len(who))
    order = np.argsort(ms, kind="stable")
    return member[who][order], ms[order], score[order], text.take(pa.array(order))


def _survey_lines(pop: Population, day: dt.date, mem, ms, score, text) -> pa.Array:
    return _join(
        f"S{day.strftime('%Y%m%d')}",
        ids.padded(np.arange(len(mem)), 6),
        ",",
        pop.mem_id.take(pa.array(mem, type=pa.int64())),
        ",",
        _local_times(ms),
        ",",
        _str(score),
        ",",
        text,
        "\n",
        n=len(mem),
    )


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _local_times(ms: np.ndarray) -> pa.Array:
    """`YYYY-MM-DD HH:MM:SS` Asia/Shanghai local times of epoch milliseconds."""
    local = ((np.asarray(ms, dtype=np.int64) + TZ_OFFSET_MS) // 1000).astype("datetime64[s]")
    return pc.strftime(pa.array(local), format="%Y-%m-%d %H:%M:%S")


# --- files ------------------------------------------------------------------------------------------
def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return {k: np.zeros(0, dtype=np.int64) for k in ("person", "ms", "campaign", "scenario")}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def _join(*parts, n: int) -> pa.Array:
    """One line per row from constants and string arrays of ``n`` rows."""
    if n == 0:
        return pa.array([], type=pa.string())
    arrays = [pa.array([p] * n) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def _write(ctx, stats, source, entity, stem, day, lines: pa.Array, ms: np.ndarray, header=""):
    """Write ``lines`` (one row each, in file order) as ``<stem>.<ext>`` of ``day``, or as the
    intraday batches ``<stem>_HHMM.<ext>`` by the rows' times, like the generator's files."""
    from datagen.generate import EXTENSIONS, batch_names

    folder = ctx.out / source / day.isoformat()
    ext = EXTENSIONS[source]
    text = lines.to_pylist()
    n = ctx.batches_per_day
    if n == 1:
        files = {f"{stem}.{ext}": text}
    else:
        day_local_ms = (ctx.pop.start_epoch_day + (day - ctx.start).days) * DAY_MS
        slot = np.clip((np.asarray(ms) + TZ_OFFSET_MS - day_local_ms) * n // DAY_MS, 0, n - 1)
        names = batch_names(n)
        files = {
            f"{stem}_{names[k]}.{ext}": [t for t, s in zip(text, slot, strict=True) if s == k]
            for k in range(n)
        }
        # a batch without rows is not written; a day without rows keeps its last batch
        files = {
            name: rows
            for k, (name, rows) in enumerate(files.items())
            if rows or (not text and k == n - 1)
        }
    for name, rows in files.items():
        data = (header + "".join(rows)).encode("utf-8")
        (folder / name).write_bytes(data)
        stats.files += 1
        stats.bytes += len(data)
    stats.rows[f"{source}/{entity}"] += len(text)


# --- truth --------------------------------------------------------------------------------------
def truth(pop: Population) -> dict:
    dip = dip_month(pop.start, pop.days)
    content = dict(zip(config.CONTENT_TYPES, CLICK_PROBABILITY.tolist(), strict=True))
    channels = dict(zip(config.CHANNELS, ANONYMOUS_VISITS_PER_USER.tolist(), strict=True))
    return {
        "content_clicks": {
            "description": (
                f"A delivered touch (SMS, WeCom 1:1 or group mass send) of a person who is alive "
                f"on the touch day and already a mini-program user is clicked with the "
                f"probability of its content type: a mini-program event `{CLICK_EVENT}` with the "
                f"touch's campaign_id and scenario, after an exponential delay (mean "
                f"{CLICK_DELAY_MEAN_MIN:.0f} min), by the end of the next day (never after the "
                f"person's last active day), in miniprogram/<day>/{CLICKS_FILE}.jsonl."
            ),
            "event_name": CLICK_EVENT,
            "click_probability": content,
            "planted_content_type": PLANTED_CONTENT_TYPE,
            "delay_mean_minutes": CLICK_DELAY_MEAN_MIN,
        },
        "registration_funnel": {
            "description": (
                "miniprogram/<day>/visit_stats.jsonl: new visitors per acquisition channel = "
                "mini-program users registered that day whose registration channel is that "
                "channel + Poisson(anonymous_visits_per_user x those users) visitors who left "
                "before logging in."
            ),
            "anonymous_visits_per_user": channels,
            "planted_channel": PLANTED_FUNNEL_CHANNEL,
            "planted_step": "authorised_phone",
        },
        "feedback_survey": {
            "description": (
                f"crm/<day>/{SURVEY_FILE}.csv: each day every active member (CRM member since "
                f"before the day, alive) answers with probability monthly_share / 30; scores 1-5 "
                f"drawn from score_distribution, or score_distribution_dip in the dip month."
            ),
            "monthly_share": SURVEY_MONTHLY_SHARE,
            "score_distribution": dict(zip(range(1, 6), SURVEY_SCORES.tolist(), strict=True)),
            "score_distribution_dip": dict(
                zip(range(1, 6), SURVEY_SCORES_DIP.tolist(), strict=True)
            ),
            "dip_month": dip.isoformat() if dip else None,
        },
    }


def write_truth(pop: Population, truth_dir: pathlib.Path) -> None:
    (truth_dir / "measurement_plants.json").write_text(
        json.dumps(truth(pop), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
