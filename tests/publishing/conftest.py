"""A real PostgreSQL server for the publication tests: initdb in a temporary folder, started on a
free loopback port with trust authentication, stopped and deleted at the end of the session.

Needs the server binaries (Debian: `apt-get install postgresql`, found in
/usr/lib/postgresql/<version>/bin). Without them the PostgreSQL tests FAIL (they do not skip):
publication to PostgreSQL is a feature, and CI installs the package (see .ci/run).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_DATABASE = "siyu"


def find_pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, else PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    return None


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` system user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
            "or on PATH. Install them: `apt-get update && apt-get install -y postgresql` "
            "(the publication tests start a real server).",
            pytrace=False,
        )
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(
                "running as root and there is no `postgres` system user to run the "
                "PostgreSQL server as (Debian's postgresql package creates it)",
                pytrace=False,
            )
    root = Path(tempfile.mkdtemp(prefix="siyu-pg-"))
    data_dir, socket_dir, logfile = root / "data", root / "sock", root / "server.log"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        for path in (root, socket_dir):
            os.chown(path, server_user.pw_uid, server_user.pw_gid)
    port = _free_loopback_port()

    def run(cmd: list[str]) -> None:
        done = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
        if done.returncode != 0:
            log = logfile.read_text() if logfile.exists() else ""
            pytest.fail(
                f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{log}",
                pytrace=False,
            )

    run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
    )
    options = (
        f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(logfile),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        ]
    )
    try:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True
        ) as conn:
            conn.execute(f"create database {PG_DATABASE}")
        yield f"postgresql://postgres@127.0.0.1:{port}/{PG_DATABASE}"
    finally:
        subprocess.run(
            _as_server_user(
                [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def fresh_login_role(dsn: str, name: str) -> str:
    """A LOGIN role with no privileges at all (dropped first if an earlier test made it)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone():
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
    return name


# -- build databases and publication paths ---------------------------------------------------------


def write_build_db(path: Path, generation: int, rows: int = 2_000) -> None:
    """A build database whose marts change with ``generation``: marts.a has rows + generation
    rows, marts.b has 2 * rows + generation, both carry the generation in a column."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute(f"""create or replace table marts.a as
            select range as person_id, {generation} as generation, 'p' || range as phone_hash,
                   timestamptz '2026-05-01 08:00:00+00' + to_minutes(range) as first_seen_at
            from range({rows + generation})""")
        con.execute(f"""create or replace table marts.b as
            select range as order_id, range % 97 as person_id, {generation} as generation,
                   (range % 1000) / 10.0 as amount_cny, date '2026-05-01' + (range % 30)::int
                   as order_date
            from range({2 * rows + generation})""")
    finally:
        con.close()


@pytest.fixture
def paths(tmp_path) -> dict[str, Path]:
    data = tmp_path / "data"
    data.mkdir()
    return {
        "build": data / "warehouse.duckdb",
        "serving_path": data / "serving.duckdb",
        "published_dir": data / "published",
        "versions_dir": data / "publications",
    }
