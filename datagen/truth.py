"""Ground truth under ``<out>/_truth/`` (never read by the pipeline)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datagen import config, plants_activation, plants_measurement
from datagen.population import Population


def _ids(source: str, id_type: str, values: pa.Array, persons: pa.Array) -> pa.Table:
    return pa.table(
        {
            "source": pa.array(np.full(len(values), source)),
            "id_type": pa.array(np.full(len(values), id_type)),
            "id_value": values,
            "true_person_id": persons,
        }
    )


def identities_table(pop: Population) -> pa.Table:
    """One row per (source, id_type, id_value) that any extract carries, normalised."""
    pid = pop.person_ids
    wecom = np.flatnonzero(pop.wecom_day >= 0)
    mini = np.flatnonzero(pop.mini_day >= 0)
    take = lambda arr, idx: arr.take(pa.array(idx, type=pa.int64()))  # noqa: E731
    mem_pid = pc.if_else(
        pa.array(pop.mem_junk), pa.scalar(None, pa.string()), take(pid, pop.mem_person)
    )
    parts = [
        _ids("crm", "member_id", pop.mem_id, take(pid, pop.mem_person)),
        _ids("crm", "phone", pop.mem_phone11, mem_pid),
        _ids("wecom", "external_userid", take(pop.external_userid, wecom), take(pid, wecom)),
    ]
    w_uid = wecom[pop.wecom_unionid[wecom]]
    w_phone = wecom[pop.remark_mobile[wecom]]
    m_uid = mini[pop.mini_unionid[mini]]
    m_phone = mini[pop.mini_phone_day[mini] >= 0]
    parts += [
        _ids("wecom", "unionid", take(pop.unionid, w_uid), take(pid, w_uid)),
        _ids("wecom", "phone", take(pop.phone11, w_phone), take(pid, w_phone)),
        _ids("miniprogram", "openid", take(pop.openid, mini), take(pid, mini)),
        _ids("miniprogram", "unionid", take(pop.unionid, m_uid), take(pid, m_uid)),
        _ids("miniprogram", "phone", take(pop.phone11, m_phone), take(pid, m_phone)),
    ]
    # junk phones appear on many member records: keep the first row of each value
    parts = [_first_of_each(part) for part in parts]
    table = pa.concat_tables(parts)
    return table.cast(pa.schema([(name, pa.large_string()) for name in table.column_names]))


def _first_of_each(part: pa.Table) -> pa.Table:
    """The rows of ``part`` (one source and id type) with an id_value not seen in an earlier
    row."""
    codes = pc.dictionary_encode(part["id_value"]).combine_chunks().indices.to_numpy()
    if len(np.unique(codes)) == len(codes):
        return part
    first = np.sort(np.unique(codes, return_index=True)[1])
    return part.take(pa.array(first))


def _date_col(pop: Population, day: np.ndarray, valid: np.ndarray) -> pa.Array:
    dates = np.datetime64(pop.start) + day.astype("timedelta64[D]")
    return pa.array(dates.astype("datetime64[D]"), mask=~valid)


def persons_table(pop: Population) -> pa.Table:
    # churned_after is null beyond two years, but never for a churn inside a longer window
    horizon = max(config.TWO_YEARS_DAYS, pop.days)
    return pa.table(
        {
            "true_person_id": pop.person_ids,
            "persona": pa.array(np.array(config.PERSONAS)[pop.persona]),
            "churn_hazard": pop.hazard,
            "churned_after": _date_col(pop, pop.churn_day, pop.churn_day <= horizon),
            "first_seen_date": _date_col(pop, pop.arrival, np.ones(pop.n, bool)),
            "first_channel": pa.array(np.array(config.CHANNELS)[pop.channel]),
            "touches_per_week": pop.touches_total,
            "individual_touches_per_week": pop.touches_ind,
            "consent_marketing": pop.consent,
            "unsubscribed_date": _date_col(pop, pop.unsub_day, pop.unsub_day >= 0),
            "has_crm": pop.crm_day >= 0,
            "has_wecom": pop.wecom_day >= 0,
            "has_miniprogram": pop.mini_day >= 0,
            "n_member_records": np.bincount(pop.mem_person, minlength=pop.n),
            "unlinkable": pop.unlinkable,
        }
    )


def experiments_table(pop: Population) -> pa.Table:
    rows = []
    for e, ex in enumerate(pop.experiments):
        d = int(pop.exp_send_day[e])
        if d < 0:
            continue
        for v, name in enumerate(("control", "treatment")):
            assigned = int((pop.exp_variant[e] == v).sum())
            rows.append(
                {
                    "experiment_id": ex.experiment_id,
                    "variant": name,
                    "true_conversion_rate": ex.control_rate + ex.lift * v,
                    "true_lift": ex.lift if v else 0.0,
                    "window_days": ex.window_days,
                    "campaign_id": ex.campaign_id,
                    "scenario": ex.scenario,
                    "channel": "wecom_1v1" if ex.channel == "wecom" else "sms",
                    "content_type": ex.treatment_content if v else ex.control_content,
                    "send_date": pop.start + dt.timedelta(days=d),
                    "assigned_users": assigned,
                }
            )
    schema = pa.schema(
        [
            ("experiment_id", pa.string()),
            ("variant", pa.string()),
            ("true_conversion_rate", pa.float64()),
            ("true_lift", pa.float64()),
            ("window_days", pa.int64()),
            ("campaign_id", pa.string()),
            ("scenario", pa.string()),
            ("channel", pa.string()),
            ("content_type", pa.string()),
            ("send_date", pa.date32()),
            ("assigned_users", pa.int64()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def interaction_effect(pop: Population) -> dict:
    return {
        "description": (
            "Daily churn hazard = persona base x lognormal(0, sigma) x exp(-beta * effective "
            "touches/week); effective = min(cap, min(t, knee) + tail * max(t - knee, 0)), t = "
            "expected outbound touches per week (individual WeCom/SMS sends + customer-group mass "
            "sends). The daily session probability is also multiplied by 1 + session_lift_per_touch * "
            "min(t, cap). Persons keep being touched after churning, but never act again."
        ),
        "beta": config.TOUCH_BETA,
        "knee": config.TOUCH_KNEE,
        "tail": config.TOUCH_TAIL,
        "cap": config.TOUCH_CAP,
        "hazard_sigma": config.HAZARD_SIGMA,
        "base_hazard": dict(zip(config.PERSONAS, config.BASE_HAZARD.tolist(), strict=True)),
        "session_lift_per_touch": config.SESSION_LIFT_PER_TOUCH,
        "group_sends_per_week_per_group": (
            config.GROUP_SENDS_PER_WEEK if pop.shape.interactions else 0.0
        ),
        "reply_within_2h_share": float(config.REPLY_MIX[0]),
        "reply_late_share": float(config.REPLY_MIX[1]),
        "reply_never_share": float(config.REPLY_MIX[2]),
        "mean_touches_per_week": float(pop.touches_total.mean()),
    }


def write_truth(pop: Population, out: pathlib.Path, mess: config.MessConfig) -> dict[str, int]:
    truth = out / "_truth"
    truth.mkdir(parents=True, exist_ok=True)
    tables = {
        "identities": identities_table(pop),
        "persons": persons_table(pop),
        "experiments": experiments_table(pop),
        **plants_activation.truth_tables(pop),
    }
    for name, table in tables.items():
        pq.write_table(table, truth / f"{name}.parquet", compression="zstd")
    meta = interaction_effect(pop)
    (truth / "interaction_effect.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (truth / "activation_plants.json").write_text(
        json.dumps(plants_activation.truth_summary(pop), indent=2) + "\n", encoding="utf-8"
    )
    mess_dict = {k: getattr(mess, k) for k in mess.__dataclass_fields__}
    (truth / "mess.json").write_text(json.dumps(mess_dict, indent=2) + "\n", encoding="utf-8")
    plants_measurement.write_truth(pop, truth)
    return {name: t.num_rows for name, t in tables.items()}
