"""The activation plants (datagen/plants_activation.py) use their own draws: without them the
extracts are the bytes the generator wrote before them; with them, only the incident's sends are
added and only the planted persons' session times move, within their day; the truth files match
the extracts."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from datagen import plants_activation, plants_intent
from datagen.generate import MessConfig, generate
from datagen.plants_measurement import is_planted_file
from tests.datagen.extracts import read_crm, read_jsonl

START = dt.date(2026, 5, 1)
TZ = pd.Timedelta(hours=8)
# the extracts of `generate(300, 20, START, 3, out, workers=1)` (the default shape) before the
# plants existed (commit cb88c21, this install's pyarrow/numpy/pandas), _truth/ left out
EXTRACTS_300x20_SEED3_SHA256 = "02fe69931f70d5bcc59ade7f51719922bb6b6ca603579dbe059d1bcc59b9eaad"


def extracts_hash(root: pathlib.Path) -> str:
    h = hashlib.sha256()
    # the measurement plants' files (datagen/plants_measurement.py) are extra files of their own
    paths = (
        p
        for p in root.rglob("*")
        if p.is_file() and "_truth" not in p.parts and not is_planted_file(p.name)
    )
    for path in sorted(paths):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def no_intent_texts(pop, d, seed, person, room):
    """The intent plant off (datagen/plants_intent.py): every inbound message keeps the fixed
    text its old draw chose."""
    return np.full(len(person), -1, dtype=np.int64)


def test_without_the_plants_the_extracts_are_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(plants_activation, "plan", lambda pop, seed: None)
    monkeypatch.setattr(plants_intent, "plant_inbound_texts", no_intent_texts)
    generate(300, 20, START, 3, tmp_path, progress=False, workers=1)
    assert extracts_hash(tmp_path) == EXTRACTS_300x20_SEED3_SHA256


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same world with and without the plants, no mess (rows compare one to one)."""
    out = {}
    for name in ("on", "off"):
        root = tmp_path_factory.mktemp(name)
        with pytest.MonkeyPatch.context() as mp:
            if name == "off":
                mp.setattr(plants_activation, "plan", lambda pop, seed: None)
            generate(400, 40, START, 5, root, progress=False, mess=MessConfig.off(), workers=1)
        out[name] = root
    return out


def _sends(root: pathlib.Path) -> pd.DataFrame:
    wecom = pd.DataFrame(read_jsonl(root, "wecom", "campaign_sends"))
    sms = read_crm(root, "sms_sends")
    return pd.concat(
        [
            pd.DataFrame({"campaign_id": wecom.campaign_id, "day": wecom._folder, "ch": "wecom"}),
            pd.DataFrame({"campaign_id": sms["活动编号"], "day": sms._folder, "ch": "sms"}),
        ],
        ignore_index=True,
    )


def test_the_incident_only_adds_its_sends(pair):
    truth = pair["on"] / "_truth"
    plants = json.loads((truth / "activation_plants.json").read_text(encoding="utf-8"))
    incident = plants["over_touch_incident"]
    first, last = (dt.date.fromisoformat(incident[k]) for k in ("first_date", "last_date"))
    assert (first - START).days == int(0.75 * 40) and (last - first).days == 3
    on, off = _sends(pair["on"]), _sends(pair["off"])
    added = on[on.campaign_id.str.endswith(("99000", "99002"))]
    assert len(on) - len(off) == len(added) > 0
    sends = pd.read_parquet(truth / "over_touch_incident.parquet")
    assert len(sends) == len(added)
    assert set(added.day) == {(first + dt.timedelta(days=k)).isoformat() for k in range(4)}
    # one send a day to each group member still reachable: about the same persons every day
    per_day = sends.groupby("touch_date").true_person_id.nunique()
    assert per_day.min() >= 0.9 * incident["group_persons"]
    assert (sends.groupby(["true_person_id", "touch_date"]).size() == 1).all()
    assert 0.9 < sends.is_delivered.mean() < 1.0  # the usual 3% of failed sends


def _events(root: pathlib.Path) -> pd.DataFrame:
    """The simulated sessions' events (the measurement plants' click files left out)."""
    rows = [r for r in read_jsonl(root, "miniprogram", "events") if not is_planted_file(r["_file"])]
    return pd.DataFrame(rows).set_index("event_id")


def test_planted_sessions_move_within_their_day_into_the_band(pair):
    on, off = _events(pair["on"]), _events(pair["off"])
    assert on.index.equals(off.index) and (on.event_name == off.event_name).all()
    assert (on.openid == off.openid).all() and (on._folder == off._folder).all()
    day = lambda ms: (pd.to_datetime(ms, unit="ms") + TZ).dt.date  # noqa: E731
    assert (day(on.event_time) == day(off.event_time)).all()
    hours = pd.read_parquet(pair["on"] / "_truth" / "send_hours.parquet")
    ids = pd.read_parquet(pair["on"] / "_truth" / "identities.parquet")
    openids = ids[ids.id_type == "openid"].set_index("id_value").true_person_id
    person = on.openid.map(openids)
    planted = person.isin(set(hours.true_person_id))
    moved = on.event_time != off.event_time
    assert moved.any() and not (moved & ~planted).any()
    start = person.map(hours.set_index("true_person_id").preferred_start_hour)
    hour = (pd.to_datetime(on.event_time, unit="ms") + TZ).dt.hour
    in_band = (hour >= start) & (hour < start + 2)
    # after the registration day (never moved) 85% of the sessions start in the band; a session
    # of a few minutes may run past its end
    persons = pd.read_parquet(pair["on"] / "_truth" / "persons.parquet")
    first_seen = person.map(persons.set_index("true_person_id").first_seen_date)
    later = day(on.event_time) > first_seen
    assert 0.8 < in_band[planted & later].mean() < 0.95
    assert in_band[planted & moved].mean() > 0.95
