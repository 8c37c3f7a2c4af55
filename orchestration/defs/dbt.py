"""dbt models as Dagster assets, daily-partitioned so incremental facts process one window."""

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from ingestion.entities import ENTITIES
from ingestion.loader import ensure_raw_tables
from orchestration.lib.dbt_args import dbt_build_args, dbt_window_env
from orchestration.lib.dbt_metadata import event_relation, with_table_metadata
from orchestration.lib.dbt_translator import SiyuDbtTranslator
from orchestration.lib.partitions import run_window
from orchestration.lib.resources import SiyuSettingsResource, WarehouseResource
from orchestration.lib.settings import DBT_PROJECT_DIR
from warehouse.tables import relation_profiles

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> None:
    """Parse the dbt project if its manifest is missing or older than any model, macro, seed or
    project file: the asset graph is built from the manifest, and a model added since the last
    parse would otherwise be unknown to Dagster when dbt runs it."""
    manifest = project.manifest_path
    project_dir = Path(project.project_dir)
    if not manifest.exists() or _newest_source_mtime(project_dir) > manifest.stat().st_mtime:
        DbtCliResource(project_dir=str(project_dir), dbt_executable=dbt_executable()).cli(
            ["parse", "--quiet"], target_path=manifest.parent
        ).wait()


def dbt_executable() -> str:
    """dbt from the environment that runs the platform (the virtualenv), else from PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for folder in ("models", "macros", "seeds", "tests", "plugins"):
        for path in (project_dir / folder).rglob("*"):
            if path.suffix in (".sql", ".yml", ".yaml", ".csv", ".py"):
                newest = max(newest, path.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        if (project_dir / name).exists():
            newest = max(newest, (project_dir / name).stat().st_mtime)
    return newest


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
    def _dbt(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        siyu: SiyuSettingsResource,
        warehouse: WarehouseResource,
    ):
        missing = [e for e in ENTITIES if e.source not in siyu.source_list]
        if missing:
            # systems the brand does not have: empty raw tables keep every model building
            with warehouse.connect() as con:
                for entity in missing:
                    ensure_raw_tables(con, entity)
            context.log.info(
                f"sources not configured (SIYU_SOURCES={siyu.sources}): "
                f"{', '.join(sorted({e.source for e in missing}))} read as empty"
            )
        window = run_window(context.run.tags)
        start, end = window if window else (None, None)
        # profiles.yml reads the warehouse path, and the dbt-duckdb plugin the salt and the run
        # window, from the environment of the dbt subprocess, which copies os.environ when it
        # starts: set them for that moment only.
        env = {**siyu.dbt_env(), **dbt_window_env(start, end)}
        with _environment(env, unset=() if start else WINDOW_ENV):
            invocation = dbt.cli(dbt_build_args({}), context=context, raise_on_error=False)
        # Stream every event before judging the build: failing tests come back as failed
        # checks, and the step fails cleanly once dbt has exited (nothing downstream runs).
        # Each materialisation carries its table's row count and column schema with types
        # (`dagster/row_count`, `dagster/column_schema`), read once dbt has exited and released
        # the file (orchestration/lib/dbt_metadata.py says why not dagster-dbt's fetchers).
        # Column lineage is left out: the dbt docs (`make docs`) draw it.
        events = list(invocation.stream())
        release_adapter_connections(invocation)
        relations = [r for r in (event_relation(e, invocation.manifest) for e in events) if r]
        profiles = {}
        if relations:
            with warehouse.connect(read_only=True) as con:
                profiles = relation_profiles(con, relations)
        yield from with_table_metadata(events, invocation.manifest, profiles)
        if invocation.is_successful():
            keep_partial_parse(Path(invocation.target_path))
        # each invocation leaves its artifacts in its own target folder (about 6 MB): keep the
        # latest few for debugging, never let them grow without bound
        prune_invocation_targets(Path(invocation.target_path).parent, keep=KEEP_DBT_TARGETS)
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


def release_adapter_connections(invocation) -> None:
    """Close the connections dagster-dbt opened in this process to read row counts and column
    types: DuckDB allows one writer per file, and a connection left open here would keep the next
    dbt step (and the Python assets) from opening the build database."""
    adapter = invocation.adapter
    if adapter is None:
        return
    adapter.cleanup_connections()
    # dbt-duckdb keeps one database handle per process beyond the connections, until its
    # environment is closed
    manager = type(adapter.connections)
    if hasattr(manager, "close_all_connections"):
        try:
            environment = manager.env()
        except Exception:  # no environment was created: nothing is open
            environment = None
        if environment is not None:
            environment.close()
        manager.close_all_connections()


def dbt_target_root() -> Path:
    """The project's target folder: DBT_TARGET_PATH (relative to the project), default target.
    dagster-dbt puts each invocation's folder under it."""
    target_root = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    return target_root if target_root.is_absolute() else Path(DBT_PROJECT.project_dir) / target_root


def keep_partial_parse(invocation_target: Path) -> Path | None:
    """Make this invocation's parse state the one the next invocation starts from.

    dagster-dbt gives each invocation its own target folder and seeds it with the
    `partial_parse.msgpack` of the project's target folder (DBT_TARGET_PATH, default
    dbt_project/target). That file is written by `dbt parse` under another profile environment,
    so dbt would re-parse the whole project on every run (10-25 s here). The state of the last
    successful invocation has the run's own profile and environment: the next run re-parses only
    what changed since.
    """
    source = invocation_target / "partial_parse.msgpack"
    if not source.exists():
        return None
    target_root = dbt_target_root()
    target_root.mkdir(parents=True, exist_ok=True)
    destination = target_root / "partial_parse.msgpack"
    staged = destination.with_suffix(f".{os.getpid()}.tmp")
    staged.write_bytes(source.read_bytes())
    os.replace(staged, destination)  # a concurrent reader sees the old state or the new one
    return destination


# dbt invocation folders kept under dbt_project/target (the newest; older ones are removed).
KEEP_DBT_TARGETS = 6


def prune_invocation_targets(target_root: Path, keep: int, min_age_s: float = 3600) -> list[Path]:
    """Remove all but the `keep` newest per-invocation folders (`siyu_dbt*`) under target_root;
    a folder touched within `min_age_s` may belong to a dbt still running, and stays."""
    import shutil
    import time

    folders = sorted(
        (p for p in target_root.glob("siyu_dbt*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    now = time.time()
    removed = [p for p in folders[keep:] if now - p.stat().st_mtime >= min_age_s]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


WINDOW_ENV = ("SIYU_DBT_WINDOW_START", "SIYU_DBT_WINDOW_END")


@contextmanager
def _environment(values: dict[str, str], unset: tuple[str, ...] = ()):
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    for k in unset:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
