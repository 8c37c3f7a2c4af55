"""Synthetic daily extracts of the CRM, WeCom and the mini-program, with ground truth.

``generate`` simulates a population (:mod:`datagen.population`), then walks the days: each day is
simulated (:mod:`datagen.activity`), mess is applied (late rows, duplicates, resent files,
encodings) and the files are written (:mod:`datagen.writers`). Same seed, same bytes.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from datagen import truth
from datagen.activity import ENTITIES, simulate_day
from datagen.config import MessConfig
from datagen.population import DAY_MS, TZ_OFFSET_MS, build_population
from datagen.writers import Formatter

__all__ = ["GenerationSummary", "MessConfig", "generate"]

LATE_ENTITIES = {("crm", "orders"), ("miniprogram", "events"), ("miniprogram", "orders")}
EXTENSIONS = {"crm": "csv", "wecom": "jsonl", "miniprogram": "jsonl"}
CRM_ENCODINGS = ("gbk", "utf-8-sig", "utf-8")


@dataclass
class GenerationSummary:
    """What a run wrote. ``rows`` counts data rows per ``source/entity`` (duplicates and late rows
    included, resent copies counted separately under ``resent_rows``)."""

    out: pathlib.Path
    persons: int
    days: int
    rows: dict[str, int] = field(default_factory=dict)
    resent_rows: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # process CPU time (all threads); wall time suffers on a busy host
    truth_rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values()) + self.resent_rows

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0

    def report(self) -> str:
        lines = [f"{k:32s} {v:>12,d}" for k, v in sorted(self.rows.items())]
        lines += [
            f"{'resent copies':32s} {self.resent_rows:>12,d}",
            f"total rows {self.total_rows:,d} in {self.files:,d} files, "
            f"{self.bytes / 1e6:,.1f} MB, {self.seconds:,.1f} s wall ({self.rows_per_second:,.0f} rows/s),"
            f" {self.cpu_seconds:,.1f} s CPU",
        ]
        return "\n".join(lines)


def _concat(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(batches) == 1:
        return batches[0]
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def _select(batch: dict[str, np.ndarray], mask_or_idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask_or_idx] for k, v in batch.items()}


def _n(batch: dict[str, np.ndarray]) -> int:
    return len(next(iter(batch.values())))


def generate(persons: int, days: int, start: dt.date, seed: int, out: pathlib.Path,
             progress: bool = True, mess: MessConfig | None = None) -> GenerationSummary:
    """Write ``days`` daily folders of extracts for ``persons`` persons under ``out``.

    Layout and formats: datagen/FORMATS.md. Ground truth goes to ``out/_truth``. Deterministic:
    the same arguments give byte-identical files. Returns the rows, bytes and speed written.
    """
    if persons < 1 or days < 1:
        raise ValueError(f"persons and days must be >= 1, got persons={persons}, days={days}")
    mess = MessConfig() if mess is None else mess
    out = pathlib.Path(out)
    t0, c0 = time.perf_counter(), time.process_time()
    pop = build_population(persons, days, start, seed, mess)
    fmt = Formatter(pop, mess)
    summary = GenerationSummary(out=out, persons=persons, days=days)
    summary.truth_rows = truth.write_truth(pop, out, mess)
    rows: dict[str, int] = defaultdict(int)
    pending: dict[tuple[int, tuple[str, str]], list] = defaultdict(list)
    day_start0 = pop.start_epoch_day

    def write_file(d: int, e_idx: int, batch: dict[str, np.ndarray]) -> tuple[str, int, int, int]:
        """Format, encode and write one entity file of day ``d`` (runs in a worker thread)."""
        source, entity = ENTITIES[e_idx]
        rng = np.random.default_rng([seed, 3, d, e_idx])
        n = _n(batch)
        if mess.duplicate_row_rate > 0 and n:
            dup = np.flatnonzero(rng.random(n) < mess.duplicate_row_rate)
            batch = _select(batch, np.sort(np.concatenate([np.arange(n), dup])))
            n = _n(batch)
        ext = EXTENSIONS[source]
        if source == "crm":
            data = fmt.crm(entity, batch, rng)
            enc = CRM_ENCODINGS[_pick_encoding(rng, mess)]
            if enc != "utf-8":
                data = data.decode("utf-8").encode(enc)
        else:
            data = fmt.jsonl(entity, batch, rng)
        date = start + dt.timedelta(days=d)
        folder = out / source / date.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{entity}.{ext}").write_bytes(data)
        files, nbytes, resent = 1, len(data), 0
        if rng.random() < mess.resend_file_rate and d + 1 < days:
            nxt = out / source / (date + dt.timedelta(days=1)).isoformat()
            nxt.mkdir(parents=True, exist_ok=True)
            (nxt / f"{entity}_resend.{ext}").write_bytes(data)
            files, nbytes, resent = 2, 2 * len(data), n
        return f"{source}/{entity}", n, resent, files * (1 << 40) + nbytes

    def collect(futures) -> None:
        for fut in futures:
            name, n, resent, packed = fut.result()
            rows[name] += n
            summary.resent_rows += resent
            summary.files += packed >> 40
            summary.bytes += packed & ((1 << 40) - 1)

    in_flight: list = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for d in tqdm(range(days), desc="generate", unit="day", disable=not progress,
                      leave=False):
            batches = simulate_day(pop, d, seed)
            rng = np.random.default_rng([seed, 2, d])
            ready = []
            for e_idx, key in enumerate(ENTITIES):
                batch = batches[key]
                if key == ("wecom", "messages") and _n(batch):
                    # replies sent after midnight belong to a later day's archive
                    row_day = (batch["ms"] + TZ_OFFSET_MS) // DAY_MS - day_start0
                    later = row_day > d
                    for target in np.unique(row_day[later]):
                        if target < days:
                            pending[(int(target), key)].append(_select(batch, row_day == target))
                    batch = _select(batch, ~later)
                if key in LATE_ENTITIES and mess.late_row_rate > 0 and _n(batch):
                    delay = rng.integers(1, mess.late_max_days + 1, size=_n(batch))
                    late = (rng.random(_n(batch)) < mess.late_row_rate) & (d + delay < days)
                    for k in np.unique(delay[late]):
                        pending[(d + int(k), key)].append(_select(batch, late & (delay == k)))
                    batch = _select(batch, ~late)
                ready.append((e_idx, _concat([batch, *pending.pop((d, key), [])])))
            collect(in_flight)  # at most one day is formatted while the next is simulated
            in_flight = [pool.submit(write_file, d, e_idx, b) for e_idx, b in ready]
        collect(in_flight)
    summary.rows = dict(rows)
    summary.seconds = time.perf_counter() - t0
    summary.cpu_seconds = time.process_time() - c0
    return summary


def _pick_encoding(rng: np.random.Generator, mess: MessConfig) -> int:
    u = rng.random()
    if u < mess.crm_gbk_share:
        return 0
    if u < mess.crm_gbk_share + mess.crm_utf8_bom_share:
        return 1
    return 2
