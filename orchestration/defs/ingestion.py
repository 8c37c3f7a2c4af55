"""Ingestion: one daily-partitioned asset, `raw/extracts`, that loads a landing day's extracts
of every system the brand has (SIYU_SOURCES) into the raw DuckDB tables.

One asset, not one per extract: Dagster records two events per asset and partition (planned and
materialised), so a year of history costs 730 events here instead of 8,760 with twelve extract
assets; each extract's rows, rejects and files are in the materialisation's metadata.
"""

from pathlib import Path

import dagster as dg

from ingestion.entities import ENTITIES
from ingestion.loader import LoadResult, ensure_raw_tables, load_days
from orchestration.lib.dbt_translator import RAW_EXTRACTS_KEY
from orchestration.lib.partitions import days_in_window
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from privacy.suppression import load as load_suppression


def build_ingestion_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=RAW_EXTRACTS_KEY,
        group_name="ingestion",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"duckdb", "csv", "json"},
        description="Every extract landed for the day by the systems in SIYU_SOURCES, loaded "
        "into raw.<source>__<extract> (`<landing>/<source>/<day>/<extract>*.csv|jsonl`, "
        "datagen/FORMATS.md) and the raw lake (SIYU_LAKE_DIR: `<lake>/raw/<source>/<extract>/"
        "day=YYYY-MM-DD/*.parquet`, read by Spark and ClickHouse as they are). Rows breaking a rule go to the quarantine with file, row and rule; "
        "a file that cannot be read fails its extract for the range (its previous load stays) "
        "and the asset, after every other extract has loaded.",
    )
    def raw_extracts(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        siyu: SiyuSettingsResource,
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        days = days_in_window(window.start, window.end)
        configured = [e for e in ENTITIES if e.source in siyu.source_list]
        results: list[LoadResult] = []
        with warehouse.connect() as con:
            for entity in ENTITIES:
                # a system the brand does not have reads as empty tables downstream
                ensure_raw_tables(con, entity)
            # erased persons (PIPL art. 47) stay out of every later load
            suppressed = load_suppression(
                con,
                siyu.read_hash_salt(),
                Path(siyu.data_dir) / "privacy" / "suppression_list.jsonl",
            )
            for entity in configured:
                result = load_days(
                    con,
                    entity,
                    days,
                    Path(siyu.landing_dir),
                    Path(siyu.quarantine_dir),
                    suppressed,
                    lake_dir=siyu.lake_path,
                )
                results.append(result)
                context.log.info(
                    f"raw.{entity.table}: {result.rows_loaded} rows loaded, "
                    f"{result.rows_quarantined} quarantined, {len(result.files)} files"
                )
                for line in result.errors:
                    context.log.error(line)
                for line in result.warnings:
                    # a file or folder the loader does not read (misnamed, not a YYYY-MM-DD day)
                    context.log.warning(line)
        errors = [line for r in results for line in r.errors]
        if errors:
            # One line per failed file; the failed extracts keep their previous load.
            raise dg.Failure(
                description=errors[0]
                if len(errors) == 1
                else f"{len(errors)} files failed: {errors[0]} ...",
                metadata={"errors": dg.MetadataValue.md("\n".join(f"- {e}" for e in errors))},
            )
        files = [f for r in results for f in r.files]
        not_configured = sorted({e.source for e in ENTITIES} - set(siyu.source_list))
        return dg.MaterializeResult(
            metadata={
                "status": f"{len({f['day'] for f in files})} of {len(days)} day(s) had files",
                "sources": ", ".join(siyu.source_list),
                "sources_not_configured": ", ".join(not_configured) or "none",
                "rows_loaded": sum(r.rows_loaded for r in results),
                "rows_quarantined": sum(r.rows_quarantined for r in results),
                "bytes_read": sum(r.bytes_read for r in results),
                "files": len(files),
                "days": len(days),
                "extracts": dg.MetadataValue.md(_extracts_markdown(results)),
                "ignored_paths": dg.MetadataValue.md(
                    "\n".join(f"- {w}" for r in results for w in r.warnings) or "none"
                ),
                "encodings": ", ".join(
                    sorted({f.get("encoding", "") for f in files if f.get("encoding")})
                )
                or "none",
                "file_list": dg.MetadataValue.md(_files_markdown(files)),
            }
        )

    return raw_extracts


def _extracts_markdown(results: list[LoadResult]) -> str:
    lines = ["| table | rows loaded | rows quarantined | files |", "|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| raw.{r.entity.table} | {r.rows_loaded} | {r.rows_quarantined} | {len(r.files)} |"
        )
    return "\n".join(lines)


def _files_markdown(files: list[dict]) -> str:
    if not files:
        return "No files landed for this partition."
    lines = ["| file | status | encoding | rows | rejected | bytes |", "|---|---|---|---|---|---|"]
    for f in files[:50]:
        lines.append(
            f"| {f['file']} | {f['status']} | {f.get('encoding', '')} | {f.get('rows', '')} "
            f"| {f.get('rejected', '')} | {f.get('bytes', '')} |"
        )
    if len(files) > 50:
        lines.append(f"| ... and {len(files) - 50} more | | | | | |")
    return "\n".join(lines)


def ingestion_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [build_ingestion_asset(partitions_def)]
