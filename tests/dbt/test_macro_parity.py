"""Parity of the dbt macros with their Python twins, on a few hundred hostile inputs.

`normalize_phone` and `salted_hash` (dbt_project/macros/normalize_phone.sql, pseudonymise.sql) are
rendered by a real `dbt show` with this project's profile, so the salt reaches DuckDB the way it
does in production: `SIYU_HASH_SALT` in dbt's environment, bound as data by the profile's plugin
(plugins/siyu_secrets.py), never on a command line or in the SQL. DuckDB runs the compiled SQL
over a table of inputs; every row is compared with the Python functions the platform uses outside
dbt (privacy/hashing.py: erasure, suppression; datagen/ids.py: the planted ground truth).

The documented rule (normalize_phone.sql, privacy/hashing.py): a mainland mobile as its 11 digits
(starting with 1) after dropping a +86 / 0086 / 86 country code, spaces and dashes; anything else
is no phone (NULL / None). Both sides drop every character that is not an ASCII digit, so dots,
brackets, letters and full-width digits are dropped too (full-width digits are not digits here).

`mask_identifiers` has no Python counterpart (tests/faults/test_free_text_pii.py covers it).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from datagen.ids import normalise_phone as datagen_normalise_phone
from privacy.hashing import normalize_identifier, normalize_phone, normalize_series, salted_hash

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"
DBT = REPO / ".venv" / "bin" / "dbt"
# A salt that would break or change the SQL if it were pasted into it, with non-ASCII, a '|' (the
# separator of `<salt>|<value>`) and trailing white space that a trim would lose.
SALT = "p@rity's {{ salt }} | 盐\u3000"

MOBILES = ["13800138000", "19912345678", "17000000001", "10000000000", "15555555555"]
NOT_MOBILES = ["23800138000", "03800138000", "1380013800", "138001380001", "12345"]
FORMATS = [
    "{}",
    "+86{}",
    "+86 {}",
    "+86-{}",
    "86{}",
    "86 {}",
    "0086{}",
    "0086 {}",
    "0086-{}",
    "(+86) {}",
    "+(86) {}",
    "00 86 {}",
    "+0086 {}",  # 0086 after a plus: still the country code
    "086 {}",  # 14 digits: no phone
    "+886 {}",  # Taiwan: no mainland phone
    "+852 {}",  # Hong Kong
    "8686{}",  # the code twice
    "+86 (0) {}",  # a trunk zero: 14 digits
    " {} ",
    "\t{}\n",
    "\u3000{}\u3000",  # full-width spaces
    "\xa0{}\xa0",  # no-break spaces
    "tel:{}",
    "{} ext 12",
    "{}，",  # a full-width comma
    "手机{}",
]
# country codes and groupings the documented rule names
UNAMBIGUOUS_FORMATS = [
    "{}",
    "+86{}",
    "+86 {}",
    "+86-{}",
    "86{}",
    "86 {}",
    "0086{}",
    "0086 {}",
    "0086-{}",
    " {} ",
]
GROUPINGS = [
    lambda d: f"{d[:3]} {d[3:7]} {d[7:]}",
    lambda d: f"{d[:3]}-{d[3:7]}-{d[7:]}",
    lambda d: f"{d[:3]}.{d[3:7]}.{d[7:]}",
    lambda d: f"({d[:3]}) {d[3:7]}-{d[7:]}",
    lambda d: f"{d[:3]}/{d[3:7]}/{d[7:]}",
    lambda d: f"{d[:3]}\u200b{d[3:]}",  # a zero-width space
    lambda d: f"{d[:3]}a{d[3:7]}b{d[7:]}",  # letters between the digits
    lambda d: "".join(chr(0xFF10 + int(c)) for c in d),  # full-width digits
    lambda d: d[:5] + "".join(chr(0xFF10 + int(c)) for c in d[5:]),  # partly full-width
    lambda d: "".join(chr(0x0660 + int(c)) for c in d),  # Arabic-Indic digits
    lambda d: "".join(chr(0x2070 + int(c)) if c not in "123" else c for c in d),  # superscripts
    lambda d: "\u2212".join([d[:3], d[3:7], d[7:]]),  # minus signs
    lambda d: "\u2014".join([d[:3], d[3:7], d[7:]]),  # em dashes
    lambda d: d[:3] + "\u0301" + d[3:],  # a combining accent
    lambda d: d + d,  # two phones run together
    lambda d: f"{d} / {d}",  # two phones
    lambda d: d[::-1],
]
HAND_PICKED = [
    None,
    "",
    " ",
    "-",
    "+86",
    "0086",
    "86",
    "+",
    "abc",
    "null",
    "None",
    "NaN",
    "1",
    "8613800138000",
    "861380013800",  # 12 digits
    "86013800138000",  # 14 digits
    "008613800138000",
    "0086013800138000",
    "00861380013800",  # 14 digits
    "8612345678901",  # 86 and an 11-digit number starting with 1
    "008610000000000",
    "18613800138",  # 11 digits that start like 86
    "86186138001380",  # 14
    "1" * 11,
    "1" * 13,
    "1" * 15,
    "8" * 13,
    "86" + "2" * 11,
    "0086" + "2" * 11,
    "13800138000.0",  # a phone that went through a float: 12 digits
    "1.3800138E10",
    "138 0013 8000 ",
    "😀13800138000😀",
    "１３８００１３８０００",
    "+８６ 13800138000",  # full-width country code, ASCII number: 11 digits left
    "+86 １３８００１３８０００",  # only the country code is ASCII: 2 digits left
    "\u202d13800138000\u202c",  # LTR/PDF marks from a copy-paste
    "0" * 20,
    "1" * 200,
]
HASHED = [
    "",
    " ",
    "  13800138000",
    "13800138000 ",
    "\t13800138000\n",
    "\u300013800138000",
    "\xa0M0001",
    "M0001",
    "m0001",
    "M0001\r\n",
    "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    "OUPF8UMUAJO_M2PXB1Q9ZNJWES6O",
    "wmK8dQ2xV9pL4sT7yB1nC6hJ3fG5aE0z",
    "张伟",
    "張偉",
    "é",  # precomposed
    "e\u0301",  # decomposed: a different string, so a different hash (no normalisation)
    "ß",
    "SS",
    "ǅ",
    "İ",
    "i̇",
    "😀",
    "👩\u200d👩\u200d👧",
    "\u200b",
    "\ufeffM0001",  # a byte-order mark
    "a|b",
    "|",
    "||",
    "'",
    "''; drop table cases; --",
    "{{ 7 * 7 }}",
    "%s",
    "\\",
    "\\x00",
    "null",
    "NULL",
    "member_id:M0001",
    "phone:13800138000",
    "x" * 5000,
    "中" * 2000,
]


def _fuzz(n: int, seed: int = 86) -> list[str]:
    """Random strings of the characters phones are typed with, and the ones they should not be."""
    alphabet = list("0123456789" * 6 + "1" * 10 + "86" * 8 + "+- .()/") + [
        "\u3000",
        "\xa0",
        "\t",
        "０",
        "１",
        "８",
        "６",
        "a",
        "X",
        "中",
        "😀",
    ]
    rng = random.Random(seed)
    return ["".join(rng.choices(alphabet, k=rng.randint(0, 22))) for _ in range(n)]


def phone_inputs() -> list[str | None]:
    values: list[str | None] = [fmt.format(m) for m in MOBILES + NOT_MOBILES for fmt in FORMATS]
    values += [group(m) for m in MOBILES + NOT_MOBILES[:2] for group in GROUPINGS]
    values += [
        fmt.format(group(m))
        for m in MOBILES
        for fmt in UNAMBIGUOUS_FORMATS
        for group in GROUPINGS[:2]
    ]
    values += HAND_PICKED + _fuzz(250)
    return list(dict.fromkeys(values))  # unique, in order


def hash_inputs() -> list[str | None]:
    return list(dict.fromkeys([*HASHED, *phone_inputs()]))


# The inline query dbt renders and runs: one JSON text value, so dbt's result table (agate, which
# guesses types: '13800138000' would come back a number, 'null' and '' as None) cannot touch it.
INLINE = """
select to_json(list({
    'id': id,
    'phone': {{ normalize_phone('v') }},
    'hash': {{ salted_hash('v') }},
    'phone_hash': {{ salted_hash(normalize_phone('v')) }},
    'node_hash': {{ salted_hash(dbt.concat(["'phone'", "':'", normalize_phone('v')])) }}
} order by id))::varchar as payload
from cases
"""


def _dbt_env(tmp: Path, warehouse: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SIYU_")},
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "logs"),
        "SIYU_WAREHOUSE_PATH": str(warehouse),
        "SIYU_HASH_SALT": SALT,  # the environment, as the platform passes it: no command line
        "SIYU_DBT_THREADS": "1",
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict[str | None, object]]:
    """Every input through the real macros: {column: {input: output}} (hash columns by input)."""
    tmp = tmp_path_factory.mktemp("macro_parity")
    values = hash_inputs()
    warehouse = tmp / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table cases (id integer, v varchar)")
        con.executemany("insert into cases values (?, ?)", list(enumerate(values)))
        stored = [v for (v,) in con.execute("select v from cases order by id").fetchall()]
    assert stored == values, "DuckDB stores every input as given"
    proc = subprocess.run(
        [str(DBT), "--quiet", "show", "--output", "json", "--limit", "1"]
        + ["--profiles-dir", ".", "--inline", INLINE],
        cwd=DBT_PROJECT,
        env=_dbt_env(tmp, warehouse),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert SALT not in proc.stdout + proc.stderr
    leaked = [str(p) for p in tmp.rglob("*") if p.is_file() and SALT.encode() in p.read_bytes()]
    assert not leaked, f"the salt is in a file dbt wrote: {leaked}"
    rows = json.loads(json.loads(proc.stdout)["show"][0]["payload"])
    assert [r["id"] for r in rows] == list(range(len(values)))
    return {
        column: {values[r["id"]]: r[column] for r in rows}
        for column in ("phone", "hash", "phone_hash", "node_hash")
    }


def _disagreements(expected: dict, got: dict) -> list[str]:
    return [
        f"{k!r}: python {expected[k]!r}, dbt {got[k]!r}" for k in expected if expected[k] != got[k]
    ]


def test_there_are_a_few_hundred_hostile_inputs():
    phones = phone_inputs()
    assert len(phones) >= 400 and None in phones and "" in phones
    python = [normalize_phone(v) for v in phones]
    # the inputs exercise both outcomes, and every branch of the rule
    assert sum(p is not None for p in python) >= 100 and sum(p is None for p in python) >= 100
    digits = [re.sub("[^0-9]", "", v or "") for v in phones]
    for n, prefix in ((11, "1"), (13, "861"), (15, "00861")):
        assert any(len(d) == n and d.startswith(prefix) for d in digits)
    assert len(hash_inputs()) >= 450


def test_normalize_phone_macro_equals_python_on_every_input(rendered):
    python = {v: normalize_phone(v) for v in phone_inputs()}
    bad = _disagreements(python, rendered["phone"])
    assert not bad, f"{len(bad)} of {len(python)} disagree:\n" + "\n".join(bad[:40])


def test_the_documented_rule_on_the_unambiguous_inputs(rendered):
    """The rule as written, independently of either implementation: a plain 11-digit mobile, with
    a +86 / 0086 / 86 country code, grouped by spaces or dashes, is its 11 digits; other lengths,
    other first digits and other country codes are no phone."""
    for m in MOBILES:
        for fmt in UNAMBIGUOUS_FORMATS:
            for text in (fmt.format(m), fmt.format(GROUPINGS[0](m)), fmt.format(GROUPINGS[1](m))):
                assert rendered["phone"][text] == m, text
                assert normalize_phone(text) == m, text
    for m in NOT_MOBILES:
        for fmt in UNAMBIGUOUS_FORMATS:
            assert rendered["phone"][fmt.format(m)] is None, fmt.format(m)
            assert normalize_phone(fmt.format(m)) is None, fmt.format(m)
    for text in [
        None,
        "",
        " ",
        "+86",
        "0086",
        "abc",
        "086 13800138000",
        "+886 13800138000",
        "868613800138000",
        "13800138000 / 13800138000",
        "１３８００１３８０００",
    ]:
        assert rendered["phone"][text] is None, text
        assert normalize_phone(text) is None, text


def test_the_vectorised_and_identity_normalisations_equal_the_macro(rendered):
    """privacy.hashing.normalize_series (suppression lists) and normalize_identifier (erasure
    requests) on the same inputs."""
    phones = phone_inputs()
    series = normalize_series("phone", pd.Series(phones, dtype="object"))
    vectorised = {v: (None if pd.isna(s) else s) for v, s in zip(phones, series, strict=True)}
    assert not _disagreements(vectorised, rendered["phone"])
    identity = {v: normalize_identifier("phone", v) for v in phones}
    assert not _disagreements(identity, rendered["phone"])


def test_the_generator_truth_agrees_wherever_it_names_a_mobile(rendered):
    """datagen.ids.normalise_phone (the planted truth) only strips a country code and keeps other
    digit runs as they are: where its result is a mainland mobile, the macro gives the same."""
    phones = phone_inputs()
    truth = datagen_normalise_phone(phones).to_pylist()
    mobile = re.compile(r"1[0-9]{10}")
    projected = {
        v: (t if t is not None and mobile.fullmatch(t) else None)
        for v, t in zip(phones, truth, strict=True)
    }
    assert not _disagreements(projected, rendered["phone"])


def test_salted_hash_macro_equals_python_on_every_input(rendered):
    values = [v for v in hash_inputs() if v is not None]
    python = {v: salted_hash(v, SALT) for v in values}
    bad = _disagreements(python, rendered["hash"])
    assert not bad, f"{len(bad)} of {len(python)} disagree:\n" + "\n".join(bad[:20])
    # no normalisation inside the hash: case, white space and Unicode forms stay distinct
    for a, b in [("M0001", "m0001"), ("M0001", "\xa0M0001"), ("é", "e\u0301"), ("", " ")]:
        assert rendered["hash"][a] != rendered["hash"][b]
    assert rendered["hash"][None] is None  # a NULL identifier has no pseudonym


def test_hashes_of_normalised_phones_and_identity_nodes_equal_python(rendered):
    """The compositions the marts use: salted_hash(normalize_phone(x)) and the identity node
    `phone:<11 digits>` (identity_map's person_id, incremental_facts' identifier_hash)."""
    for v in phone_inputs():
        phone = normalize_phone(v)
        expected = None if phone is None else salted_hash(phone, SALT)
        assert rendered["phone_hash"][v] == expected, v
        node = None if phone is None else salted_hash(f"phone:{phone}", SALT)
        assert rendered["node_hash"][v] == node, v
