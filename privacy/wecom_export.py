"""The restricted WeCom mass-send export: the day's wecom_1v1 next best actions as request bodies
of `externalcontact/add_msg_template` (群发), one per sending staff member and action.

Pure: frames in, payloads out. The bodies carry raw external_userids, so the caller writes them
to the restricted folder only, never next to the published marts.
"""

from __future__ import annotations

import pandas as pd

# add_msg_template takes at most 10,000 external_userids per request
MAX_RECIPIENTS = 10_000


def choose_senders(identity_map: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """person_id -> (external_userid, sender): the staff member who added the person first
    (ties by staff id), over every external_userid of the person."""
    ext = identity_map.loc[(identity_map["id_type"] == "external_userid")
                           & identity_map["person_id"].notna(), ["person_id", "id_value"]]
    ext = ext.rename(columns={"id_value": "external_userid"})
    rel = ext.merge(contacts[["external_userid", "staff_userid", "added_at"]], on="external_userid")
    rel = rel[rel["staff_userid"].notna() & (rel["staff_userid"] != "")]
    rel = rel.sort_values(["person_id", "added_at", "staff_userid", "external_userid"], na_position="last")
    return rel.drop_duplicates("person_id")[["person_id", "external_userid", "staff_userid"]]


def build_mass_send_payloads(nba: pd.DataFrame, identity_map: pd.DataFrame, contacts: pd.DataFrame,
                             templates: dict[str, str]) -> tuple[list[dict], pd.DataFrame]:
    """Request bodies for the day's `wecom_1v1` actions, and a per-person audit of who was left
    out (no WeCom relationship with a staff member).

    nba: person_id, action, channel (next_best_actions rows); identity_map: id_type, id_value,
    person_id; contacts: external_userid, staff_userid, added_at (WeCom follow_user records);
    templates: action -> message text (the matrix's message_template).
    """
    wanted = nba.loc[nba["channel"] == "wecom_1v1", ["person_id", "action"]]
    senders = choose_senders(identity_map, contacts)
    rows = wanted.merge(senders, on="person_id", how="left")
    unsent = rows[rows["staff_userid"].isna()][["person_id", "action"]]
    rows = rows[rows["staff_userid"].notna()].sort_values(["staff_userid", "action", "external_userid"])
    payloads: list[dict] = []
    for (sender, action), group in rows.groupby(["staff_userid", "action"], sort=True):
        users = group["external_userid"].drop_duplicates().tolist()
        for start in range(0, len(users), MAX_RECIPIENTS):
            payloads.append({
                "chat_type": "single",
                "external_userid": users[start:start + MAX_RECIPIENTS],
                "sender": sender,
                "text": {"content": templates.get(action, action)},
            })
    return payloads, unsent
