import datetime as dt

import pandas as pd

from reporting.daily import ReportInputs, write_report


def _inputs(value: float) -> ReportInputs:
    days = pd.date_range("2026-05-01", periods=20, freq="D")
    return ReportInputs(
        report_date=dt.date(2026, 5, 20),
        publication_version="v000003-20260521T060000Z",
        kpis=pd.DataFrame(
            {
                "kpi": ["interaction_rate", "churn_rate"],
                "value": [value, 0.2],
                "target": [0.35, 0.25],
                "status": ["green", "green"],
                "trailing_28d": [0.3, 0.2],
                "change_pct": [0.1, 0.0],
                "is_anomaly": [False, False],
            }
        ),
        registrations=pd.DataFrame(
            {
                "date": list(days) * 2,
                "channel": ["store"] * 20 + ["wecom"] * 20,
                "registrations": range(40),
            }
        ),
        retention=pd.DataFrame(
            {
                "day_n": [1, 2, 1, 2],
                "cohort_channel": ["store", "store", "wecom", "wecom"],
                "retention": [0.2, 0.1, 0.3, 0.2],
                "cohort_size": [300] * 4,
            }
        ),
    )


def test_reports_are_named_versioned_indexed_and_log_their_changes(tmp_path):
    first = write_report(_inputs(0.40), tmp_path)
    second = write_report(_inputs(0.45), tmp_path)
    assert (
        first.name == "2026-05-20_RPT_daily_v1.md" and second.name == "2026-05-20_RPT_daily_v2.md"
    )
    assert first.exists()  # the earlier version stays in the archive
    text = second.read_text(encoding="utf-8")
    assert "v000003-20260521T060000Z" in text
    assert (
        "interaction_rate 0.400 -> 0.450" in text
        and "churn_rate" not in text.split("## Change log")[1]
    )
    for chart in ("registrations_trend", "registrations_by_channel", "retention_curves"):
        png = tmp_path / f"2026-05-20_RPT_daily_v2_{chart}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png.name})" in text
    index = (tmp_path / "index.md").read_text(encoding="utf-8")
    assert index.index("RPT_daily_v2.md") < index.index("RPT_daily_v1.md")


def _with_kpi(inputs: ReportInputs, kpi: str, value: float | None, status: str) -> ReportInputs:
    value = float("nan") if value is None else value  # a not_measured KPI's value is null
    row = pd.DataFrame(
        {
            "kpi": [kpi],
            "value": [value],
            "target": [0.1],
            "status": [status],
            "trailing_28d": [None],
            "change_pct": [None],
            "is_anomaly": [False],
        }
    )
    inputs.kpis = pd.concat([inputs.kpis, row], ignore_index=True)
    return inputs


def _change_log(path) -> str:
    return path.read_text(encoding="utf-8").split("## Change log")[1]


def test_a_kpi_not_measured_in_both_versions_is_unchanged(tmp_path):
    write_report(_with_kpi(_inputs(0.40), "response_rate", None, "not_measured"), tmp_path)
    second = write_report(_with_kpi(_inputs(0.40), "response_rate", None, "not_measured"), tmp_path)
    log = _change_log(second)
    assert "response_rate" not in log and "nan" not in log
    assert "- v2: regenerated; no KPI value changed." in log


def test_a_kpi_value_that_appears_or_disappears_is_a_change(tmp_path):
    write_report(
        _with_kpi(
            _with_kpi(_inputs(0.40), "response_rate", None, "not_measured"),
            "repeat_rate",
            0.3,
            "green",
        ),
        tmp_path,
    )
    second = write_report(
        _with_kpi(
            _with_kpi(_inputs(0.40), "response_rate", 0.25, "green"),
            "repeat_rate",
            None,
            "not_measured",
        ),
        tmp_path,
    )
    log = _change_log(second)
    assert "- v2: response_rate not measured -> 0.250" in log
    assert "- v2: repeat_rate 0.300 -> not measured" in log
    assert "interaction_rate" not in log and "nan" not in log
