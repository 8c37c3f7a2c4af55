"""`siyu bench --scale S|M|L`: the platform against a floor and a peer on the same landed files.

In one invocation, for S (20k persons), M (200k) or L (1M), each over 365 days:

1. generate the brand once (366 days: 365 for the first build and one new day), cached under
   the bench folder and reused while the generator's code and arguments are unchanged;
2. the platform's first full build (`siyu run --end <day 365>`, benchmarks.stage_profile): wall,
   CPU and peak memory per stage (ingest, dbt, models, audit, publish) and orchestration;
3. the floor (one DuckDB SQL script, benchmarks/floor.sql) and, at S and M, the pandas peer
   (benchmarks/peer_pandas.py) on the same files, as-of the same day, each in its own process;
4. a check that the three agree on the core outputs (benchmarks.agreement);
5. one new day on top of the build (`siyu run --date <day 366>`);
6. definitions load time against `import dagster, dagster_dbt` alone.

Results: <bench>/results/bench-<S>.json and .md (the README's table). Timings are never test
assertions: tests/benchmarks checks the harness and the agreement on a small brand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCALES = {"S": 20_000, "M": 200_000, "L": 1_000_000}
PEER_SCALES = {"S", "M"}
DAYS = 365
START = dt.date(2026, 5, 1)
SEED = 42
# Targets of issue 10 (ratios measured in one run on this machine).
TARGETS = {
    "marts_vs_floor": {"S": 5.0, "M": 2.0, "L": 2.0},
    "new_day_share": 0.05,
    "new_day_s": 120,
    "peak_gib": {"M": 2.0, "L": 6.0},
    "definitions_vs_import": 1.5,
}


def to_jsonable(outputs: dict) -> dict:
    """Core outputs as JSON gives them back (dates and decimals as text), so outputs written by
    a child process and computed here compare alike."""
    return json.loads(json.dumps(outputs, default=str))


def progress(message: str) -> None:
    print(f"siyu bench: {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _generator_fingerprint(persons: int, days: int, start: dt.date = START) -> str:
    digest = hashlib.sha256(f"{persons}|{days}|{start}|{SEED}".encode())
    for path in sorted((REPO / "datagen").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_landing(root: Path, persons: int, days: int, start: dt.date = START) -> Path:
    """The generated brand under `root`/landing, generated again only when stale."""
    landing, stamp = root / "landing", root / "landing.stamp"
    fingerprint = _generator_fingerprint(persons, days, start)
    if landing.is_dir() and stamp.exists() and stamp.read_text().strip() == fingerprint:
        progress(f"landing cached: {landing}")
        return landing
    # the stamp goes first: a generation interrupted while it deletes or writes is never cached
    stamp.unlink(missing_ok=True)
    shutil.rmtree(landing, ignore_errors=True)
    progress(f"generating {persons:,} persons x {days} days into {landing}")
    measured = _timed(
        [sys.executable, "-m", "datagen.cli", "--persons", str(persons), "--days", str(days),
         "--start", start.isoformat(), "--seed", str(SEED), "--out", str(landing)],
        env=os.environ.copy(), quiet=False,
    )  # fmt: skip
    if measured["exit_code"] != 0:
        raise SystemExit("siyu bench: generation failed (above)")
    stamp.write_text(fingerprint + "\n")
    return landing


# Runs the command as its child and writes the child's peak RSS (KiB): RUSAGE_CHILDREN of this
# process would be the largest of every child it ever waited for, not this one's.
_PEAK_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def _timed(command: list[str], env: dict, quiet: bool = True, cwd: Path = REPO) -> dict:
    """Run `command` as a child and return its wall, CPU and peak RSS (of its largest process)."""
    import tempfile

    peak_file = Path(tempfile.mkstemp(prefix="siyu-bench-peak-")[1])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), *command],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {
        "exit_code": proc.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
        # the largest process of the command (KiB); a stage profile also samples the whole tree
        "peak_rss_mib": round(int(peak_file.read_text() or 0) / 1024),
    }
    peak_file.unlink(missing_ok=True)
    if proc.returncode != 0 and quiet:
        out["stderr_tail"] = (proc.stderr or "")[-3000:]
    return out


def platform_env(root: Path, landing: Path, start: dt.date = START) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update(
        {
            "SIYU_DATA_DIR": str(root / "data"),
            "SIYU_LANDING_DIR": str(landing),
            "SIYU_START_DATE": start.isoformat(),
            "DAGSTER_HOME": str(root / "data" / "dagster_home"),
            "DBT_TARGET_PATH": str(root / "data" / "dbt_target"),
        }
    )
    for key in ("SIYU_HASH_SALT", "SIYU_DUCKDB_MEMORY_LIMIT", "SIYU_DUCKDB_THREADS"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def run_platform_stage(root: Path, env: dict, label: str, *args: str) -> dict:
    out = root / f"platform-{label}.json"
    measured = _timed(
        [sys.executable, "-m", "benchmarks.stage_profile", "--out", str(out), *args], env
    )
    if measured["exit_code"] != 0:
        raise SystemExit(
            f"siyu bench: the platform's {label} failed:\n{measured.get('stderr_tail', '')}"
        )
    result = json.loads(out.read_text())
    # the child's own figures are per stage; the process-level wall includes interpreter start
    result["process"] = measured
    return result


def definitions_load(env: dict) -> dict:
    """Seconds to import dagster + dagster_dbt alone, and to load the code location."""
    base = [sys.executable, "-c"]
    imports = _timed([*base, "import dagster, dagster_dbt"], env)
    # build them, as the UI and every run do (importing the module only declares them)
    load = _timed(
        [*base, "from orchestration.definitions import build_definitions; "
         "from orchestration.lib.settings import Settings; "
         "build_definitions(Settings.from_env()).resolve_all_job_defs()"],
        env,
    )  # fmt: skip
    for measured in (imports, load):
        if measured["exit_code"] != 0:
            raise SystemExit(
                f"siyu bench: loading the definitions failed:\n{measured.get('stderr_tail', '')}"
            )
    return {
        "import_dagster_dbt_s": imports["wall_s"],
        "definitions_s": load["wall_s"],
        "ratio": round(load["wall_s"] / imports["wall_s"], 2) if imports["wall_s"] else None,
    }


def run_peer(kind: str, root: Path, landing: Path, as_of: dt.date, env: dict) -> dict:
    """The floor or the pandas peer in its own process (their command lines); its core outputs
    land in JSON."""
    out = root / f"{kind}-outputs.json"
    if kind == "floor":
        db = root / "floor.duckdb"
        db.unlink(missing_ok=True)
        command = ["-m", "benchmarks.floor", str(landing), as_of.isoformat(), "--db", str(db)]
        if env.get("SIYU_DUCKDB_MEMORY_LIMIT"):
            command += ["--memory-limit", env["SIYU_DUCKDB_MEMORY_LIMIT"]]
    else:
        command = ["-m", "benchmarks.peer_pandas", str(landing), as_of.isoformat()]
    measured = _timed([sys.executable, *command, "--out", str(out)], env)
    if measured["exit_code"] != 0:
        raise SystemExit(f"siyu bench: the {kind} failed:\n{measured.get('stderr_tail', '')}")
    return {**measured, "outputs": json.loads(out.read_text())}


def bench(scale: str, bench_dir: Path, keep_data: bool = False, peer: bool | None = None) -> dict:
    from benchmarks.agreement import compare, core_outputs_from_warehouse

    persons = SCALES[scale]
    root = bench_dir / scale
    root.mkdir(parents=True, exist_ok=True)
    landing = ensure_landing(root, persons, DAYS + 1)
    as_of = START + dt.timedelta(days=DAYS - 1)
    new_day = as_of + dt.timedelta(days=1)
    shutil.rmtree(root / "data", ignore_errors=True)
    env = platform_env(root, landing)

    progress(f"platform first full build, {START} .. {as_of}")
    first = run_platform_stage(root, env, "first-build", "--end", as_of.isoformat())
    platform_outputs = to_jsonable(core_outputs_from_warehouse(root / "data" / "warehouse.duckdb"))
    progress(f"first build: {first['wall_s']} s; floor")
    floor = run_peer("floor", root, landing, as_of, env)
    with_peer = scale in PEER_SCALES if peer is None else peer
    pandas_peer = None
    if with_peer:
        progress(f"floor: {floor['wall_s']} s; pandas peer")
        pandas_peer = run_peer("peer", root, landing, as_of, env)
    progress(f"one new day, {new_day}")
    second = run_platform_stage(root, env, "new-day", "--date", new_day.isoformat())
    progress("definitions load")
    definitions = definitions_load(env)

    disagreements = {
        "platform_vs_floor": compare(platform_outputs, floor["outputs"]),
        "peer_vs_floor": compare(pandas_peer["outputs"], floor["outputs"]) if pandas_peer else [],
    }
    result = {
        "scale": scale,
        "persons": persons,
        "days": DAYS,
        "as_of": as_of.isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "first_build": first,
        "new_day": second,
        "floor": {k: v for k, v in floor.items() if k != "outputs"},
        "pandas_peer": {k: v for k, v in pandas_peer.items() if k != "outputs"}
        if pandas_peer
        else None,
        "definitions": definitions,
        "core_outputs": platform_outputs,
        "agree": not any(disagreements.values()),
        "disagreements": disagreements,
    }
    result["ratios"] = ratios(result)
    results_dir = bench_dir / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"bench-{scale}.json").write_text(json.dumps(result, indent=2) + "\n")
    (results_dir / f"bench-{scale}.md").write_text(markdown(result) + "\n")
    if not keep_data:
        shutil.rmtree(root / "data", ignore_errors=True)
    return result


def ratios(r: dict) -> dict:
    stages = r["first_build"]["stages"]
    marts = stages["ingest"]["wall_s"] + stages["dbt"]["wall_s"]
    rest = sum(stages[s]["wall_s"] for s in ("models", "audit", "publish"))
    floor = r["floor"]["wall_s"]
    return {
        "marts_s": round(marts, 1),
        "marts_vs_floor": round(marts / floor, 2) if floor else None,
        "models_audit_publish_s": round(rest, 1),
        "models_audit_publish_vs_marts": round(rest / marts, 2) if marts else None,
        "first_build_vs_floor": round(r["first_build"]["wall_s"] / floor, 2) if floor else None,
        "new_day_s": r["new_day"]["wall_s"],
        "new_day_share": round(r["new_day"]["wall_s"] / r["first_build"]["wall_s"], 3),
        "peak_gib": round(
            max(r["first_build"]["peak_rss_mib"], r["new_day"]["peak_rss_mib"]) / 1024, 2
        ),
    }


def markdown(r: dict) -> str:
    fb, nd, fl, pp = r["first_build"], r["new_day"], r["floor"], r["pandas_peer"]
    q = r["ratios"]
    lines = [
        f"### Scale {r['scale']}: {r['persons']:,} persons x {r['days']} days "
        f"(as of {r['as_of']}; results agree: {'yes' if r['agree'] else 'NO'})",
        "",
        "| run | wall s | CPU s | peak MiB |",
        "| --- | --- | --- | --- |",
        f"| platform, first full build | {fb['wall_s']} | {fb['cpu_s']} | {fb['peak_rss_mib']} |",
    ]
    for stage, s in fb["stages"].items():
        lines.append(f"| - {stage} | {s['wall_s']} | {s['cpu_s']} | {s['peak_rss_mib']} |")
    lines += [
        f"| - orchestration (between steps) | {fb['orchestration_s']} | | |",
        f"| platform, one new day | {nd['wall_s']} | {nd['cpu_s']} | {nd['peak_rss_mib']} |",
        f"| floor (one DuckDB script) | {fl['wall_s']} | {fl['cpu_s']} | {fl['peak_rss_mib']} |",
    ]
    if pp:
        lines.append(f"| pandas peer | {pp['wall_s']} | {pp['cpu_s']} | {pp['peak_rss_mib']} |")
    d = r["definitions"]
    lines += [
        "",
        f"Marts (ingest + dbt) {q['marts_s']} s = {q['marts_vs_floor']}x the floor "
        f"(target {TARGETS['marts_vs_floor'][r['scale']]}x); models + audit + publish "
        f"{q['models_audit_publish_s']} s = {q['models_audit_publish_vs_marts']}x the marts "
        "(target within 1x); "
        f"one new day {q['new_day_s']} s = {q['new_day_share']:.1%} of the first build (target "
        f"5%, under {TARGETS['new_day_s']} s); peak {q['peak_gib']} GiB; definitions load "
        f"{d['definitions_s']} s = {d['ratio']}x `import dagster, dagster_dbt` "
        f"({d['import_dagster_dbt_s']} s; target 1.5x).",
    ]
    for label, run in (("first build", fb), ("one new day", nd)):
        for inv in run.get("dbt") or []:
            slowest = ", ".join(f"{n['node']} {n['s']}" for n in inv["slowest"][:8])
            lines += [
                "",
                f"dbt, {label}, `{inv['invocation'].split('-')[0]}`: {inv['elapsed_s']} s for "
                f"{inv['nodes']} nodes (models {inv['models_s']} s, tests {inv['tests_s']} s "
                f"summed over threads); slowest: {slowest}.",
            ]
    if not r["agree"]:
        lines += [
            "",
            "Disagreements:",
            *(f"- {k}: {line}" for k, v in r["disagreements"].items() for line in v),
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="siyu bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument(
        "--dir",
        default=os.environ.get("SIYU_BENCH_DIR") or str(REPO / "data" / "bench"),
        help="where landed data is cached and results written (default data/bench, "
        "or SIYU_BENCH_DIR)",
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the platform's data dir")
    parser.add_argument("--no-peer", action="store_true", help="skip the pandas peer")
    args = parser.parse_args(argv)
    result = bench(
        args.scale, Path(args.dir).resolve(), args.keep_data, peer=False if args.no_peer else None
    )
    print(markdown(result))
    return 0 if result["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
