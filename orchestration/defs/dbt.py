"""dbt models as Dagster assets, daily-partitioned so incremental facts process one window."""

import os
from contextlib import contextmanager

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from orchestration.lib.dbt_args import dbt_build_args, dbt_vars
from orchestration.lib.dbt_translator import SiyuDbtTranslator
from orchestration.lib.partitions import run_window
from orchestration.lib.resources import SiyuSettingsResource
from orchestration.lib.settings import DBT_PROJECT_DIR

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> None:
    """Parse the dbt project once if no manifest exists yet (`make` parses on every setup)."""
    if not project.manifest_path.exists():
        project.preparer.prepare(project)


# Models that read the Python model outputs (schema ml) run in a second dbt step after them.
AFTER_ML_SELECTOR = "tag:after_ml"


def build_dbt_assets() -> list[dg.AssetsDefinition]:
    """Two dbt steps: everything up to the marts, then the models over the ML outputs.

    dbt models are unpartitioned assets (each holds the current state); incremental models take
    the day window of the partitioned run they run in (`run_window`), so a one-day run costs a
    day's work and a backfill range is one dbt invocation.
    """
    ensure_manifest()
    return [
        _dbt_step("siyu_dbt", exclude=AFTER_ML_SELECTOR),
        _dbt_step("siyu_dbt_after_ml", select=AFTER_ML_SELECTOR),
    ]


def _dbt_step(name: str, select: str = "fqn:*", exclude: str = "") -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=DBT_PROJECT.manifest_path,
        project=DBT_PROJECT,
        select=select,
        exclude=exclude,
        dagster_dbt_translator=SiyuDbtTranslator(),
        name=name,
    )
    def _dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, siyu: SiyuSettingsResource):
        window = run_window(context.run.tags)
        start, end = window if window else (None, None)
        vars_ = dbt_vars(start, end)
        # profiles.yml reads the warehouse path from the environment of the dbt subprocess,
        # which copies os.environ when it starts: set it for that moment only.
        with _environment(siyu.dbt_env()):
            invocation = dbt.cli(dbt_build_args(vars_), context=context, raise_on_error=False)
        # Stream every event before judging the build: failing tests come back as failed
        # checks, and the step fails cleanly once dbt has exited (nothing downstream runs).
        yield from invocation.stream()
        if not invocation.is_successful():
            failed = [
                r["unique_id"]
                for r in invocation.get_artifact("run_results.json")["results"]
                if r["status"] in ("fail", "error")
            ]
            raise dg.Failure(
                description=f"dbt build failed: {len(failed)} node(s) failed or errored: "
                + ", ".join(failed[:10]),
                metadata={"failed": dg.MetadataValue.md("\n".join(f"- {f}" for f in failed))},
            )

    return _dbt


@contextmanager
def _environment(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
