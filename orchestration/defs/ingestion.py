"""Ingestion: one daily-partitioned asset per source extract, landing files -> raw DuckDB tables."""

from pathlib import Path

import dagster as dg

from ingestion.entities import ENTITIES, Entity
from ingestion.loader import ensure_raw_tables, load_days
from orchestration.lib.dbt_translator import raw_asset_key
from orchestration.lib.partitions import days_in_window
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from privacy.suppression import load as load_suppression


def build_ingestion_asset(
    entity: Entity, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(entity.table),
        name=None,
        group_name="ingestion",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"duckdb", entity.fmt},
        description=f"{entity.description} Landing: `{entity.source}/<day>/{entity.name}*.{entity.ext}`.",
        tags={"siyu/source": entity.source},
    )
    def _ingest(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        siyu: SiyuSettingsResource,
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        days = days_in_window(window.start, window.end)
        if entity.source not in siyu.source_list:
            # A brand without this system: an empty raw table keeps every model building.
            with warehouse.connect() as con:
                ensure_raw_tables(con, entity)
            status = f"source not configured (SIYU_SOURCES={siyu.sources})"
            context.log.info(f"raw.{entity.table}: {status}")
            return dg.MaterializeResult(
                metadata={
                    "status": status,
                    "rows_loaded": 0,
                    "days": len(days),
                    "table": f"raw.{entity.table}",
                }
            )
        results, errors = [], []
        with warehouse.connect() as con:
            # erased persons (PIPL art. 47) stay out of every later load
            suppressed = load_suppression(
                con,
                siyu.read_hash_salt(),
                Path(siyu.data_dir) / "privacy" / "suppression_list.jsonl",
            )
            result = load_days(
                con, entity, days, Path(siyu.landing_dir), Path(siyu.quarantine_dir), suppressed
            )
            results.append(result)
            errors.extend(result.errors)
            for line in result.errors:
                context.log.error(line)
            for line in result.warnings:
                # a file or folder the loader does not read (misnamed, not a YYYY-MM-DD day)
                context.log.warning(line)
        if errors:
            # One line per failed file; none of the range is replaced, the previous load stays.
            raise dg.Failure(
                description=errors[0]
                if len(errors) == 1
                else f"{len(errors)} files failed: {errors[0]} ...",
                metadata={"errors": dg.MetadataValue.md("\n".join(f"- {e}" for e in errors))},
            )
        rows = sum(r.rows_loaded for r in results)
        quarantined = sum(r.rows_quarantined for r in results)
        files = [f for r in results for f in r.files]
        days_with_files = len({f["day"] for f in files})
        return dg.MaterializeResult(
            metadata={
                "status": f"{days_with_files} of {len(days)} day(s) had files",
                "ignored_paths": dg.MetadataValue.md(
                    "\n".join(f"- {w}" for r in results for w in r.warnings) or "none"
                ),
                "rows_loaded": rows,
                "rows_quarantined": quarantined,
                "bytes_read": sum(r.bytes_read for r in results),
                "files": len(files),
                "days": len(days),
                "encodings": ", ".join(
                    sorted({f.get("encoding", "") for f in files if f.get("encoding")})
                )
                or "none",
                "file_list": dg.MetadataValue.md(_files_markdown(files)),
                "table": f"raw.{entity.table}",
            }
        )

    return _ingest


def _files_markdown(files: list[dict]) -> str:
    if not files:
        return "No files landed for this partition."
    lines = ["| file | status | encoding | rows | rejected | bytes |", "|---|---|---|---|---|---|"]
    for f in files[:50]:
        lines.append(
            f"| {f['file']} | {f['status']} | {f.get('encoding', '')} | {f.get('rows', '')} "
            f"| {f.get('rejected', '')} | {f.get('bytes', '')} |"
        )
    return "\n".join(lines)


def ingestion_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [build_ingestion_asset(e, partitions_def) for e in ENTITIES]
