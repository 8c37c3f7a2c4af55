"""End-to-end scale run: generate N persons x D days, then `siyu run` on a fresh data root.

    python benchmarks/pipeline_scale.py --persons 100000 --days 180 [--out /tmp/siyu-scale]

Prints wall time of generation and of the pipeline (first run: marts over all days, model
training, scoring, audit, publication), the peak resident memory of the pipeline process, the
row counts, and the identity resolution scores against the planted truth.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIYU = REPO / ".venv" / "bin" / "siyu"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--out", default="/tmp/siyu-scale")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "SIYU_DATA_DIR": str(out)}
    env.pop("DAGSTER_HOME", None)

    started = time.perf_counter()
    subprocess.run(
        [
            str(SIYU),
            "generate",
            "--persons",
            str(args.persons),
            "--days",
            str(args.days),
            "--start",
            "2026-05-01",
            "--seed",
            "42",
            "--out",
            str(out / "landing"),
            "--no-progress",
        ],
        env=env,
        check=True,
    )
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    subprocess.run(
        [str(SIYU), "run"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_s = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    sys.path.insert(0, str(REPO))
    import duckdb

    from benchmarks.identity_quality import scores_for

    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        counts = {
            t: con.execute(f"select count(*) from marts.{t}").fetchone()[0]
            for t in ("dim_users", "fct_orders", "fct_interactions", "user_rfm")
        }
    print(
        json.dumps(
            {
                "persons": args.persons,
                "days": args.days,
                "generate_s": round(generate_s, 1),
                "pipeline_s": round(run_s, 1),
                "peak_rss_mib": round(peak_mib),
                "rows": counts,
                "identity": scores_for(out),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
