"""Real small runs of the synthetic generator, checked against datagen/FORMATS.md and the truth."""

from __future__ import annotations

import datetime as dt
import pathlib

import numpy as np
import pandas as pd
import pytest

from datagen.cli import main
from datagen.config import MessConfig
from datagen.generate import generate
from tests.datagen.extracts import (
    decode_crm,
    extract_identifiers,
    read_crm,
    read_jsonl,
    tree_hash,
)

START = dt.date(2026, 5, 1)
TZ = pd.Timedelta(hours=8)


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> tuple[pathlib.Path, object]:
    out = tmp_path_factory.mktemp("messy")
    summary = generate(800, 40, START, 7, out, progress=False)
    print("\n" + summary.report())  # speed is reported, never asserted
    return out, summary


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("clean")
    generate(500, 30, START, 11, out, progress=False, mess=MessConfig.off())
    return out


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate(300, 20, START, 3, tmp_path / "a", progress=False)
    generate(300, 20, START, 3, tmp_path / "b", progress=False)
    generate(300, 20, START, 4, tmp_path / "c", progress=False)
    assert a.total_rows > 0
    assert tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b")
    assert tree_hash(tmp_path / "a") != tree_hash(tmp_path / "c")


def test_bytes_do_not_depend_on_worker_processes(tmp_path, monkeypatch):
    import datagen.generate as gen

    # small formatting calls and several day chunks, so files of many days share one call
    monkeypatch.setattr(gen, "ROWS_PER_CALL", 500)
    monkeypatch.setattr(gen, "_DIRECT_MIN", 4096)  # exercise the O_DIRECT path too
    a = generate(400, 25, START, 5, tmp_path / "a", progress=False, workers=1)
    b = generate(400, 25, START, 5, tmp_path / "b", progress=False, workers=3)
    monkeypatch.setattr(gen, "_direct_ok", False)
    generate(400, 25, START, 5, tmp_path / "c", progress=False, workers=2)
    assert a.rows == b.rows and a.bytes == b.bytes and a.files == b.files
    assert tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b") == tree_hash(tmp_path / "c")


def test_layout_and_truth_columns(messy):
    out, summary = messy
    expected = {
        "crm": {"members.csv", "orders.csv", "points.csv", "feedback.csv", "sms_sends.csv"},
        "wecom": {
            "external_contacts.jsonl",
            "group_members.jsonl",
            "messages.jsonl",
            "campaign_sends.jsonl",
        },
        "miniprogram": {"users.jsonl", "events.jsonl", "orders.jsonl"},
    }
    for source, names in expected.items():
        folders = sorted((out / source).iterdir())
        assert [f.name for f in folders] == [
            (START + dt.timedelta(days=i)).isoformat() for i in range(40)
        ]
        for folder in folders:
            assert names <= {p.name for p in folder.iterdir()}
    truth = out / "_truth"
    ids = pd.read_parquet(truth / "identities.parquet")
    assert list(ids.columns[:4]) == ["source", "id_type", "id_value", "true_person_id"]
    assert not ids.duplicated(["source", "id_type", "id_value"]).any()
    persons = pd.read_parquet(truth / "persons.parquet")
    assert {"true_person_id", "persona", "churn_hazard", "churned_after"} <= set(persons.columns)
    assert persons.true_person_id.str.fullmatch(r"P\d{6}").all()
    assert set(persons.persona) == {
        "high_value_paying",
        "content_sharing",
        "price_sensitive",
        "dormant",
    }
    exps = pd.read_parquet(truth / "experiments.parquet")
    assert {"experiment_id", "variant", "true_conversion_rate", "true_lift", "window_days"} <= set(
        exps.columns
    )
    assert (truth / "interaction_effect.json").exists()
    assert summary.rows_per_second > 0


def test_identifiers_match_truth_both_ways(messy):
    out, _ = messy
    truth = pd.read_parquet(out / "_truth" / "identities.parquet")
    in_truth = set(zip(truth.source, truth.id_type, truth.id_value, strict=True))
    in_extracts = extract_identifiers(out)
    assert in_extracts - in_truth == set()
    assert in_truth - in_extracts == set()
    junk = truth[truth.true_person_id.isna()]
    assert set(junk.id_value) <= {"13800000000", "13912345678", "18688886666", "15900001234"}
    assert "13800000000" in set(junk.id_value)
    real = truth.dropna(subset=["true_person_id"])
    # a real identifier belongs to exactly one person
    assert real.groupby(["id_type", "id_value"]).true_person_id.nunique().max() == 1
    for id_type, pattern in [
        ("external_userid", r"wm[\w-]{30}"),
        ("openid", r"o[\w-]{27}"),
        ("unionid", r"oU[\w-]{26}"),
        ("phone", r"1\d{10}"),
        ("member_id", r"M\d{7}"),
    ]:
        assert truth[truth.id_type == id_type].id_value.str.fullmatch(pattern).all(), id_type


def test_crm_encodings_vary_and_decode(messy):
    out, _ = messy
    seen = set()
    for path in out.glob("crm/*/*.csv"):
        encoding, text = decode_crm(path.read_bytes())
        seen.add(encoding)
        assert text.splitlines()[0].startswith(
            ("会员编号", "订单号", "流水号", "反馈编号", "活动编号")
        )
    assert {"gbk", "utf-8-sig", "utf-8"} <= seen


def test_no_activity_after_churn(messy):
    out, _ = messy
    truth = pd.read_parquet(out / "_truth" / "identities.parquet").dropna()
    lookup = truth.drop_duplicates(["id_type", "id_value"]).set_index(["id_type", "id_value"])
    persons = pd.read_parquet(out / "_truth" / "persons.parquet").set_index("true_person_id")

    def person(id_type, values):
        keys = pd.MultiIndex.from_arrays([[id_type] * len(values), list(values)])
        return lookup.true_person_id.reindex(keys).to_numpy()

    acts = []
    ev = pd.DataFrame(read_jsonl(out, "miniprogram", "events"))
    acts.append((person("openid", ev.openid), pd.to_datetime(ev.event_time, unit="ms") + TZ))
    mo = pd.DataFrame(read_jsonl(out, "miniprogram", "orders"))
    acts.append((person("openid", mo.openid), pd.to_datetime(mo.created_at, unit="ms") + TZ))
    msg = pd.DataFrame(read_jsonl(out, "wecom", "messages"))
    inbound = msg[msg["from"].str.startswith("wm")]
    acts.append(
        (
            person("external_userid", inbound["from"]),
            pd.to_datetime(inbound.msgtime, unit="ms") + TZ,
        )
    )
    for entity, col in (("orders", "下单时间"), ("feedback", "反馈时间"), ("points", "变动时间")):
        df = read_crm(out, entity)
        acts.append((person("member_id", df["会员编号"]), pd.to_datetime(df[col])))
    pid = np.concatenate([a[0] for a in acts])
    when = pd.to_datetime(np.concatenate([a[1].to_numpy() for a in acts])).normalize()
    assert not pd.isna(pid).any()
    churned = pd.to_datetime(persons.churned_after.reindex(pid).to_numpy())
    first = pd.to_datetime(persons.first_seen_date.reindex(pid).to_numpy())
    assert ((when > churned) & churned.notna()).sum() == 0
    assert (when < first).sum() == 0


def _has_duplicate_lines(path: pathlib.Path) -> bool:
    lines = path.read_bytes().splitlines()
    return len(lines) != len(set(lines))


def _late_rows(root: pathlib.Path) -> int:
    late = 0
    for entity, col in (("events", "event_time"), ("orders", "created_at")):
        for r in read_jsonl(root, "miniprogram", entity):
            day = (pd.Timestamp(r[col], unit="ms") + TZ).date().isoformat()
            late += day < r["_folder"]
    return late


def test_mess_off_is_clean(clean):
    assert not list(clean.rglob("*_resend.*"))
    jsonl = [p for p in clean.rglob("*.jsonl")]
    assert not any(_has_duplicate_lines(p) for p in jsonl)
    assert _late_rows(clean) == 0
    for path in clean.glob("crm/*/*.csv"):
        assert decode_crm(path.read_bytes())[0] == "utf-8"
    members = read_crm(clean, "members")
    assert members["手机号"].str.fullmatch(r"1\d{10}").all()
    ids = pd.read_parquet(clean / "_truth" / "identities.parquet")
    assert ids.true_person_id.notna().all()


def test_mess_on_has_mess(messy):
    out, _ = messy
    assert list(out.rglob("*_resend.*"))
    assert any(_has_duplicate_lines(p) for p in out.rglob("events.jsonl"))
    assert _late_rows(out) > 0
    members = read_crm(out, "members")
    assert (~members["手机号"].str.fullmatch(r"1\d{10}")).mean() > 0.2
    feedback = read_crm(out, "feedback")
    assert len(feedback) > 0


def test_cli_parses_arguments_after_generate(tmp_path, monkeypatch):
    monkeypatch.setenv("SIYU_DATA_DIR", str(tmp_path / "data"))
    assert main(["--persons", "50", "--days", "3", "--seed", "1", "--no-progress"]) == 0
    assert (tmp_path / "data" / "landing" / "_truth" / "persons.parquet").exists()
    assert (tmp_path / "data" / "landing" / "crm" / "2026-05-03" / "members.csv").exists()
