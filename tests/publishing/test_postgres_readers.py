"""Read-only BI roles on the real PostgreSQL server (the `pg_dsn` fixture): every publication and
every rollback grants them the new `marts`; a missing role is one clear line before anything
changes; a password in the DSN never shows in an error, the CLI's output or the publication log."""

from __future__ import annotations

import json
import traceback

import duckdb
import psycopg
import pytest

from publishing import PublishError, publish, read_log, rollback
from publishing.cli import main as publish_cli
from tests.publishing.conftest import fresh_login_role, write_build_db

PASSWORD = "Tr1cky%zzPass"  # a bare '%' is not valid percent-encoding: libpq quotes it back


def read_as(dsn: str, role: str, query: str):
    with psycopg.connect(dsn, user=role) as conn:
        return conn.execute(query).fetchall()


def publish_generation(paths, dsn, generation, **kwargs):
    write_build_db(paths["build"], generation=generation, rows=100)
    return publish(
        paths["build"],
        ["a", "b"],
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        run_id=f"run-{generation}",
        check_summary={"dq": {"passed": True}},
        pg_dsn=dsn,
        **kwargs,
    )


def pg_state(dsn: str):
    with psycopg.connect(dsn) as conn:
        schemas = sorted(
            r[0]
            for r in conn.execute(
                "select nspname from pg_namespace where nspname like 'marts%'"
            ).fetchall()
        )
        version = conn.execute("select version from marts._publication").fetchone()[0]
    return schemas, version


def test_readers_can_select_after_every_publish_and_rollback(paths, pg_dsn):
    # a name that only works quoted as an identifier
    roles = [fresh_login_role(pg_dsn, "bi_ro"), fresh_login_role(pg_dsn, 'BI "Reader" 2')]
    first = publish_generation(paths, pg_dsn, 1, pg_readers=roles)
    for role in roles:
        assert read_as(pg_dsn, role, "select count(*) from marts.a") == [(101,)]
    second = publish_generation(paths, pg_dsn, 2, pg_readers=roles)
    for role in roles:
        assert read_as(pg_dsn, role, "select count(*), max(publication_version) from marts.b") == [
            (202, second.version)
        ]
        assert read_as(pg_dsn, role, "select version from marts._publication") == [
            (second.version,)
        ]
    # read-only: SELECT and USAGE, nothing else
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        read_as(pg_dsn, "bi_ro", "insert into marts.a (person_id) values (-1)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        read_as(pg_dsn, "bi_ro", "create table marts.mine (x int)")

    rollback(
        first.version,
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        pg_dsn=pg_dsn,
        pg_readers=roles,
    )
    for role in roles:
        assert read_as(pg_dsn, role, "select distinct publication_version from marts.a") == [
            (first.version,)
        ]
    (entry,) = read_log(paths["versions_dir"], event="rolled_back")
    assert entry["postgres_readers"] == roles


def test_cli_rollback_grants_the_readers(paths, pg_dsn, capsys):
    role = fresh_login_role(pg_dsn, "bi_cli")
    first = publish_generation(paths, pg_dsn, 1)
    publish_generation(paths, pg_dsn, 2)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        read_as(pg_dsn, role, "select count(*) from marts.a")

    code = publish_cli(
        ["--rollback", first.version],
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        pg_dsn=pg_dsn,
        pg_readers=[role],
    )

    assert code == 0, capsys.readouterr().err
    assert read_as(pg_dsn, role, "select count(*) from marts.a") == [(101,)]


def test_a_missing_reader_role_is_one_line_before_anything_changes(paths, pg_dsn):
    good = publish_generation(paths, pg_dsn, 1)
    before = pg_state(pg_dsn)
    live = {p: p.resolve() for p in (paths["serving_path"], paths["published_dir"])}

    with pytest.raises(PublishError) as raised:
        publish_generation(paths, pg_dsn, 2, pg_readers=["no_such_bi_role"])

    message = str(raised.value)
    assert "no_such_bi_role" in message and "does not exist" in message and "\n" not in message
    assert pg_state(pg_dsn) == before == (["marts"], good.version)
    assert {p: p.resolve() for p in live} == live
    with pytest.raises(PublishError, match="not a string"):
        publish_generation(paths, pg_dsn, 3, pg_readers="bi_ro")


def test_a_password_in_the_dsn_never_shows(paths, pg_dsn, capsys):
    role = fresh_login_role(pg_dsn, "bi_pw")
    # the test server trusts every connection, so a DSN with a password connects
    with_password = pg_dsn.replace("postgresql://postgres@", "postgresql://postgres:s3cretpw@")
    good = publish_generation(paths, with_password, 1, pg_readers=[role])
    assert read_as(pg_dsn, role, "select count(*) from marts.a") == [(101,)]

    # one libpq cannot parse: its message quotes the password back
    broken = pg_dsn.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    with pytest.raises(PublishError) as raised:
        publish_generation(paths, broken, 2)
    shown = "".join(traceback.format_exception(raised.value))
    assert PASSWORD not in shown and "Tr1cky" not in shown
    assert "postgres:***@" in str(raised.value)

    # the same DSN through the CLI's rollback: one masked line on stderr
    code = publish_cli(
        ["--rollback", good.version],
        serving_path=paths["serving_path"],
        published_dir=paths["published_dir"],
        pg_dsn=broken,
        pg_readers=[role],
    )
    out = capsys.readouterr()
    assert code == 1 and len(out.err.strip().splitlines()) == 1
    assert PASSWORD not in out.err + out.out

    log_text = (paths["versions_dir"] / "publication_log.jsonl").read_text(encoding="utf-8")
    assert "s3cretpw" not in log_text and PASSWORD not in log_text
    assert "Tr1cky" not in log_text
    (published,) = read_log(paths["versions_dir"], event="published")
    assert published["postgres"] == with_password.replace("s3cretpw", "***")
    failed = read_log(paths["versions_dir"], event="failed")
    assert failed and all("***" in r["error"] for r in failed)

    # a record written before masking existed is masked when shown
    with open(paths["versions_dir"] / "publication_log.jsonl", "a", encoding="utf-8") as f:
        f.write(
            json.dumps(
                {
                    "event": "failed",
                    "version": "v000009-20260101T000000Z",
                    "error": f"OperationalError: bad {broken}",
                }
            )
            + "\n"
        )
    for flag in (["--log"], ["--log", "--json"]):
        assert (
            publish_cli(
                flag,
                serving_path=paths["serving_path"],
                published_dir=paths["published_dir"],
                pg_dsn=broken,
            )
            == 0
        )
        out = capsys.readouterr().out
        assert PASSWORD not in out and "Tr1cky" not in out and "***" in out
    con = duckdb.connect(str(paths["serving_path"]), read_only=True)
    assert con.execute("select version from marts._publication").fetchone() == (good.version,)
    con.close()
