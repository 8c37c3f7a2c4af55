"""The reason of a failed step, in one line: shared by the console (`siyu run`) and the alerts."""

from __future__ import annotations


def error_text(error) -> str:
    """The reason of a step failure from its `SerializableErrorInfo`: a dg.Failure's description,
    or the innermost cause of an exception the step raised (not Dagster's "Error occurred while
    executing op" wrapper), whitespace folded to one line."""
    if error is None:
        return "no error recorded"
    while error.cause is not None and "Error occurred while executing" in error.message:
        error = error.cause
    text = " ".join(error.message.split())
    return text.removeprefix("dagster._core.definitions.events.Failure: ")
