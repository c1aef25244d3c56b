"""How the program itself scales: evaluate __main__.py under mocks for 3, 9, 27 and 81
hosts and print hosts, resources, dependency edges, seconds and peak memory per size.

    python3 -m benchmarks.program_scale [--sizes 3,9,27,81] [--repeat 3] [--plot docs/program-scale.png]
        [--save rows.json] [--baseline earlier-rows.json]

The layout is a cloud's, not a lab's: the API services (the default catalogue) and
memcached on every host, Galera, RabbitMQ and the load balancers on the first three.
Every measurement runs in a fresh Python process, as each `pulumi up` does: runs that
share a process share the SDK's root stack and slow down with every run, which would
be measuring the harness. Figures, not pass/fail: the numbers go into the README and
reports, not into timed tests. Seconds are wall-clock; CPU seconds are the process's own,
which is the fairer figure on a machine other work shares.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPREAD_GROUPS = ("control", "memcached")
QUORUM_SIZE = 3


def layout(hosts: int) -> tuple[dict[str, Any], frozenset[str]]:
    """The stack config for `hosts` hosts: APIs and memcached everywhere, the rest on three."""
    from tests.unit.inventory_fixtures import make_config

    raw, secret_keys = make_config(hosts)
    names = [h["name"] for h in raw["hosts"]]
    for group in raw["groups"]:
        if group not in SPREAD_GROUPS:
            raw["groups"][group] = names[:QUORUM_SIZE]
    return raw, secret_keys


def measure_here(hosts: int) -> dict[str, Any]:
    """One evaluation of the program in this process (meant to be a fresh one)."""
    from offline.program import run_program

    raw, secret_keys = layout(hosts)
    start, cpu_start = time.perf_counter(), time.process_time()
    run = run_program(raw, secret_keys)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    edges = sum(len(set(reg.dependencies)) for reg in run.registrations)
    return {
        "hosts": hosts,
        "resources": len(run.registrations),
        "edges": edges,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(hosts: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.program_scale", "--one", str(hosts)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **runs[0],
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| hosts | resources | dependency edges | seconds | CPU seconds | peak RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['hosts']} | {r['resources']} | {r['edges']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} "
        f"| {r['peak_rss_mib']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, baseline: list[dict[str, Any]] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    resources = [r["resources"] for r in rows]
    if baseline:
        left.plot([r["resources"] for r in baseline], [r["cpu_seconds"] for r in baseline], "x:", color="tab:red",
                  label="baseline, CPU")
    left.plot(resources, [r["seconds"] for r in rows], "o-", label="wall")
    left.plot(resources, [r["cpu_seconds"] for r in rows], "s-", label="CPU")
    per_resource = rows[0]["cpu_seconds"] / rows[0]["resources"]
    left.plot(resources, [per_resource * n for n in resources], "--", color="grey",
              label=f"CPU, linear from {rows[0]['hosts']} hosts")
    left.set_xlabel("resources")
    left.set_ylabel("seconds to evaluate the program")
    left.legend()
    for r in rows:
        left.annotate(f"{r['hosts']} hosts", (r["resources"], r["cpu_seconds"]),
                      textcoords="offset points", xytext=(4, -12), fontsize=8)
    if baseline:
        right.plot([r["resources"] for r in baseline], [r["edges"] for r in baseline], "x:", color="tab:red",
                   label="dependency edges, baseline")
    right.plot(resources, [r["edges"] for r in rows], "o-", label="dependency edges")
    right.plot(resources, [r["peak_rss_mib"] for r in rows], "s-", label="peak RSS (MiB)")
    right.set_xlabel("resources")
    right.legend()
    fig.suptitle("kolla-ha program under mocks, one fresh process per size")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="3,9,27,81")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plot", type=Path, help="write the figure here (PNG)")
    parser.add_argument("--save", type=Path, help="write the rows here (JSON), for a later --baseline")
    parser.add_argument("--baseline", type=Path, help="rows of an earlier run (JSON) to draw for comparison")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure_here(args.one)))
        return
    rows = [summarise([measure(int(size)) for _ in range(args.repeat)]) for size in args.sizes.split(",")]
    print(table(rows))
    first, last = rows[0], rows[-1]
    print(
        f"\n{last['hosts']} hosts against {first['hosts']}: "
        f"{last['resources'] / first['resources']:.1f} x the resources, "
        f"{last['edges'] / max(first['edges'], 1):.1f} x the edges, "
        f"{last['seconds'] / first['seconds']:.1f} x the seconds "
        f"({last['cpu_seconds'] / first['cpu_seconds']:.1f} x the CPU seconds)"
    )
    if args.save:
        args.save.write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, args.plot, json.loads(args.baseline.read_text()) if args.baseline else None)
        print(f"figure: {args.plot}")


if __name__ == "__main__":
    main()
