"""The run-failure sensor on a real failed Dagster run: the alert line, and the WeCom robot message
POSTed to a real HTTP server on 127.0.0.1 (the webhook key never lands in the file or the logs)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from orchestration.defs.alerts import RUN_FAILURE_SENSOR_NAME, alert_on_run_failure
from orchestration.lib.resources import SiyuSettingsResource
from orchestration.lib.settings import WECOM_WEBHOOK_ENV, alerts_path
from tests.conftest import make_settings

WEBHOOK_KEY = "0123abcd-secret-robot-key"


class RobotServer:
    """A WeCom group robot stand-in: records every POST and answers with `status` and `reply`."""

    def __init__(self, status: int = 200, reply: bytes = b'{"errcode":0,"errmsg":"ok"}'):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                outer.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers["Content-Type"],
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/cgi-bin/webhook/send?key={WEBHOOK_KEY}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@dg.op
def load_the_day():
    raise ValueError("crm/2026-05-03/orders.csv row 17: 订单金额 is not a number: 'abc'")


@dg.job
def failing_daily():
    load_the_day()


def _evaluate_sensor_on_a_failed_run(settings, instance):
    result = failing_daily.execute_in_process(
        instance=instance, raise_on_error=False, tags={"dagster/partition": "2026-05-03"}
    )
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR_NAME,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"siyu": SiyuSettingsResource(**settings.as_strings())},
    ).for_run_failure()
    alert_on_run_failure(context)
    return result


def _alerts(settings) -> list[dict]:
    lines = alerts_path(settings.data_dir).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_a_failed_run_is_recorded_and_posted_to_the_wecom_robot(tmp_path, monkeypatch, caplog):
    settings = make_settings(tmp_path)
    with RobotServer() as robot, dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setenv(WECOM_WEBHOOK_ENV, robot.url)
        caplog.set_level(logging.DEBUG)
        result = _evaluate_sensor_on_a_failed_run(settings, instance)

    [request] = robot.requests
    assert request["path"] == f"/cgi-bin/webhook/send?key={WEBHOOK_KEY}"
    assert request["content_type"].startswith("application/json")
    assert request["body"]["msgtype"] == "markdown"
    content = request["body"]["markdown"]["content"]
    assert "failing_daily" in content
    assert result.run_id in content
    assert "2026-05-03" in content
    assert "`load_the_day`" in content
    assert "orders.csv row 17: 订单金额 is not a number" in content

    [alert] = _alerts(settings)
    assert alert["run_id"] == result.run_id
    assert alert["job"] == "failing_daily"
    assert alert["partition"] == "2026-05-03"
    assert alert["wecom"] == "sent"
    [step] = alert["failed_steps"]
    assert step["step"] == "load_the_day"
    assert step["error"].startswith("ValueError: crm/2026-05-03/orders.csv row 17")
    assert "load_the_day" in alert["error"]
    # the robot's key is a secret: not in the alert file, not in any log record
    assert WEBHOOK_KEY not in alerts_path(settings.data_dir).read_text(encoding="utf-8")
    assert WEBHOOK_KEY not in caplog.text


def test_a_robot_that_fails_is_a_warning_and_the_alert_is_still_recorded(
    tmp_path, monkeypatch, caplog
):
    settings = make_settings(tmp_path)
    with (
        RobotServer(status=500, reply=b"boom") as robot,
        dg.DagsterInstance.ephemeral() as instance,
    ):
        monkeypatch.setenv(WECOM_WEBHOOK_ENV, robot.url)
        caplog.set_level(logging.WARNING)
        _evaluate_sensor_on_a_failed_run(settings, instance)
    assert len(robot.requests) == 1
    [alert] = _alerts(settings)
    assert alert["wecom"] == "HTTP 500"
    assert "not delivered" in caplog.text and WECOM_WEBHOOK_ENV in caplog.text
    assert WEBHOOK_KEY not in caplog.text


def test_an_unreachable_robot_never_raises(tmp_path, monkeypatch, caplog):
    settings = make_settings(tmp_path)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(WECOM_WEBHOOK_ENV, f"http://127.0.0.1:{port}/send?key={WEBHOOK_KEY}")
    caplog.set_level(logging.WARNING)
    with dg.DagsterInstance.ephemeral() as instance:
        _evaluate_sensor_on_a_failed_run(settings, instance)
    [alert] = _alerts(settings)
    assert alert["wecom"].startswith("URLError")
    assert WEBHOOK_KEY not in caplog.text
    assert WEBHOOK_KEY not in alerts_path(settings.data_dir).read_text(encoding="utf-8")


@pytest.mark.parametrize("value", [None, "", "  "])
def test_without_a_webhook_the_alert_is_only_recorded(tmp_path, monkeypatch, value):
    settings = make_settings(tmp_path)
    if value is None:
        monkeypatch.delenv(WECOM_WEBHOOK_ENV, raising=False)
    else:
        monkeypatch.setenv(WECOM_WEBHOOK_ENV, value)
    with dg.DagsterInstance.ephemeral() as instance:
        _evaluate_sensor_on_a_failed_run(settings, instance)
        _evaluate_sensor_on_a_failed_run(settings, instance)
    alerts = _alerts(settings)
    assert [a["wecom"] for a in alerts] == ["not configured", "not configured"]
    assert alerts[0]["run_id"] != alerts[1]["run_id"]


def test_the_sensor_is_registered_and_runs_by_default(tmp_path):
    from orchestration.definitions import build_definitions

    sensor = build_definitions(make_settings(tmp_path)).resolve_sensor_def(RUN_FAILURE_SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # the webhook is read at send time: it is no part of any resource's config
    assert WECOM_WEBHOOK_ENV not in json.dumps(make_settings(tmp_path).as_strings())
