"""The member sections of the daily report (seed 001): the registration funnel and satisfaction.

Pure: frames of the published marts `registration_funnel` and `feedback_satisfaction` in,
markdown lines out. Empty frames (a brand without the mini-program or without feedback, or a
serving file published before the marts existed) give one line saying so.
"""

from __future__ import annotations

import pandas as pd

FUNNEL_STEPS = ("visits", "authorised_phone_users", "members", "first_order_users")
# the step named by each conversion (the step reached), as registration_funnel names them, and
# the conversion's column in the report
STEP_NAMES = {
    "authorised_phone_users": ("authorised_phone", "phone rate"),
    "members": ("member", "member rate"),
    "first_order_users": ("first_order", "first order rate"),
}
SATISFACTION_MONTHS = 6  # the months the section lists, latest last


def funnel_lines(funnel: pd.DataFrame) -> list[str]:
    """Per channel, the funnel summed over every month published: the steps, each step's
    conversion from the one before and the step that loses most (the lowest conversion; ties go
    to the earlier step, as in the mart)."""
    if funnel.empty:
        return ["No registration funnel published (it needs the mini-program's extracts)."]
    totals = funnel.groupby("channel")[list(FUNNEL_STEPS)].sum()
    rows = []
    for channel, t in totals.iterrows():
        rates = {
            STEP_NAMES[step]: (t[step] / t[before] if t[before] else None)
            for before, step in zip(FUNNEL_STEPS, FUNNEL_STEPS[1:], strict=False)
        }
        known = {name: v for (name, _), v in rates.items() if v is not None}
        weakest = min(known, key=lambda k: known[k]) if known else "-"
        rows.append(
            {
                "channel": channel,
                "visits": int(t["visits"]),
                "authorised phone": int(t["authorised_phone_users"]),
                "members": int(t["members"]),
                "first orders": int(t["first_order_users"]),
                **{label: _pct(v) for (_, label), v in rates.items()},
                "loses most": weakest,
            }
        )
    table = pd.DataFrame(rows).sort_values("visits", ascending=False)
    months = pd.to_datetime(funnel["visit_month"])
    return [
        f"Mini-program visits {months.min():%Y-%m} to {months.max():%Y-%m} by acquisition channel: "
        "visit -> authorised phone -> member -> first order, each rate over the step before, "
        "steps reached by the report date (the latest months are still ordering; "
        "marts.registration_funnel has each month).",
        "",
        table.to_markdown(index=False),
    ]


def satisfaction_lines(satisfaction: pd.DataFrame) -> list[str]:
    """The latest months' feedback: count, score shares, average, NPS-style score and its change,
    and the month with the lowest NPS among those listed."""
    if satisfaction.empty:
        return ["No member feedback published yet."]
    recent = satisfaction.sort_values("feedback_month").tail(SATISFACTION_MONTHS)
    rows = []
    for r in recent.itertuples():
        scored = r.scored_count or 0
        shares = " / ".join(
            _pct(getattr(r, f"score_{s}_count") / scored if scored else None) for s in range(1, 6)
        )
        rows.append(
            {
                "month": f"{pd.Timestamp(r.feedback_month):%Y-%m}",
                "feedback": int(r.feedback_count),
                "scores 1 / 2 / 3 / 4 / 5": shares,
                "average": _num(r.avg_score, ".2f"),
                "NPS": _num(r.nps, "+.1f"),
                "change": _num(r.nps_change, "+.1f"),
            }
        )
    lines = [
        "CRM feedback (order feedback and surveys), 1-5; NPS = % promoters (5) - % detractors (1-3).",
        "",
        pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True),
    ]
    scored = recent.dropna(subset=["nps"])
    if len(scored) > 1:
        low = scored.loc[scored["nps"].idxmin()]
        lines += [
            "",
            f"Lowest NPS: {pd.Timestamp(low.feedback_month):%Y-%m} ({low.nps:+.1f}, "
            f"{int(low.scored_count)} scores).",
        ]
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.0%}"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or pd.isna(value) else format(value, fmt)
