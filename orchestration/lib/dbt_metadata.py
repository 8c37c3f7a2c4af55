"""Row counts and typed column schemas on the materialisations of a dbt step.

dagster-dbt's `fetch_row_counts()` / `fetch_column_metadata()` open an adapter connection and run
queries per model, and on DuckDB they wait for dbt to exit in a loop that polls futures without
sleeping: profiled on a one-day run of 2,000 persons, 14.7 million `Future.done()` calls, 27 s of
a core taken from the dbt subprocess on a two-core machine. Here the step waits for dbt (DuckDB
allows no reader beside its writer), reads every built relation's profile in two queries
(`warehouse.tables.relation_profiles`) and attaches it to each event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dagster as dg

from warehouse.tables import RelationProfile


def event_relation(event: Any, manifest: Mapping[str, Any]) -> tuple[str, str] | None:
    """(schema, table) a dbt model's Output or AssetMaterialization was built into; None for
    check results and nodes that build no relation."""
    if not isinstance(event, (dg.Output, dg.AssetMaterialization)):
        return None
    unique_id = event.metadata.get("unique_id")
    node = manifest["nodes"].get(getattr(unique_id, "text", unique_id)) if unique_id else None
    if not node or not node.get("schema"):
        return None
    return node["schema"], node.get("alias") or node["name"]


def table_metadata(profile: RelationProfile, adapter_type: str | None) -> dict[str, Any]:
    """`dagster/row_count` (tables only), `dagster/column_schema` and the storage kind."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=data_type) for name, data_type in profile.columns]
    )
    metadata: dict[str, Any] = {"dagster/column_schema": dg.MetadataValue.table_schema(schema)}
    if profile.row_count is not None:
        metadata["dagster/row_count"] = dg.MetadataValue.int(profile.row_count)
    if adapter_type:
        metadata["dagster/storage_kind"] = dg.MetadataValue.text(adapter_type)
    return metadata


def with_table_metadata(
    events: Iterable[Any],
    manifest: Mapping[str, Any],
    profiles: Mapping[tuple[str, str], RelationProfile],
) -> Iterator[Any]:
    """Each event, with its relation's profile attached when it has one."""
    adapter_type = manifest.get("metadata", {}).get("adapter_type")
    for event in events:
        relation = event_relation(event, manifest)
        profile = profiles.get(relation) if relation else None
        if profile is None:
            yield event
        else:
            yield event.with_metadata({**event.metadata, **table_metadata(profile, adapter_type)})
