"""Inbound message intent (ml/intent.py, ml/workflows/intent.py): the char n-gram model trained on
the hand-written seed examples recovers the generator's planted intents on texts it never saw,
and the workflow classifies only what a model version has not classified yet."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from datagen.plants_intent import (
    GROUP_MIX,
    P_WANTS_UNSUBSCRIBE,
    POOL_PER_INTENT,
    SINGLE_MIX,
    pool_intents,
    text_pool,
)
from ml.intent import (
    ACCURACY_GOAL,
    INTENTS,
    IntentClassifier,
    check_examples,
    evaluate,
    model_version,
    normalise_text,
)
from ml.workflows.contract import ml_frame
from ml.workflows.intent import TABLE, score_intents, train_intent_model
from warehouse.messages import read_intent_examples

# the generator's pool for a seed the seed examples were never compared with (seed 1 was the
# development sample: docs/metrics.md, "Inbound intent")
HELD_OUT_SEED = 7


@pytest.fixture(scope="module")
def examples() -> pd.DataFrame:
    return read_intent_examples()


@pytest.fixture(scope="module")
def model(examples) -> IntentClassifier:
    return IntentClassifier().fit(examples["example_text"], examples["intent"])


def planted_sample(seed: int, n: int = 6000) -> pd.DataFrame:
    """Messages drawn like the generator draws them: the 1:1 / group mix (about 80% of inbound
    messages are 1:1), a few percent unsubscribe requests, texts from the seed's pool."""
    rng = np.random.default_rng(seed)
    texts = text_pool(seed)
    group = rng.random(n) < 0.2
    mix = np.where(group[:, None], GROUP_MIX, SINGLE_MIX)
    intent = (rng.random(n)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1)
    intent = np.where(~group & (rng.random(n) < P_WANTS_UNSUBSCRIBE), 4, np.minimum(intent, 3))
    index = intent * POOL_PER_INTENT + rng.integers(0, POOL_PER_INTENT, n)
    return pd.DataFrame({"text": [texts[i] for i in index], "intent": pool_intents(index)})


def test_normalise_text():
    assert normalise_text("  ＴＤ　退订！！ ") == "td 退订!!"
    assert normalise_text("Ｈｉ，在吗？") == "hi,在吗?"
    assert normalise_text(None) == "" and normalise_text(float("nan")) == ""


def test_seed_examples_are_valid_and_cover_every_intent(examples):
    check_examples(examples["example_text"].tolist(), examples["intent"].tolist())
    counts = examples["intent"].value_counts()
    assert set(counts.index) == set(INTENTS) and counts.min() >= 50
    assert not examples["example_text"].duplicated().any()


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        (["好的", "  "], ["chit_chat", "chit_chat"], "example row 2: empty text"),
        (["好的", "退订"], ["chit_chat", "unsubscribe"], "example row 2: unknown intent"),
        (["好的"], ["chit_chat"], "no example of intent(s): purchase_intent"),
    ],
)
def test_bad_examples_are_refused_with_the_row(texts, labels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        IntentClassifier().fit(texts, labels)


def test_planted_intents_recovered_on_held_out_texts(model, examples):
    sample = planted_sample(HELD_OUT_SEED)
    # held out: no example is one of the generator's texts (single words such as "ok" aside)
    seen = set(map(normalise_text, examples["example_text"]))
    overlap = sample["text"].map(normalise_text).isin(seen).mean()
    assert overlap < 0.01
    result = evaluate(sample["intent"], model.predict(sample["text"]))
    assert result.accuracy > ACCURACY_GOAL, result.confusion
    # every intent is recognised, not only the frequent ones, and the task is not trivial
    assert (result.per_class["recall"] > 0.7).all(), result.per_class
    assert result.accuracy < 0.99


def test_classify_gives_the_intent_and_its_probability(model):
    texts = [
        "别再给我发消息了😡",
        "这款面霜还有货吗，我要两瓶",
        "快递一周了还没到，怎么回事",
        "",
        "谢谢",
    ]
    out = model.classify(texts)
    assert list(out.columns) == ["intent", "confidence"] and len(out) == len(texts)
    proba = model.predict_proba(texts)
    assert np.allclose(out["confidence"], proba.max(axis=1))
    assert (out["intent"].to_numpy() == model.predict(texts)).all()
    assert out["intent"].iloc[0] == "unsubscribe_request"
    assert out["intent"].iloc[1] == "purchase_intent"
    assert out["intent"].iloc[2] == "after_sales_complaint"
    assert out["confidence"].between(1 / len(INTENTS), 1).all()
    empty = model.classify([])
    assert empty.empty and list(empty.columns) == ["intent", "confidence"]


def test_estimator_api_and_determinism(model, examples):
    again = clone(model).fit(examples["example_text"], examples["intent"])
    texts = planted_sample(3, 300)["text"]
    assert np.allclose(again.predict_proba(texts), model.predict_proba(texts))
    assert model.get_params()["ngram_range"] == (1, 3)
    assert set(model.classes_) == set(INTENTS)


def test_model_version_follows_examples_and_parameters(examples):
    texts, labels = examples["example_text"].tolist(), examples["intent"].tolist()
    params = IntentClassifier().get_params()
    version = model_version(texts, labels, params)
    assert version.startswith("intent-") and version == model_version(texts, labels, params)
    assert model_version(texts[:-1] + ["另一句"], labels, params) != version
    assert model_version(texts, labels, {**params, "C": 1.0}) != version


def test_evaluate_counts_the_confusion():
    true = ["question", "question", "chit_chat", "unsubscribe_request"]
    pred = ["question", "chit_chat", "chit_chat", "after_sales_complaint"]
    result = evaluate(true, pred)
    assert result.accuracy == 0.5 and result.messages == 4
    assert list(result.confusion.index) == list(INTENTS) == list(result.confusion.columns)
    assert result.confusion.loc["question", "chit_chat"] == 1
    assert result.confusion.to_numpy().sum() == 4
    per = result.per_class
    assert per.loc["question", "recall"] == 0.5 and per.loc["chit_chat", "precision"] == 0.5
    assert np.isnan(per.loc["purchase_intent", "recall"])


def test_workflow_classifies_every_message_then_only_new_ones(examples):
    messages = pd.DataFrame(
        {"msgid": ["m1", "m2", "m3"], "content": ["退订", "这个多少钱，我要买", "谢谢"]}
    )
    asked: list = []

    def read(version):
        asked.append(version)
        return messages if version is None else messages.iloc[2:]

    at = pd.Timestamp("2026-06-01 06:00")
    first = score_intents(examples, read, None, at)
    assert first.replace and asked == [None] and len(first.frame) == 3
    assert first.frame.dtypes.to_dict() == ml_frame(TABLE).dtypes.to_dict()
    assert first.frame["intent"].tolist()[0] == "unsubscribe_request"
    assert first.takeover_rows >= 1 and first.intent_counts.sum() == 3
    _, version = train_intent_model(examples)
    assert (first.frame["model_version"] == version).all() == (first.model_version == version)
    second = score_intents(examples, read, version, at)
    assert not second.replace and asked[-1] == version and second.frame["msgid"].tolist() == ["m3"]
    # an edited seed is another model: every message again
    edited = pd.concat(
        [
            examples,
            pd.DataFrame({"example_text": ["不想要推送"], "intent": ["unsubscribe_request"]}),
        ]
    )
    third = score_intents(edited, read, version, at)
    assert third.replace and third.model_version != version and len(third.frame) == 3
