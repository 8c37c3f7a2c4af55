"""Activation: the restricted WeCom mass-send export of the day's next best actions.

The export holds raw external_userids, so it is written under SIYU_RESTRICTED_DIR (default
<data>/restricted), owner-only, and never published with the marts. The plan itself
(marts.next_best_actions) is a dbt model; the rules are the seed interaction_response_matrix.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.defs.publication import GATE_KEY
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from privacy.wecom_export import build_mass_send_payloads

EXPORT_KEY = dg.AssetKey(["activation", "wecom_mass_send_export"])
NBA_KEY = dg.AssetKey(["marts", "next_best_actions"])
EXPORT_SUBDIR = "wecom_mass_send"


def export_dir(restricted_dir: str | Path) -> Path:
    return Path(restricted_dir) / EXPORT_SUBDIR


def write_export(restricted_dir: str | Path, action_date: str, payloads: list[dict]) -> Path:
    """`<restricted>/wecom_mass_send/<action_date>.json`, readable by the owner only."""
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


def build_activation_assets(daily: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=EXPORT_KEY, deps=[NBA_KEY, GATE_KEY], partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(), group_name="activation",
        kinds={"python", "json"},
        description="The day's wecom_1v1 next best actions as externalcontact/add_msg_template "
                    "request bodies, one per sending staff member and action. Holds raw "
                    "external_userids: written to the restricted folder, never published. Runs only "
                    "after the quality gate passed.",
    )
    def wecom_mass_send_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                               siyu: SiyuSettingsResource) -> dg.MaterializeResult:
        with warehouse.connect(read_only=True) as con:
            nba = con.execute("select person_id, action_date, action, channel "
                              "from marts.next_best_actions").df()
            identity = con.execute("select id_type, id_value, person_id from intermediate.identity_map "
                                   "where id_type = 'external_userid' and person_id is not null").df()
            contacts = con.execute("select external_userid, staff_userid, added_at "
                                   "from staging.stg_wecom__external_contacts").df()
            templates = dict(con.execute("select action, min(message_template) from "
                                         "seeds.interaction_response_matrix group by action").fetchall())
        if len(nba):
            action_date = pd.Timestamp(nba["action_date"].max()).date().isoformat()
        else:
            action_date = (context.partition_time_window.end.date()).isoformat()
        payloads, unsent = build_mass_send_payloads(nba, identity, contacts, templates)
        path = write_export(siyu.restricted_dir, action_date, payloads)
        per_sender = (pd.DataFrame([{"sender": p["sender"], "recipients": len(p["external_userid"])}
                                    for p in payloads], columns=["sender", "recipients"])
                      .groupby("sender")["recipients"].sum())
        return dg.MaterializeResult(metadata={
            "action_date": action_date,
            "path": dg.MetadataValue.path(str(path)),
            "requests": len(payloads),
            "recipients": int(per_sender.sum()) if len(per_sender) else 0,
            "senders": len(per_sender),
            "wecom_1v1_actions": int((nba["channel"] == "wecom_1v1").sum()),
            "without_staff_relationship": len(unsent),
            "recipients_per_sender": dg.MetadataValue.md(
                per_sender.to_frame().to_markdown() if len(per_sender) else "(none)"),
        })

    return [wecom_mass_send_export]
