"""Reading generated landing trees back the way a consumer would (shared by the datagen tests)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pathlib
import re

import pandas as pd

from datagen.plants_measurement import is_planted_file
from datagen.writers import CSV_HEADERS


def tree_hash(root: pathlib.Path, without_plants: bool = False) -> str:
    """sha256 over every file's relative path and bytes, in path order; `without_plants` leaves
    out the files datagen/plants_measurement.py adds (its extracts and its truth file)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if without_plants and (
            is_planted_file(path.name) or path.name == "measurement_plants.json"
        ):
            continue
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def decode_crm(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", data[3:].decode("utf-8")
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError:
        return "gbk", data.decode("gbk")


def normalise_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return re.sub(r"^(0086|86)(1\d{10})$", r"\2", digits)


def read_crm(root: pathlib.Path, entity: str) -> pd.DataFrame:
    """Every row of every ``crm/<day>/<entity>*.csv`` as text (empty cells ""), with the folder
    and file it came from; no rows when the brand writes no such file. Each file's own header
    names its columns."""
    rows = []
    for path in sorted(root.glob(f"crm/*/{entity}*.csv")):
        _, text = decode_crm(path.read_bytes())
        # the csv module, not pandas per file: thousands of small day files stay fast
        header, *body = csv.reader(io.StringIO(text, newline=""))
        rows += [
            {**dict(zip(header, row, strict=True)), "_folder": path.parent.name, "_file": path.name}
            for row in body
        ]
    return pd.DataFrame(rows, columns=[*CSV_HEADERS[entity], "_folder", "_file"], dtype=str)


def read_jsonl(root: pathlib.Path, source: str, entity: str) -> list[dict]:
    rows = []
    for path in sorted(root.glob(f"{source}/*/{entity}*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            row["_folder"] = path.parent.name
            row["_file"] = path.name
            rows.append(row)
    return rows


def extract_identifiers(root: pathlib.Path) -> set[tuple[str, str, str]]:
    """(source, id_type, normalised id_value) of every identifier in any written extract."""
    ids: set[tuple[str, str, str]] = set()
    for entity in ("members", "orders", "points", "feedback", "sms_sends"):
        df = read_crm(root, entity)
        ids |= {("crm", "member_id", v.strip()) for v in df["会员编号"]}
        if entity == "members":
            ids |= {("crm", "phone", normalise_phone(v)) for v in df["手机号"] if v}
    for c in read_jsonl(root, "wecom", "external_contacts"):
        ids.add(("wecom", "external_userid", c["external_contact"]["external_userid"]))
        if "unionid" in c["external_contact"]:
            ids.add(("wecom", "unionid", c["external_contact"]["unionid"]))
        for f in c["follow_user"]:
            ids |= {("wecom", "phone", normalise_phone(m)) for m in f["remark_mobiles"]}
    for g in read_jsonl(root, "wecom", "group_members"):
        if g["type"] == 2:
            ids.add(("wecom", "external_userid", g["userid"]))
            if "unionid" in g:
                ids.add(("wecom", "unionid", g["unionid"]))
    for m in read_jsonl(root, "wecom", "messages"):
        for who in [m["from"], *m["tolist"]]:
            if who.startswith("wm"):
                ids.add(("wecom", "external_userid", who))
    for s in read_jsonl(root, "wecom", "campaign_sends"):
        ids.add(("wecom", "external_userid", s["external_userid"]))
    for u in read_jsonl(root, "miniprogram", "users"):
        ids.add(("miniprogram", "openid", u["openid"]))
        if u["unionid"]:
            ids.add(("miniprogram", "unionid", u["unionid"]))
        if u["phone_number"]:
            ids.add(("miniprogram", "phone", normalise_phone(u["phone_number"])))
    for entity in ("events", "orders"):
        ids |= {
            ("miniprogram", "openid", r["openid"]) for r in read_jsonl(root, "miniprogram", entity)
        }
    return ids


def experiment_touches(root: pathlib.Path) -> pd.DataFrame:
    """Every written send that carries an experiment id, variant or experiment campaign id:
    channel (`sms` / `wecom_1v1`), campaign_id, experiment_id, variant, person identifier."""
    sms = read_crm(root, "sms_sends")
    sms = pd.DataFrame(
        {
            "channel": "sms",
            "campaign_id": sms["活动编号"],
            "experiment_id": sms["实验编号"],
            "variant": sms["实验分组"],
            "who": sms["会员编号"],
        }
    )
    sends = pd.DataFrame(
        read_jsonl(root, "wecom", "campaign_sends"),
        columns=["campaign_id", "experiment_id", "variant", "external_userid", "chat_type"],
    )
    sends = pd.DataFrame(
        {
            "channel": "wecom_" + sends["chat_type"].map({"single": "1v1", "group": "group"}),
            "campaign_id": sends["campaign_id"],
            "experiment_id": sends["experiment_id"].fillna(""),
            "variant": sends["variant"].fillna(""),
            "who": sends["external_userid"],
        }
    )
    both = pd.concat([sms, sends], ignore_index=True)
    tagged = (
        (both.experiment_id != "")
        | (both.variant != "")
        | both.campaign_id.str.startswith("cmp_exp_")
    )
    return both[tagged].reset_index(drop=True)
