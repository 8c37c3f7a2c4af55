import dagster as dg

from orchestration.defs.automation import complete_days
from tests.conftest import make_settings


def test_complete_days_need_all_three_sources(tmp_path):
    for source in ("crm", "wecom", "miniprogram"):
        (tmp_path / source / "2026-05-01").mkdir(parents=True)
    (tmp_path / "crm" / "2026-05-02").mkdir()
    assert complete_days(tmp_path) == ["2026-05-01"]


def test_sensor_requests_each_new_day_once(tmp_path):
    from orchestration.definitions import build_definitions

    settings = make_settings(tmp_path)
    for source in ("crm", "wecom", "miniprogram"):
        (settings.landing_dir / source / "2026-05-01").mkdir(parents=True)
    defs = build_definitions(settings)
    sensor = next(s for s in defs.sensors if s.name == "new_landing_day")
    with dg.build_sensor_context(resources={"siyu": defs.resources["siyu"]}) as ctx:
        first = list(sensor(ctx))
        assert [r.partition_key for r in first if isinstance(r, dg.RunRequest)] == ["2026-05-01"]
        ctx.update_cursor(ctx.cursor)
        again = list(sensor(ctx))
        assert not [r for r in again if isinstance(r, dg.RunRequest)]


def test_sensor_waits_only_for_the_configured_sources(tmp_path):
    """A CRM-only brand (SIYU_SOURCES=crm) runs as soon as the CRM has landed a day."""
    from orchestration.definitions import build_definitions

    settings = make_settings(tmp_path, SIYU_SOURCES="crm")
    (settings.landing_dir / "crm" / "2026-05-01").mkdir(parents=True)
    (settings.landing_dir / "crm" / "2026-05-02").mkdir(parents=True)
    defs = build_definitions(settings)
    sensor = next(s for s in defs.sensors if s.name == "new_landing_day")
    with dg.build_sensor_context(resources={"siyu": defs.resources["siyu"]}) as ctx:
        requested = [r.partition_key for r in sensor(ctx) if isinstance(r, dg.RunRequest)]
    assert requested == ["2026-05-01", "2026-05-02"]
    # the same tree with all three sources configured waits for wecom and miniprogram
    assert complete_days(settings.landing_dir) == []
    assert complete_days(settings.landing_dir, ("crm", "wecom")) == []
