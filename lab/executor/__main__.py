"""A person's command: deploy a stack into the lab with the OFFLINE EXECUTOR.

    python3 -m lab.executor up --stack dev        # with the Pulumi CLI: pulumi up --stack dev
    python3 -m lab.executor preview --stack dev   # pulumi preview --stack dev
    python3 -m lab.executor destroy --stack dev   # pulumi destroy --stack dev

This is not Pulumi's engine: it runs the unchanged program under Pulumi's mocks and
performs each declared resource against the lab's real Docker daemons and SSH.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from lab.executor.run import run_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m lab.executor", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "preview", "destroy"])
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    print(f"kolla-ha offline executor (not the Pulumi CLI): {args.action} --stack {args.stack}")
    start = time.monotonic()
    executor, _ = run_stack(args.stack, preview=args.action == "preview", destroy=args.action == "destroy")
    counts = Counter(step.op for step in executor.plan)
    summary = ", ".join(f"{n} {op}" for op, n in sorted(counts.items()))
    print(f"{'plan' if args.action == 'preview' else 'done'}: {summary or 'nothing'} "
          f"in {time.monotonic() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
