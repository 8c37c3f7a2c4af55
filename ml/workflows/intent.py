"""Inbound message intents: train the intent classifier on the labelled examples (the editable
seed) and classify the inbound WeCom messages not yet classified by that model, as rows of the
typed ml.inbound_message_intents table.

The model is retrained on every run (a few hundred examples: about a second) and named by a
digest of its examples and parameters, so an unchanged seed gives the same model version and
only new messages are classified; an edited seed is a new version that classifies every message
again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ml.intent import HUMAN_TAKEOVER_INTENTS, INTENTS, IntentClassifier, model_version
from ml.workflows.contract import ml_frame

TABLE = "inbound_message_intents"
#: A prediction below this confidence is counted in the metadata as uncertain.
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True, eq=False)
class IntentScores:
    """One classification run.

    Attributes:
        frame: the new rows of ml.inbound_message_intents (every message when ``replace``).
        model_version: ``intent-<digest>`` of the examples and parameters.
        replace: True when the table is to be replaced (a new model version, or no scores yet),
            False when ``frame`` is appended (the same model: only new messages were read).
        examples: labelled examples per intent the model learned from.
        scored_at: the run's time stamp on the new rows.
    """

    frame: pd.DataFrame
    model_version: str
    replace: bool
    examples: pd.Series
    scored_at: pd.Timestamp

    @property
    def intent_counts(self) -> pd.Series:
        """New rows per intent, every intent of :data:`ml.intent.INTENTS`."""
        return self.frame["intent"].value_counts().reindex(list(INTENTS), fill_value=0)

    @property
    def takeover_rows(self) -> int:
        """New rows whose intent goes to the human takeover queue."""
        return int(self.frame["intent"].isin(HUMAN_TAKEOVER_INTENTS).sum())

    @property
    def low_confidence_share(self) -> float:
        """Share of the new rows with confidence below :data:`LOW_CONFIDENCE` (0 if none)."""
        if self.frame.empty:
            return 0.0
        return float((self.frame["confidence"] < LOW_CONFIDENCE).mean())


def train_intent_model(examples: pd.DataFrame) -> tuple[IntentClassifier, str]:
    """The classifier fitted on ``examples`` (columns example_text, intent) and its version.
    Raises ValueError naming the first bad example row (ml.intent.check_examples)."""
    model = IntentClassifier()
    texts = examples["example_text"].tolist()
    labels = examples["intent"].tolist()
    model.fit(texts, labels)
    return model, model_version(texts, labels, model.get_params())


def score_intents(
    examples: pd.DataFrame,
    read_messages: Callable[[str | None], pd.DataFrame],
    scored_version: str | None,
    scored_at: pd.Timestamp,
) -> IntentScores:
    """Train on ``examples`` and classify the messages to classify.

    Args:
        examples: the labelled examples (example_text, intent).
        read_messages: called with the model version when it equals ``scored_version`` (read
            only the messages not yet classified by it) or None (read every message); returns
            msgid, content.
        scored_version: the model version of the rows already in the table, None if empty.
        scored_at: stamped on the new rows.
    """
    model, version = train_intent_model(examples)
    same = scored_version == version
    messages = read_messages(version if same else None)
    classified = model.classify(messages["content"].tolist())
    frame = pd.DataFrame(
        {
            "msgid": messages["msgid"].to_numpy(),
            "intent": classified["intent"].to_numpy(),
            "confidence": classified["confidence"].to_numpy(),
            "model_version": version,
            "scored_at": scored_at,
        }
    )
    return IntentScores(
        frame=ml_frame(TABLE, frame),
        model_version=version,
        replace=not same,
        examples=examples["intent"].value_counts().reindex(list(INTENTS), fill_value=0),
        scored_at=scored_at,
    )
