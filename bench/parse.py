"""Parser throughput: the seed document once, and repeated to ~10 MB.

    .venv/bin/python bench/parse.py [--mb 4] [--rounds 5] [--seed PATH]

Measures, in one run:

  seed         the whole seed document (eight plans, ~55 KB), best and median of --rounds,
               with the seed org chart (unit names checked, jurisdictions inferred) and
               without units
  bulk         the seed document repeated to --mb megabytes (each copy's 篇 headings make
               eight more parts), parsed once as one text, with and without units

Goals (issues 3 and 17): at least 2 MB/s on the bulk text, the seed document in under 100 ms;
each figure is printed with its ratio to the goal (above 1.00 is met). Times are wall clock, the
best of --rounds (the machine is shared); the first parse of a process (imports, regex
compilation) is excluded from the seed figures and reported on its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from taskflow.parsing import parse_text  # noqa: E402
from taskflow.plans.loader import index_from_units_files  # noqa: E402

DEFAULT_SEED = REPO.parent / "shared" / "seed" / "000_cdc5908520cba364.txt"
SEED_GOAL_S = 0.100  # the seed document in under 100 ms
BULK_GOAL_MBS = 2.0  # at least 2 MB/s


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED)
    args = parser.parse_args()

    text = args.seed.read_text(encoding="utf-8")
    size = len(text.encode("utf-8"))
    units = index_from_units_files([REPO / "seed_plans" / "org"])

    first, _ = timed(lambda: parse_text(text, year=2025, units=units))
    print(f"seed document: {size / 1024:.1f} KB, {len(text.splitlines())} lines")
    print(f"  first parse in this process (imports, regexes): {first * 1000:.1f} ms")
    for label, index in (("with units", units), ("without units", None)):
        runs = []
        result = None
        for _ in range(args.rounds):
            elapsed, result = timed(lambda index=index: parse_text(text, year=2025, units=index))
            runs.append(elapsed)
        plans = len(result.found)  # type: ignore[attr-defined]
        tasks = sum(len(p.review.tasks) for p in result.found)  # type: ignore[attr-defined]
        print(f"  {label:<14} best {min(runs) * 1000:6.1f} ms, median "
              f"{statistics.median(runs) * 1000:6.1f} ms ({plans} plans, {tasks} tasks; "
              f"{size / min(runs) / 1e6:.2f} MB/s) — goal 100 ms: ratio "
              f"{SEED_GOAL_S / min(runs):.2f}")

    copies = max(1, round(args.mb * 1e6 / size))
    bulk = "\n".join([text] * copies)
    bulk_size = len(bulk.encode("utf-8"))
    print(f"bulk: the seed document x{copies} = {bulk_size / 1e6:.1f} MB")
    for label, index in (("with units", units), ("without units", None)):
        runs = []
        for _ in range(max(1, args.rounds // 2)):
            elapsed, result = timed(lambda index=index: parse_text(bulk, year=2025, units=index))
            runs.append(elapsed)
        elapsed = min(runs)
        tasks = sum(len(p.review.tasks) for p in result.found)  # type: ignore[attr-defined]
        rate = bulk_size / elapsed / 1e6
        print(f"  {label:<14} best {elapsed:6.2f} s, {rate:5.2f} MB/s "
              f"({len(result.plans)} parts, {tasks} tasks) — goal 2 MB/s: ratio "  # type: ignore[attr-defined]
              f"{rate / BULK_GOAL_MBS:.2f}")


if __name__ == "__main__":
    main()
