"""Activation: the restricted WeCom mass-send export of the day's next best actions.

The export holds raw external_userids, so it is written under SIYU_RESTRICTED_DIR (default
<data>/restricted), owner-only, and never published with the marts. The plan itself
(marts.next_best_actions) is a dbt model; the rules are the seed interaction_response_matrix.
"""

import dagster as dg

from orchestration.defs.publication import GATE_KEY
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from privacy.wecom_export import export_mass_send

EXPORT_KEY = dg.AssetKey(["activation", "wecom_mass_send_export"])
NBA_KEY = dg.AssetKey(["marts", "next_best_actions"])


def build_activation_assets(daily: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=EXPORT_KEY,
        deps=[NBA_KEY, GATE_KEY],
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="activation",
        kinds={"python", "json"},
        description="The day's wecom_1v1 next best actions as externalcontact/add_msg_template "
        "request bodies, one per sending staff member and action. Holds raw "
        "external_userids: written to the restricted folder, never published. Runs only "
        "after the quality gate passed.",
    )
    def wecom_mass_send_export(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ) -> dg.MaterializeResult:
        with warehouse.connect(read_only=True) as con:
            export = export_mass_send(
                con, siyu.restricted_dir, default_date=context.partition_time_window.end.date()
            )
        per_sender = export.recipients_per_sender
        return dg.MaterializeResult(
            metadata={
                "action_date": export.action_date,
                "path": dg.MetadataValue.path(str(export.path)),
                "requests": len(export.payloads),
                "recipients": int(per_sender.sum()) if len(per_sender) else 0,
                "senders": len(per_sender),
                "wecom_1v1_actions": export.wecom_1v1_actions,
                "without_staff_relationship": len(export.unsent),
                "recipients_per_sender": dg.MetadataValue.md(
                    per_sender.to_frame().to_markdown() if len(per_sender) else "(none)"
                ),
            }
        )

    return [wecom_mass_send_export]
