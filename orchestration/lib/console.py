"""The console logger of every job: Dagster's full log by default (the UI, the daemon, `siyu run
-v`), or one line per finished step and the warnings that matter (`siyu run`).

In progress mode every record still goes, in the full format, to `sys.stdout` as it is when the
record is written: `siyu run` points stdout at a log file for the run, with dbt's own output.
"""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

PREFIX = "siyu run:"
# Warnings printed per run in progress mode; the rest are counted (all are in the full log).
MAX_WARNING_LINES = 20
MAX_LINE_CHARS = 240
_STEP_EVENTS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED", "STEP_UP_FOR_RETRY")


class _CurrentStdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is at the time of the record (the run's log file)."""

    def __init__(self):
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stdout)
        super().emit(record)


class ProgressHandler(logging.Handler):
    """One line per finished step (with its wall time), one per warning or error a step logged
    (first line, cut at MAX_LINE_CHARS, at most MAX_WARNING_LINES a run)."""

    def __init__(self, stream=None):
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.started: dict[str, float] = {}
        self.warnings = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.progress_line(record)
            if line:
                stream = self.stream or sys.stderr
                stream.write(line + "\n")
                stream.flush()
        except Exception:  # a console line must never fail a step
            self.handleError(record)

    def progress_line(self, record: logging.LogRecord) -> str | None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        if event is not None:
            kind = event.event_type_value
            if kind not in _STEP_EVENTS:
                return None  # checks and materialisations: `siyu run` reports them after the run
            if kind == "STEP_START":
                self.started[step] = time.monotonic()
                return None
            elapsed = time.monotonic() - self.started.pop(step, time.monotonic())
            state = {"STEP_SUCCESS": "ok", "STEP_FAILURE": "FAILED"}.get(kind, kind.lower())
            return f"{PREFIX}   {state:<6} {step} ({elapsed:.1f} s)"
        if record.levelno < logging.WARNING:
            return None
        message = str(meta.get("orig_message") or record.getMessage()).strip()
        if message.startswith("Dependencies for step"):
            return None  # a step skipped after a failed one: the failure is the line that matters
        if message.startswith("Logging an `AssetObservation` instead of an `AssetCheckResult`"):
            # dagster-dbt on a test of an ephemeral model (staging/ml): the test still ran and
            # still fails the dbt step when it fails; the full log keeps the line
            return None
        self.warnings += 1
        if self.warnings > MAX_WARNING_LINES:
            return None
        first = message.splitlines()[0] if message else ""
        if len(first) > MAX_LINE_CHARS:
            first = first[: MAX_LINE_CHARS - 3] + "..."
        level = "error" if record.levelno >= logging.ERROR else "warning"
        return f"{PREFIX}   {level} {step + ': ' if step else ''}{first}"


FULL_FORMAT = "%(asctime)s - dagster - %(levelname)s - %(message)s"


@dg.logger(
    config_schema={
        "progress": dg.Field(
            bool,
            default_value=False,
            description="One line per step and the warnings on stderr; the full log on stdout.",
        ),
        "log_level": dg.Field(str, default_value="DEBUG"),
    },
    description="Dagster's full console log, or `siyu run`'s progress lines (progress: true).",
)
def siyu_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    logger = logging.Logger("siyu_console", level=config["log_level"].upper())
    full = _CurrentStdoutHandler() if config["progress"] else logging.StreamHandler(sys.stderr)
    full.setFormatter(logging.Formatter(FULL_FORMAT))
    logger.addHandler(full)
    if config["progress"]:
        logger.addHandler(ProgressHandler())
    return logger
