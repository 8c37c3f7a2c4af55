"""Write, audit, publish: a blocking quality-suite check on every published table, and the
publication step that runs only when every check of the run passed."""

from pathlib import Path

import dagster as dg
import pandas as pd

from data_quality.results import audit_tables
from data_quality.runner import list_suites
from ml.workflows.promotions import promoted_models
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from publishing import publish, record_blocked
from publishing.serving import audited_check_summary
from warehouse.bounds import data_end
from warehouse.connection import duckdb_config

PUBLICATION_KEY = dg.AssetKey(["serving", "publication"])
SUITE_CHECK = "quality_suite"


def mart_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", table])


def published_tables(asset_keys: set[dg.AssetKey]) -> list[str]:
    """Contract tables that have a quality suite and exist in this code location."""
    return [t for t in list_suites() if mart_key(t) in asset_keys]


GATE_KEY = dg.AssetKey(["audit", "quality_gate"])


def suite_check_name(table: str) -> str:
    return f"{table}_suite"


def _suite_markdown(result) -> str:
    failed = [r for r in result.results if not r["success"]]
    rows = failed or result.results
    return "\n".join(
        ["| expectation | column | observed | unexpected % |", "|---|---|---|---|"]
        + [
            f"| {r['expectation']} | {r.get('column') or ''} | {str(r.get('observed_value'))[:40]} "
            f"| {r.get('unexpected_percent') if r.get('unexpected_percent') is not None else ''} |"
            for r in rows[:40]
        ]
    )


def build_quality_gate(tables: list[str]) -> dg.AssetsDefinition:
    """The audit step: every quality suite runs here, each a blocking check, after every mart of
    the run is built. Checks live on this gate (not on the marts) so a failure blocks exactly the
    publication and never cuts a dbt step in half."""
    specs = [
        dg.AssetCheckSpec(
            suite_check_name(t),
            asset=GATE_KEY,
            blocking=True,
            description=f"Suite data_quality/suites/{t}.json on marts.{t}",
        )
        for t in tables
    ]

    @dg.asset(
        key=GATE_KEY,
        deps=[mart_key(t) for t in tables],
        check_specs=specs,
        group_name="serving",
        kinds={"greatexpectations"},
        description="Runs the Great Expectations suite of every published table (results in "
        "audit.validation_results); any failure blocks publication.",
    )
    def quality_gate(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ):
        # what the brand has decides which expectations apply (an empty fct_interactions is
        # valid without WeCom and the mini-program; scores only once a model is promoted)
        brand = {"sources": list(siyu.source_list), "models": promoted_models(siyu.models_dir)}
        with warehouse.connect() as con:
            as_of = (data_end(con) - pd.Timedelta(days=1)).date()
            audit = audit_tables(con, tables, context.run.run_id, as_of=as_of, context=brand)
        results, reasons, summary = audit.results, audit.reasons, audit.summary()
        if reasons:
            # the publication step will not run: the log records the blocked attempt and why
            record_blocked(
                Path(siyu.serving_path).parent / "publications",
                run_id=context.run.run_id,
                check_summary=audit.check_summary(),
            )
        yield dg.MaterializeResult(
            metadata={
                "as_of": str(as_of),
                "sources": ", ".join(brand["sources"]),
                "promoted_models": ", ".join(brand["models"]) or "none",
                "suites": len(tables),
                "suites_failed": int((~summary["passed"]).sum()),
                "summary": dg.MetadataValue.md(summary.to_markdown()),
            }
        )
        for table, r in results.items():
            if isinstance(r, Exception):
                yield dg.AssetCheckResult(
                    check_name=suite_check_name(table),
                    passed=False,
                    metadata={"error": f"{type(r).__name__}: {r}"},
                )
                continue
            yield dg.AssetCheckResult(
                check_name=suite_check_name(table),
                passed=bool(r.success),
                description=None if r.success else reasons[table],
                metadata={
                    "table": f"marts.{table}",
                    "expectations": r.n_expectations,
                    "failed": r.n_failed,
                    "not_applicable": dg.MetadataValue.md(
                        "\n".join(f"- {line}" for line in r.not_applicable) or "none"
                    ),
                    "as_of": str(as_of),
                    "error": r.error or "",
                    "results": dg.MetadataValue.md(_suite_markdown(r)),
                },
            )

    return quality_gate


def build_publication_asset(tables: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        key=PUBLICATION_KEY,
        deps=[GATE_KEY, *[mart_key(t) for t in tables]],
        group_name="serving",
        kinds={"duckdb", "parquet"},
        description="Publishes the audited marts atomically to data/serving.duckdb (schema marts), "
        "data/published/*.parquet and, when SIYU_PG_DSN is set, PostgreSQL schema marts.",
    )
    def publication(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, siyu: SiyuSettingsResource
    ) -> dg.MaterializeResult:
        # Belt and braces: the gate's blocking checks already stop this step; it re-reads this
        # run's stored results so a suite that did not run also blocks.
        with warehouse.connect(read_only=True) as con:
            summary = audited_check_summary(con, context.run.run_id, tables)
        failed = sorted(t for t, s in summary.items() if not s["passed"])
        versions_dir = Path(siyu.serving_path).parent / "publications"
        if failed:
            record_blocked(versions_dir, run_id=context.run.run_id, check_summary=summary)
            raise dg.Failure(
                description=f"publication blocked, served files unchanged; failed "
                f"checks: {', '.join(failed)}",
                metadata={"failed_tables": ", ".join(failed)},
            )
        pub = publish(
            warehouse.path,
            tables,
            serving_path=siyu.serving_path,
            published_dir=siyu.published_dir,
            versions_dir=versions_dir,
            run_id=context.run.run_id,
            check_summary=summary,
            keep_versions=siyu.publish_keep_versions,
            pg_dsn=siyu.read_pg_dsn(),
            pg_readers=siyu.pg_reader_roles,
            # SIYU_DUCKDB_MEMORY_LIMIT holds for the publication's copies too
            duckdb_config=duckdb_config(warehouse.memory_limit, warehouse.temp_directory),
        )
        return dg.MaterializeResult(
            metadata={
                "version": pub.version,
                "tables": len(pub.row_counts),
                "rows": sum(pub.row_counts.values()),
                "seconds": pub.duration_seconds,
                "postgresql": pub.pg_schema or "not configured",
                "serving_path": str(siyu.serving_path),
                "row_counts": dg.MetadataValue.md(
                    pd.Series(pub.row_counts, name="rows")
                    .rename_axis("table")
                    .to_frame()
                    .to_markdown()
                ),
            }
        )

    return publication
