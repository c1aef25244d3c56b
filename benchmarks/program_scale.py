"""How the program itself scales: evaluate __main__.py under mocks for 3, 9 and 27
controller hosts with the full catalogue enabled, and print resources and seconds.

    python3 -m benchmarks.program_scale [--sizes 3,9,27] [--repeat 3]

Every host is in every group (the largest program for that host count). Figures,
not pass/fail: the numbers go into reports, not into timed tests.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections import Counter

from components.catalog import CATALOG
from offline.program import run_program
from tests.unit.inventory_fixtures import make_config


def measure(hosts: int, repeat: int) -> tuple[int, Counter[str], list[float]]:
    raw, secret_keys = make_config(hosts, enabled_services=list(CATALOG))
    seconds: list[float] = []
    count = 0
    kinds: Counter[str] = Counter()
    for _ in range(repeat):
        start = time.perf_counter()
        run = run_program(raw, secret_keys)
        seconds.append(time.perf_counter() - start)
        count = len(run.registrations)
        kinds = Counter(r.type.split(":")[-1] for r in run.registrations)
    return count, kinds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,9,27")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'hosts':>5} {'resources':>9} {'containers':>10} {'median s':>9} {'min s':>7} {'max RSS MiB':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        count, kinds, seconds = measure(size, args.repeat)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{size:>5} {count:>9} {kinds['Container']:>10} {statistics.median(seconds):>9.2f} "
            f"{min(seconds):>7.2f} {rss:>11.0f}"
        )


if __name__ == "__main__":
    main()
