"""Planted behaviour for the activation rules (issue 14): an over-touch incident and preferred
send hours.

* **Over-touch incident** (seed 2.4.2, 7.2): a mis-configured campaign sends a promotion coupon to
  the same group of persons every day for ``INCIDENT_DAYS`` days from ``INCIDENT_START_FRACTION``
  of the window (WeCom 1:1 when the person has WeCom, else SMS, at 20:00-21:00). The group is
  ``INCIDENT_SHARE`` of the persons reachable on its first day, enough to put the share of persons
  touched on 3 consecutive days above the plan's 5% alarm on the incident's third and fourth days.
  The adaptive frequency cap must lower the next day's caps (next_best_actions).
* **Preferred hours** (seed 5.3): ``PREFERRED_SHARE`` of the persons have a 2-hour band
  [start, start + 2) in which each of their sessions (mini-program reads, WeCom replies, check-ins)
  starts with probability ``IN_BAND_PROBABILITY`` (else at the usual time of day). The learned send
  windows must recover the band.

Every draw comes from generators of its own (``default_rng([seed, 41..43, ...])``), so the draws of
every other extract are the same as without the plants; the incident only adds rows to the
campaign and SMS sends of its days, and the hours only move session start times within their day
(never on the registration day). Hooked in with one line each in ``generate`` (plan), ``activity``
(session times, incident rows) and ``truth`` (the truth files); a population without a plan (built
on its own) is left as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datagen import config
from datagen.population import Population, local_midnight_ms

HOUR_MS = 3_600_000

# --- over-touch incident ---------------------------------------------------------------------
INCIDENT_START_FRACTION = 0.75  # of the window: far enough from the end that the trailing
INCIDENT_DAYS = 4  # 28-day KPI levels of the last day do not include it (180 days: days 135-138)
INCIDENT_SHARE = 0.12  # of the persons reachable on the incident's first day
INCIDENT_MIN_START_DAY = 7  # shorter windows have no incident
INCIDENT_HOUR = 20  # promotions are sent at 20:00-21:00 (seed 5.3)
INCIDENT_SCENARIO = config.SCENARIOS.index("promotion")
INCIDENT_CONTENT = config.CONTENT_TYPES.index("coupon")
# campaign code of the day (cmp_<digits>): day x 100,000 + 99,000 + channel kind, beside the
# regular codes (+ scenario x 10 + kind) and the customer-group sends (+ 100 + group)
INCIDENT_CAMPAIGN_OFFSET = 99_000
KIND_WECOM_SINGLE, KIND_SMS = 0, 2  # datagen.activity's kinds

# --- preferred hours -----------------------------------------------------------------------------
PREFERRED_SHARE = 0.30
PREFERRED_BAND_HOURS = 2
PREFERRED_START_HOURS = np.arange(7, 21)  # bands 07-09 .. 20-22, uniformly
IN_BAND_PROBABILITY = 0.85

STREAM_PLAN, STREAM_HOURS, STREAM_INCIDENT = 41, 42, 43


@dataclass(frozen=True)
class ActivationPlan:
    """What is planted, drawn once per run (``plan``)."""

    seed: int
    preferred_start_hour: np.ndarray  # per person: first hour of the band, -1 none
    incident_first_day: int  # day index, -1: no incident in this run
    incident_group: np.ndarray  # per person: in the incident's group

    @property
    def incident_day_range(self) -> range:
        if self.incident_first_day < 0:
            return range(0)
        return range(self.incident_first_day, self.incident_first_day + INCIDENT_DAYS)


def plan(pop: Population, seed: int) -> ActivationPlan:
    """Draw the preferred hours and the incident group of ``pop``."""
    rng = np.random.default_rng([seed, STREAM_PLAN])
    n = pop.n
    # a brand without interactions has no sessions (no hours) and sends nothing (no incident)
    preferred = (rng.random(n) < PREFERRED_SHARE) & pop.shape.interactions
    start_hour = np.where(preferred, rng.choice(PREFERRED_START_HOURS, n), -1).astype(np.int64)
    first = int(INCIDENT_START_FRACTION * pop.days)
    fits = first >= INCIDENT_MIN_START_DAY and first + INCIDENT_DAYS <= pop.days
    reachable = _reachable(pop, first) & pop.shape.interactions
    group = (rng.random(n) < INCIDENT_SHARE) & reachable & fits
    return ActivationPlan(
        seed=seed,
        preferred_start_hour=start_hour,
        incident_first_day=first if fits and group.any() else -1,
        incident_group=group,
    )


def _reachable(pop: Population, d: int) -> np.ndarray:
    """Persons the brand can send to on day ``d`` (datagen.activity's rule): consenting, not
    unsubscribed by then, a CRM member or WeCom contact since an earlier day."""
    consenting = pop.consent & ((pop.unsub_day < 0) | (pop.unsub_day > d))
    crm_on = (pop.crm_day >= 0) & (pop.crm_day < d)
    wecom_on = (pop.wecom_day >= 0) & (pop.wecom_day < d)
    return consenting & (crm_on | wecom_on)


# --- hooks of datagen.activity.simulate_day -----------------------------------------------------


def session_starts(
    pop: Population, people: np.ndarray, starts: np.ndarray, day0: int, d: int
) -> np.ndarray:
    """The session start times (epoch ms) of ``people`` on day ``d``: a person with a preferred
    band starts in it with probability IN_BAND_PROBABILITY (uniformly within the band), except on
    the registration day; every other start is kept."""
    plants: ActivationPlan | None = getattr(pop, "activation", None)
    if plants is None or not len(people):
        return starts
    rng = np.random.default_rng([plants.seed, STREAM_HOURS, d])
    start_hour = plants.preferred_start_hour[people]
    in_band = (start_hour >= 0) & (pop.arrival[people] < d)
    in_band &= rng.random(len(people)) < IN_BAND_PROBABILITY
    band_start = day0 + start_hour * HOUR_MS
    offset = rng.integers(0, PREFERRED_BAND_HOURS * HOUR_MS, len(people))
    return np.where(in_band, band_start + offset, starts)


def _incident_sends(pop: Population, plants: ActivationPlan, d: int):
    """The incident's sends of day ``d``: persons (indices), by WeCom (else SMS), epoch ms,
    delivered."""
    rng = np.random.default_rng([plants.seed, STREAM_INCIDENT, d])
    who = np.flatnonzero(plants.incident_group & _reachable(pop, d))
    wecom = (pop.wecom_day[who] >= 0) & (pop.wecom_day[who] < d)
    day0 = int(local_midnight_ms(pop.start_epoch_day + d))
    ms = day0 + INCIDENT_HOUR * HOUR_MS + rng.integers(0, HOUR_MS, len(who))
    ok = rng.random(len(who)) >= config.P_SEND_FAILED
    return who, wecom, ms, ok


def add_incident_touches(pop: Population, d: int, out: dict) -> None:
    """Append the incident's sends of day ``d`` to the day's WeCom campaign sends and SMS sends
    (``out``, datagen.activity's batches): one per group member still reachable that day."""
    plants: ActivationPlan | None = getattr(pop, "activation", None)
    if plants is None or d not in plants.incident_day_range:
        return
    who, wecom, ms, ok = _incident_sends(pop, plants, d)
    for key, mask, kind in (
        (("wecom", "campaign_sends"), wecom, KIND_WECOM_SINGLE),
        (("crm", "sms_sends"), ~wecom, KIND_SMS),
    ):
        k = int(mask.sum())
        rows = {
            "campaign": np.full(k, (d + 1) * 100_000 + INCIDENT_CAMPAIGN_OFFSET + kind),
            "ms": ms[mask],
            "scenario": np.full(k, INCIDENT_SCENARIO),
            "content": np.full(k, INCIDENT_CONTENT),
            "exp": np.full(k, -1),
            "variant": np.full(k, -1),
            "ok": ok[mask],
            "person": who[mask],
            "staff": pop.staff[who[mask]],
            "group": np.zeros(k, bool),
            "mem": pop.primary_mem[who[mask]],
        }
        batch = out[key]
        out[key] = {
            col: np.concatenate([values, rows[col].astype(values.dtype)])
            for col, values in batch.items()
        }


# --- truth ---------------------------------------------------------------------------------


def truth_tables(pop: Population) -> dict[str, pa.Table]:
    """``send_hours`` (one row per person with a preferred band) and ``over_touch_incident``
    (one row per incident send: person, date, channel, delivered); empty without a plan."""
    plants: ActivationPlan | None = getattr(pop, "activation", None)
    hours_schema = pa.schema(
        [
            ("true_person_id", pa.string()),
            ("preferred_start_hour", pa.int64()),
            ("preferred_end_hour", pa.int64()),
            ("in_band_probability", pa.float64()),
        ]
    )
    incident_schema = pa.schema(
        [
            ("true_person_id", pa.string()),
            ("touch_date", pa.date32()),
            ("channel", pa.string()),
            ("is_delivered", pa.bool_()),
        ]
    )
    if plants is None:
        return {
            "send_hours": hours_schema.empty_table(),
            "over_touch_incident": incident_schema.empty_table(),
        }
    planted = np.flatnonzero(plants.preferred_start_hour >= 0)
    start_hour = plants.preferred_start_hour[planted]
    hours = pa.table(
        {
            "true_person_id": pop.person_ids.take(pa.array(planted, type=pa.int64())),
            "preferred_start_hour": start_hour,
            "preferred_end_hour": start_hour + PREFERRED_BAND_HOURS,
            "in_band_probability": np.full(len(planted), IN_BAND_PROBABILITY),
        },
        schema=hours_schema,
    )
    sends = []
    for d in plants.incident_day_range:
        who, wecom, _, ok = _incident_sends(pop, plants, d)
        date = pop.start + dt.timedelta(days=d)
        sends.append(
            pa.table(
                {
                    "true_person_id": pop.person_ids.take(pa.array(who, type=pa.int64())),
                    "touch_date": pa.array([date] * len(who), pa.date32()),
                    "channel": pa.array(np.where(wecom, "wecom_1v1", "sms")),
                    "is_delivered": ok,
                },
                schema=incident_schema,
            )
        )
    incident = pa.concat_tables(sends) if sends else incident_schema.empty_table()
    return {"send_hours": hours, "over_touch_incident": incident}


def truth_summary(pop: Population) -> dict:
    """The planted parameters (``_truth/activation_plants.json``)."""
    plants: ActivationPlan | None = getattr(pop, "activation", None)
    days = list(plants.incident_day_range) if plants is not None else []
    return {
        "over_touch_incident": {
            "description": (
                "A promotion coupon sent to the same group every day of the incident (WeCom 1:1, "
                "else SMS, 20:00-21:00): the share of persons touched on 3 consecutive days rises "
                "above the 5% alarm on its third and fourth days."
            ),
            "first_date": (pop.start + dt.timedelta(days=days[0])).isoformat() if days else None,
            "last_date": (pop.start + dt.timedelta(days=days[-1])).isoformat() if days else None,
            "group_persons": int(plants.incident_group.sum()) if days else 0,
            "share_of_reachable": INCIDENT_SHARE,
            "scenario": "promotion",
            "content_type": "coupon",
        },
        "send_hours": {
            "description": (
                "A share of persons start each session (mini-program events, WeCom messages, "
                "check-ins) inside their 2-hour band with in_band_probability, else at the usual "
                "time of day; never moved on the registration day."
            ),
            "share_of_persons": PREFERRED_SHARE,
            "band_hours": PREFERRED_BAND_HOURS,
            "start_hours": PREFERRED_START_HOURS.tolist(),
            "in_band_probability": IN_BAND_PROBABILITY,
            "planted_persons": (
                int((plants.preferred_start_hour >= 0).sum()) if plants is not None else 0
            ),
        },
    }
