"""Speed of the synthetic extract generator (datagen): rows/s wall and per CPU second, peak RSS.

    .venv/bin/python benchmarks/datagen_speed.py --persons 20000 --days 180
    .venv/bin/python benchmarks/datagen_speed.py --persons 200000 --workers 1 --keep

Writes into a temporary folder (``--out`` to choose one) that is deleted afterwards unless
``--keep``. The host is usually shared: the load average before and after is printed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from datagen.config import MessConfig  # noqa: E402
from datagen.generate import generate  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--persons", type=int, default=20_000)
    p.add_argument("--days", type=int, default=180)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    p.add_argument("--clean", action="store_true", help="MessConfig.off()")
    p.add_argument("--out", type=pathlib.Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the output")
    args = p.parse_args()

    tmp = None
    if args.out is None:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="datagen_speed_", dir="/tmp"))
        out = tmp / "landing"
    else:
        out = args.out
    load0 = os.getloadavg()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    summary = generate(
        args.persons,
        args.days,
        dt.date(2026, 5, 1),
        args.seed,
        out,
        progress=False,
        mess=MessConfig.off() if args.clean else None,
        workers=args.workers,
    )
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    ru_self = resource.getrusage(resource.RUSAGE_SELF)
    ru_kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker processes
    user = ru_self.ru_utime - ru0.ru_utime + ru_kids.ru_utime
    sys_ = ru_self.ru_stime - ru0.ru_stime + ru_kids.ru_stime
    cpu = user + sys_
    rows = summary.total_rows
    print(summary.report())
    print(
        f"persons={args.persons} days={args.days} workers={args.workers or 'auto'} "
        f"cpus={os.cpu_count()}"
    )
    print(f"rows={rows:,d} files={summary.files:,d} bytes={summary.bytes / 1e6:,.1f} MB")
    print(f"wall={wall:.2f} s  rows/s wall={rows / wall:,.0f}")
    print(
        f"cpu={cpu:.2f} s (user {user:.2f}, sys {sys_:.2f}; imports excluded)  "
        f"rows per CPU second={rows / cpu:,.0f}"
    )
    print(
        f"peak RSS: main {ru_self.ru_maxrss / 1024:,.0f} MB, largest worker "
        f"{ru_kids.ru_maxrss / 1024:,.0f} MB"
    )
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f}")
    if tmp is not None and not args.keep:
        shutil.rmtree(tmp)
    elif tmp is not None:
        print(f"output kept in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
