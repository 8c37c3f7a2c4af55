"""The planted inbound intents (datagen/plants_intent.py) use their own draws: without them the
extracts are the bytes the generator wrote before them; with them only the texts of inbound WeCom
messages change, and the truth names every inbound message once with the intent its text says."""

from __future__ import annotations

import datetime as dt
import pathlib

import numpy as np
import pandas as pd
import pytest

from datagen import plants_intent
from datagen.generate import MessConfig, generate
from datagen.plants_intent import INTENTS, POOL_PER_INTENT, pool_intents, text_pool
from tests.datagen.extracts import read_jsonl

START = dt.date(2026, 5, 1)
PERSONS, DAYS, SEED = 600, 45, 5


def no_intent_texts(pop, d, seed, person, room):
    return np.full(len(person), -1, dtype=np.int64)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict[str, pathlib.Path]:
    out = {}
    for name in ("on", "off"):
        root = tmp_path_factory.mktemp(name)
        with pytest.MonkeyPatch.context() as mp:
            if name == "off":
                mp.setattr(plants_intent, "plant_inbound_texts", no_intent_texts)
            generate(PERSONS, DAYS, START, SEED, root, progress=False, mess=MessConfig.off())
        out[name] = root
    return out


def _messages(root: pathlib.Path) -> pd.DataFrame:
    frame = pd.DataFrame(read_jsonl(root, "wecom", "messages"))
    frame["content"] = frame["text"].map(lambda t: t["content"])
    return frame.drop(columns="text")


def test_only_the_inbound_texts_change(pair):
    on, off = _messages(pair["on"]), _messages(pair["off"])
    assert len(on) == len(off) > 500
    same = [c for c in on.columns if c != "content"]
    pd.testing.assert_frame_equal(on[same], off[same])
    inbound = on["from"].str.startswith(("wm", "wo"))
    assert (on.loc[~inbound, "content"] == off.loc[~inbound, "content"]).all()  # staff replies
    assert (on.loc[inbound, "content"] != off.loc[inbound, "content"]).mean() > 0.95
    # every other extract keeps its bytes
    for path in sorted(pair["off"].rglob("*")):
        rel = path.relative_to(pair["off"])
        if path.is_file() and "_truth" not in rel.parts and path.name != "messages.jsonl":
            assert (pair["on"] / rel).read_bytes() == path.read_bytes(), rel


def test_truth_names_every_inbound_message_with_its_texts_intent(pair):
    on = _messages(pair["on"])
    truth = pd.read_parquet(pair["on"] / "_truth" / "inbound_intents")
    inbound = on[on["from"].str.startswith(("wm", "wo"))]
    assert sorted(truth["msgid"]) == sorted(inbound["msgid"])
    assert set(truth["true_intent"]) == set(INTENTS)
    joined = truth.merge(inbound, on="msgid")
    assert ((joined["roomid"] != "") == (joined["channel"] == "wecom_group")).all()
    # the text is one the pool has for that intent
    pool = pd.DataFrame({"content": text_pool(SEED)})
    pool["intent"] = pool_intents(np.arange(len(pool)))
    allowed = pool.groupby("content")["intent"].agg(set)
    assert joined.apply(lambda r: r["true_intent"] in allowed[r["content"]], axis=1).all()
    # unsubscribe requests only in 1:1 chats, from few persons who repeat them
    unsub = joined[joined["true_intent"] == "unsubscribe_request"]
    assert (unsub["channel"] == "wecom_1v1").all() and 0 < unsub["true_person_id"].nunique() < 20
    # the planted mix of 1:1 chats, roughly
    single = joined[
        (joined["channel"] == "wecom_1v1") & (joined["true_intent"] != "unsubscribe_request")
    ]
    shares = single["true_intent"].value_counts(normalize=True)
    assert (
        abs(shares["question"] - 0.34) < 0.08 and abs(shares["after_sales_complaint"] - 0.16) < 0.06
    )


def test_the_pool_is_varied_and_noisy():
    texts = text_pool(SEED)
    assert len(texts) == len(INTENTS) * POOL_PER_INTENT
    assert len(set(texts)) > 0.6 * len(texts)
    assert text_pool(SEED) == texts and text_pool(SEED + 1) != texts
    lengths = pd.Series([len(t) for t in texts])
    assert lengths.min() <= 3 and lengths.max() >= 25  # short and long messages
    assert any("😊" in t or "[微笑]" in t for t in texts)
