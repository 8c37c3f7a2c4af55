"""Every brand shape publishes, with the right numbers, and leaks no secret (the shared part of
tests/integration/test_shapes_*.py, which split the shapes so test workers run them side by side).

Each shape is generated (`siyu generate --sources ... --experiments N --no-interactions --days D`)
and run as `siyu run` runs it (the same function, in-process) with `SIYU_SOURCES` set to the
brand's systems and a canary salt. All three systems over 180 days is
the demo (tests/integration/test_demo_run.py).
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from data_quality.runner import list_suites
from datagen.evaluation import pairwise_scores
from orchestration.cli import main as siyu
from tests.conftest import make_settings
from tests.reference_metrics import (
    Facts,
    assert_frames_match,
    expected_engagement,
    expected_retention_cohorts,
    expected_retention_summary,
    expected_rfm,
)

CANARY = "shape-canary-salt-'{{ 6 * 7 }}"
INTERACTION_KPIS = {
    "interaction_rate",
    "community_share",
    "touches_per_user_week",
    "over_touch_3d_share",
    "over_touch_7d_share",
    "sla_2h_breach_rate",
}


@dataclass(frozen=True)
class Shape:
    name: str
    sources: str
    days: int
    persons: int = 300
    options: tuple[str, ...] = ()
    interactions: bool = True
    experiments: bool = True

    def generate_args(self, out: Path) -> list[str]:
        return [
            "generate", "--persons", str(self.persons), "--days", str(self.days),
            "--start", "2026-05-01", "--seed", "7", "--sources", self.sources,
            "--out", str(out), "--no-progress", *self.options,
        ]  # fmt: skip


SHAPES = [
    Shape("crm_only", "crm", days=120),
    Shape("crm_wecom", "crm,wecom", days=100),
    Shape("crm_miniprogram_no_experiment", "crm,miniprogram", days=100,
          options=("--experiments", "0"), experiments=False),
    Shape("no_interaction_source", "crm", days=120, options=("--no-interactions",),
          interactions=False, experiments=False),
    Shape("thirty_days", "crm,wecom,miniprogram", days=30),
    Shape("two_years", "crm", days=730, persons=200),
]  # fmt: skip


@dataclass
class ShapeRun:
    shape: Shape
    data: Path
    returncode: int
    console: str
    stored: list[str] = field(default_factory=list)  # runs and their events, as Dagster holds them
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def published(self, table: str) -> pd.DataFrame:
        if table not in self.tables:
            with duckdb.connect(str(self.data / "serving.duckdb"), read_only=True) as con:
                frame = con.execute(f"select * from marts.{table}").df()
            for column in frame.columns:
                if column.endswith("_date") or column in ("date", "cohort_week"):
                    frame[column] = pd.to_datetime(frame[column]).dt.date
            self.tables[table] = frame
        return self.tables[table]


def shapes_fixture(names: list[str]):
    """The module-scoped `shape_run` fixture over the named shapes (one run per shape)."""
    chosen = [s for s in SHAPES if s.name in names]
    assert len(chosen) == len(names), names
    return pytest.fixture(scope="module", params=chosen, ids=lambda s: s.name, name="shape_run")(
        run_shape
    )


def run_shape(request, tmp_path_factory) -> ShapeRun:
    """Generate the shape, then run what `siyu run` runs (orchestration.cli.run_platform) on an
    ephemeral Dagster instance: the same jobs, dbt and models, with run storage in memory so a
    year of daily partitions does not cost minutes of SQLite writes."""
    import dagster as dg

    from orchestration.cli import landed_days, run_platform

    shape: Shape = request.param
    data = tmp_path_factory.mktemp(shape.name)
    assert siyu(shape.generate_args(data / "landing")) == 0
    env = pytest.MonkeyPatch()
    env.setenv("SIYU_HASH_SALT", CANARY)  # read where it is used, and by the dbt subprocess
    env.delenv("DAGSTER_HOME", raising=False)
    settings = make_settings(data, SIYU_SOURCES=shape.sources, SIYU_HASH_SALT=CANARY)
    days = landed_days(settings.landing_dir, settings.sources)
    console = io.StringIO()
    try:
        with dg.DagsterInstance.ephemeral() as instance, redirect_stderr(console):
            code = run_platform(settings, days[0], days[-1], instance)
            stored = [
                repr(entry)
                for run in instance.get_runs()
                for entry in [run, *instance.all_logs(run.run_id)]
            ]
    finally:
        env.undo()
    return ShapeRun(shape, data, code, console.getvalue(), stored=stored)


def _summary(run: ShapeRun) -> str:
    return "\n".join(line for line in run.console.splitlines() if line.startswith("siyu"))


def test_the_shape_publishes_every_contract_table(shape_run):
    assert shape_run.returncode == 0, _summary(shape_run)
    assert "siyu run: published v" in shape_run.console, _summary(shape_run)
    with duckdb.connect(str(shape_run.data / "serving.duckdb"), read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        versions = con.execute("select count(*) from marts._publication").fetchone()[0]
    assert set(list_suites()) <= tables
    assert versions == 1
    assert {p.stem for p in (shape_run.data / "published").glob("*.parquet")} >= set(list_suites())
    assert list((shape_run.data / "reports").glob("*_RPT_daily_v1.md"))
    assert list((shape_run.data / "reports").glob("*_REG_registrations_v1.html"))
    # the only sources loaded are the brand's own
    sources = set(shape_run.published("dim_users").columns)
    assert {"has_crm", "has_wecom", "has_miniprogram"} <= sources
    users = shape_run.published("dim_users")
    assert users["has_crm"].any()
    for source in ("wecom", "miniprogram"):
        if source not in shape_run.shape.sources:
            assert not users[f"has_{source}"].any(), source


def test_identities_resolve_against_the_planted_truth(shape_run):
    truth = pd.read_parquet(shape_run.data / "landing" / "_truth" / "identities.parquet")
    with duckdb.connect(str(shape_run.data / "warehouse.duckdb"), read_only=True) as con:
        predicted = con.execute(
            "select id_type, id_value, person_id from intermediate.identity_map"
        ).df()
    scores = pairwise_scores(predicted, truth)
    # a few hundred persons: one wrongly merged pair already costs a point of precision
    assert scores["precision"] >= 0.98 and scores["recall"] >= 0.98, scores


def _facts(run: ShapeRun) -> Facts:
    users = run.published("dim_users")
    orders = run.published("fct_orders")
    inter = run.published("fct_interactions")
    inter = inter[inter["person_id"].notna()]
    return Facts(users, orders, inter)


def test_rfm_and_retention_equal_an_independent_computation(shape_run):
    facts = _facts(shape_run)
    expected = expected_rfm(facts)
    rfm = shape_run.published("user_rfm")
    # a row for every day from the first purchase to the last day with any activity
    first_purchase = min(d for days in facts.purchase_days.values() for d in days)
    assert sorted(rfm["as_of_date"].unique()) == [d for d in facts.calendar if d >= first_purchase]
    assert_frames_match(
        rfm,
        expected[
            ["person_id", "as_of_date", "recency_days", "frequency", "monetary", "r_score",
             "f_score", "m_score", "rfm_tier", "rfm_segment"]
        ],
        ["person_id", "as_of_date"],
    )  # fmt: skip
    assert_frames_match(
        shape_run.published("retention_cohorts"),
        expected_retention_cohorts(facts),
        ["cohort_date", "cohort_channel", "day_n"],
    )
    assert_frames_match(
        shape_run.published("retention_summary"),
        expected_retention_summary(facts),
        ["cohort_week", "cohort_channel"],
    )


def test_engagement_equals_an_independent_computation(shape_run):
    facts = _facts(shape_run)
    engagement = shape_run.published("engagement_daily")
    expected = expected_engagement(facts, shape_run.published("fct_interactions"))
    columns = ["date", "total_users", "interacting_users", "touches", "touched_users",
               "over_touch_3d_users", "over_touch_7d_users", "community_share"]  # fmt: skip
    assert_frames_match(engagement, expected[columns], ["date"])


def test_kpis_without_a_source_are_not_measured_never_red(shape_run):
    kpis = shape_run.published("kpi_daily")
    last = kpis[kpis["date"] == kpis["date"].max()].set_index("kpi")
    interaction = last.loc[last.index.isin(INTERACTION_KPIS)]
    if shape_run.shape.interactions:
        assert (interaction["status"] != "not_measured").any()
    else:
        assert set(interaction.index) == INTERACTION_KPIS
        assert (interaction["status"] == "not_measured").all()
        assert interaction["value"].isna().all()
    assert not ((kpis["status"] == "red") & kpis["value"].isna()).any()


def test_experiments_only_where_one_runs(shape_run):
    results = shape_run.published("experiment_results")
    if not shape_run.shape.experiments:
        assert results.empty
        assert shape_run.published("fct_interactions")["experiment_id"].isna().all()


def test_models_score_or_say_why_not(shape_run):
    scores = shape_run.published("user_churn_scores")
    if shape_run.shape.days < 90:
        # too little history for two monthly snapshots: no churn model, marts still published
        assert scores.empty
        assert "not enough history" in shape_run.console
    if not scores.empty:
        assert len(scores) == len(shape_run.published("dim_users"))
    segments = shape_run.published("user_segments")
    assert len(segments) == len(shape_run.published("dim_users"))
    forecast = shape_run.published("registration_forecast")
    if not forecast.empty:
        # the forecast starts the day after the last loaded day
        last_day = max(shape_run.published("dim_users")["first_seen_date"])
        assert min(forecast["date"]) > last_day


def test_no_file_the_run_leaves_and_no_console_line_holds_the_salt(shape_run):
    assert CANARY not in shape_run.console
    assert shape_run.stored and not [e for e in shape_run.stored if CANARY in e]
    needle = CANARY.encode()
    leaked = [
        str(p)
        for p in shape_run.data.rglob("*")
        if p.is_file() and not p.is_symlink() and needle in p.read_bytes()
    ]
    assert not leaked, leaked


def test_the_console_ends_with_what_was_published_where(shape_run):
    tail = [line for line in shape_run.console.splitlines() if line.startswith("siyu run:")][-5:]
    text = "\n".join(tail)
    for what in ("serving DuckDB", "Parquet folder", "report"):
        assert what in text, text
