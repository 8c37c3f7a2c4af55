"""The one place that maps dbt resources to Dagster assets: keys, groups, owners, tags, freshness."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from orchestration.lib.ownership import owners_for_group

RAW_KEY_PREFIX = "raw"
# Tables written by the Python model assets (schema ml), read by dbt as a source.
ML_SOURCE = "ml"


# The one ingestion asset (orchestration/defs/ingestion.py): it loads every raw table, so every
# dbt source of the raw schema is this asset.
RAW_EXTRACTS_KEY = dg.AssetKey([RAW_KEY_PREFIX, "extracts"])

# A published mart (dbt meta `published: true`) is rebuilt by the 06:00 daily run: 24 h between
# runs plus two for the run itself and a late delivery, after which BI reads yesterday's data.
PUBLISHED_MART_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=26))


class SiyuDbtTranslator(DagsterDbtTranslator):
    """dbt sources are the ingestion asset (raw/extracts, for every raw table) or the model
    outputs (ml/<table>); models are keyed `<layer>/<model>`, grouped by folder."""

    def __init__(self) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True, enable_duplicate_source_asset_keys=True
            )
        )

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            if dbt_resource_props.get("source_name") == ML_SOURCE:
                return dg.AssetKey([ML_SOURCE, dbt_resource_props["name"]])
            return RAW_EXTRACTS_KEY
        layer = _layer(dbt_resource_props)
        return dg.AssetKey([layer, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        meta_group = (dbt_resource_props.get("meta") or {}).get("dagster", {}).get("group")
        if meta_group:
            return meta_group
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "source":
            return "ingestion"
        if dbt_resource_props["resource_type"] == "seed":
            return "rules"
        layer = _layer(dbt_resource_props)
        if layer == "marts" and len(fqn) > 3:
            return f"marts_{fqn[2]}"
        if layer == "intermediate" and len(fqn) > 3:
            return fqn[2]
        return layer

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        if (dbt_resource_props.get("meta") or {}).get("published"):
            tags["siyu/published"] = ""
        return tags

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        """The model's `meta.owner`, else the team that owns its group (ownership.py)."""
        owner = (dbt_resource_props.get("meta") or {}).get("owner")
        return [owner] if owner else owners_for_group(self.get_group_name(dbt_resource_props))

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if (self.get_resource_props(manifest, unique_id).get("meta") or {}).get("published"):
            return spec.replace_attributes(freshness_policy=PUBLISHED_MART_FRESHNESS)
        return spec


def _layer(props: Mapping[str, Any]) -> str:
    if props["resource_type"] == "seed":
        return "seeds"
    fqn = props.get("fqn", [])
    return fqn[1] if len(fqn) > 2 else "models"
