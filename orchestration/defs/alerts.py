"""Alerts on failed runs: a JSON line in <data>/alerts/alerts.jsonl, and a WeCom group-robot
message when SIYU_WECOM_WEBHOOK_URL is set."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg

from orchestration.lib.failures import error_text
from orchestration.lib.partitions import (
    PARTITION_RANGE_END_TAG,
    PARTITION_RANGE_START_TAG,
    PARTITION_TAG,
)
from orchestration.lib.resources import SiyuSettingsResource
from orchestration.lib.settings import WECOM_WEBHOOK_ENV, alerts_path, wecom_webhook_url

RUN_FAILURE_SENSOR_NAME = "alert_on_run_failure"
WEBHOOK_TIMEOUT_S = 10
# WeCom refuses markdown content over 4,096 bytes
WECOM_MARKDOWN_MAX_BYTES = 4096

logger = logging.getLogger(__name__)


def failure_alert(context: dg.RunFailureSensorContext) -> dict[str, object]:
    """What failed: run id, job, partition or range, each failed step with its reason, and the
    run's own failure message."""
    run = context.dagster_run
    steps = [
        {"step": event.step_key, "error": error_text(event.step_failure_data.error)}
        for event in context.get_step_failure_events()
    ]
    return {
        "alerted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get(PARTITION_TAG)
        or " .. ".join(
            run.tags[tag]
            for tag in (PARTITION_RANGE_START_TAG, PARTITION_RANGE_END_TAG)
            if run.tags.get(tag)
        ),
        "failed_steps": steps,
        "error": " ".join((context.failure_event.message or "").split()),
    }


def wecom_markdown(alert: dict[str, object]) -> str:
    """The alert as a WeCom markdown message (a group robot shows `<font color>` and quotes)."""
    lines = [
        f'**Siyu run failed**: job <font color="warning">{alert["job"]}</font>',
        f"> run: {alert['run_id']}",
    ]
    if alert.get("partition"):
        lines.append(f"> partition: {alert['partition']}")
    for step in alert["failed_steps"] or []:
        lines.append(f"> step `{step['step']}`: {step['error']}")
    if not alert["failed_steps"]:
        lines.append(f"> {alert['error']}")
    text = "\n".join(lines)
    encoded = text.encode()
    if len(encoded) > WECOM_MARKDOWN_MAX_BYTES:
        text = encoded[: WECOM_MARKDOWN_MAX_BYTES - 20].decode(errors="ignore") + "\n> (cut)"
    return text


def record_alert(path: Path, alert: dict[str, object]) -> None:
    """Append the alert as one JSON line (one write, so concurrent writers never interleave)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(alert, ensure_ascii=False, sort_keys=True) + "\n")


def send_wecom(url: str, content: str, timeout_s: float = WEBHOOK_TIMEOUT_S) -> str:
    """POST a markdown message to a WeCom group robot; never raises. Returns `sent`, or why not
    (a warning is logged). The URL holds the robot's key: it is never logged or returned."""
    body = json.dumps({"msgtype": "markdown", "markdown": {"content": content}}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            reply = response.read(65536)
    except urllib.error.HTTPError as exc:
        outcome = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        outcome = f"{type(exc).__name__}: {reason}".replace(url, f"${WECOM_WEBHOOK_ENV}")
    else:
        # the robot answers 200 with {"errcode": 0} when it accepted the message
        try:
            errcode = json.loads(reply or b"{}").get("errcode", 0)
        except (ValueError, AttributeError):
            errcode = None
        outcome = "sent" if errcode == 0 else f"refused (errcode {errcode})"
    if outcome != "sent":
        logger.warning("run-failure alert not delivered to %s: %s", WECOM_WEBHOOK_ENV, outcome)
    return outcome


@dg.run_failure_sensor(
    name=RUN_FAILURE_SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run of this code location in <data>/alerts/alerts.jsonl "
    f"and posts it to the WeCom group robot of {WECOM_WEBHOOK_ENV} when that is set.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, siyu: SiyuSettingsResource):
    alert = failure_alert(context)
    url = wecom_webhook_url()
    alert["wecom"] = send_wecom(url, wecom_markdown(alert)) if url else "not configured"
    record_alert(alerts_path(siyu.data_dir), alert)
    context.log.info(
        f"alert recorded for run {alert['run_id']} ({alert['job']}): wecom {alert['wecom']}"
    )
