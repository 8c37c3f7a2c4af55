"""The restricted WeCom mass-send export: the day's wecom_1v1 next best actions as request bodies
of `externalcontact/add_msg_template` (群发), one per sending staff member and action.

`build_mass_send_payloads` is pure (frames in, payloads out). The bodies carry raw
external_userids, so this module also owns where they may be written: `write_export` puts them in
the restricted folder only (owner-only, never next to the published marts), and `export_dir` is
the one place erasure (`privacy.erasure.scrub_mass_send_exports`) looks for them.
`export_mass_send` reads the inputs from the build database, builds and writes, in that order.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

# add_msg_template takes at most 10,000 external_userids per request
MAX_RECIPIENTS = 10_000
#: The exports' folder under the restricted folder (SIYU_RESTRICTED_DIR).
EXPORT_SUBDIR = "wecom_mass_send"


def choose_senders(identity_map: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """person_id -> (external_userid, sender): the staff member who added the person first
    (ties by staff id), over every external_userid of the person."""
    ext = identity_map.loc[
        (identity_map["id_type"] == "external_userid") & identity_map["person_id"].notna(),
        ["person_id", "id_value"],
    ]
    ext = ext.rename(columns={"id_value": "external_userid"})
    rel = ext.merge(contacts[["external_userid", "staff_userid", "added_at"]], on="external_userid")
    rel = rel[rel["staff_userid"].notna() & (rel["staff_userid"] != "")]
    rel = rel.sort_values(
        ["person_id", "added_at", "staff_userid", "external_userid"], na_position="last"
    )
    return rel.drop_duplicates("person_id")[["person_id", "external_userid", "staff_userid"]]


def build_mass_send_payloads(
    nba: pd.DataFrame, identity_map: pd.DataFrame, contacts: pd.DataFrame, templates: dict[str, str]
) -> tuple[list[dict], pd.DataFrame]:
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
    rows = rows[rows["staff_userid"].notna()].sort_values(
        ["staff_userid", "action", "external_userid"]
    )
    payloads: list[dict] = []
    for (sender, action), group in rows.groupby(["staff_userid", "action"], sort=True):
        users = group["external_userid"].drop_duplicates().tolist()
        for start in range(0, len(users), MAX_RECIPIENTS):
            payloads.append(
                {
                    "chat_type": "single",
                    "external_userid": users[start : start + MAX_RECIPIENTS],
                    "sender": sender,
                    "text": {"content": templates.get(action, action)},
                }
            )
    return payloads, unsent


def export_dir(restricted_dir: str | Path) -> Path:
    """Where the mass-send exports live: `<restricted>/wecom_mass_send/`."""
    return Path(restricted_dir) / EXPORT_SUBDIR


def write_export(restricted_dir: str | Path, action_date: str, payloads: list[dict]) -> Path:
    """`<restricted>/wecom_mass_send/<action_date>.json`, readable by the owner only. Written to a
    temporary file and renamed, so a reader never sees half an export."""
    target_dir = export_dir(restricted_dir)
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(Path(restricted_dir), 0o700)
    os.chmod(target_dir, 0o700)
    path = target_dir / f"{action_date}.json"
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payloads, fh, ensure_ascii=False, indent=1)
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class MassSendInputs:
    """What the export is built from, as read from the build database."""

    nba: pd.DataFrame  # person_id, action_date, action, channel (marts.next_best_actions)
    identity_map: pd.DataFrame  # id_type, id_value, person_id: the persons' external_userids
    contacts: pd.DataFrame  # external_userid, staff_userid, added_at (WeCom follow_user records)
    templates: dict[str, str]  # action -> message text (interaction_response_matrix)


def read_mass_send_inputs(con: duckdb.DuckDBPyConnection) -> MassSendInputs:
    """The day's next best actions, the resolved external_userids, the staff relationships and
    the message templates (one per action: the matrix may repeat an action per segment)."""
    nba = con.execute(
        "select person_id, action_date, action, channel from marts.next_best_actions"
    ).df()
    identity = con.execute(
        "select id_type, id_value, person_id from intermediate.identity_map "
        "where id_type = 'external_userid' and person_id is not null"
    ).df()
    contacts = con.execute(
        "select external_userid, staff_userid, added_at from staging.stg_wecom__external_contacts"
    ).df()
    templates = dict(
        con.execute(
            "select action, min(message_template) from seeds.interaction_response_matrix "
            "group by action"
        ).fetchall()
    )
    return MassSendInputs(nba, identity, contacts, templates)


@dataclass(frozen=True)
class MassSendExport:
    """One written export: its day and file, the request bodies, and who was left out."""

    action_date: str  # ISO date
    path: Path
    payloads: list[dict]
    unsent: pd.DataFrame  # person_id, action: wecom_1v1 actions without a staff relationship
    wecom_1v1_actions: int

    @property
    def recipients_per_sender(self) -> pd.Series:
        """Recipients per sending staff member (index `sender`)."""
        frame = pd.DataFrame(
            [
                {"sender": p["sender"], "recipients": len(p["external_userid"])}
                for p in self.payloads
            ],
            columns=["sender", "recipients"],
        )
        return frame.groupby("sender")["recipients"].sum()


def export_mass_send(
    con: duckdb.DuckDBPyConnection, restricted_dir: str | Path, default_date: dt.date
) -> MassSendExport:
    """Read the inputs, build the request bodies and write them to the restricted folder. The
    export is named by the actions' day (`default_date`, the day after the run's window, when
    there are no actions)."""
    inputs = read_mass_send_inputs(con)
    nba = inputs.nba
    if len(nba):
        action_date = pd.Timestamp(nba["action_date"].max()).date().isoformat()
    else:
        action_date = default_date.isoformat()
    payloads, unsent = build_mass_send_payloads(
        nba, inputs.identity_map, inputs.contacts, inputs.templates
    )
    path = write_export(restricted_dir, action_date, payloads)
    return MassSendExport(
        action_date=action_date,
        path=path,
        payloads=payloads,
        unsent=unsent,
        wecom_1v1_actions=int((nba["channel"] == "wecom_1v1").sum()),
    )
