"""A person's command: run a stack with the OFFLINE EXECUTOR (the Pulumi CLI's part).

    python3 -m lab.executor preview --stack dev [--json] [--show-replacement-steps]
                                               # pulumi preview [--json] [--show-replacement-steps]
    python3 -m lab.executor up --stack dev [--replace URN]   # pulumi up [--replace URN]
    python3 -m lab.executor replace --stack dev URN          # pulumi up --replace URN
    python3 -m lab.executor refresh --stack dev              # pulumi refresh
    python3 -m lab.executor destroy --stack dev              # pulumi destroy
    python3 -m lab.executor state delete --stack dev URN...  # pulumi state delete URN
    python3 -m lab.executor state delete --stack dev --host ctl2   # every resource of a dead host

It runs the unchanged program under Pulumi's mocks and performs each step against the
lab's Docker daemons and SSH, following the engine's rules (PULUMI-ENGINE.md); what it
cannot model is refused with a message, never approximated.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
from collections import Counter
from pathlib import Path

from lab.executor.diff import UnsupportedByExecutor
from lab.executor.engine import DeploymentFailed
from lab.executor.preview_json import blinded_config, preview_digest
from lab.executor.refresh import refresh
from lab.executor.run import PROJECT, default_state_path, read_stack_file, run_stack, stack_secrets
from lab.executor.state import StateFormatError
from lab.executor.state_delete import StateDeleteRefused, forget_host, state_delete


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m lab.executor", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--stack", default="dev")
        sub.add_argument("--state", type=Path, default=None,
                         help="state file (default lab/.state/engine-<stack>.json)")

    preview = commands.add_parser("preview", help="plan without touching anything")
    common(preview)
    preview.add_argument("--json", action="store_true", help="print the `pulumi preview --json` document")
    preview.add_argument("--show-replacement-steps", action="store_true")
    preview.add_argument("--show-sames", action="store_true")
    preview.add_argument("--replace", action="append", default=[], metavar="URN")
    up = commands.add_parser("up", help="deploy")
    common(up)
    up.add_argument("--replace", action="append", default=[], metavar="URN",
                    help="replace this resource even if unchanged (pulumi up --replace)")
    replace = commands.add_parser("replace", help="pulumi up --replace URN")
    common(replace)
    replace.add_argument("urns", nargs="+", metavar="URN")
    common(commands.add_parser("destroy", help="delete every resource of the stack"))
    common(commands.add_parser("refresh", help="read every resource back; drop what is gone"))
    state = commands.add_parser("state", help="state surgery")
    state_commands = state.add_subparsers(dest="state_command", required=True)
    delete = state_commands.add_parser("delete", help="forget resources (pulumi state delete)")
    common(delete)
    delete.add_argument("urns", nargs="*", metavar="URN")
    delete.add_argument("--target-dependents", action="store_true")
    delete.add_argument("--host", action="append", default=[],
                        help="forget every resource living on this host (its name in the stack file, or its "
                             "address); repeat for several hosts")
    return parser


def _host_address(stack: str, host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    for entry in read_stack_file(stack).get("hosts") or []:
        if entry.get("name") == host:
            return str(entry["address"])
    raise SystemExit(f"--host {host}: not in Pulumi.{stack}.yaml's hosts; give its address instead")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    state_path: Path = args.state or default_state_path(args.stack)
    as_json = args.command == "preview" and args.json
    err = sys.stderr if as_json else sys.stdout

    def log(line: str) -> None:
        print(line, file=err, flush=True)

    print(f"kolla-ha offline executor (not the Pulumi CLI): {args.command} --stack {args.stack}", file=err)
    start = time.monotonic()
    try:
        if args.command == "refresh":
            refresh(state_path, log=log)
            return 0
        if args.command == "state":
            if args.host:
                forgotten = [urn for host in args.host
                             for urn in forget_host(state_path, _host_address(args.stack, host))]
            elif args.urns:
                forgotten = state_delete(state_path, args.urns, args.target_dependents)
            else:
                raise SystemExit("state delete: name URNs or --host")
            for urn in forgotten:
                log(f"forgotten: {urn}")
            log(f"{len(forgotten)} resource(s) removed from {state_path} (nothing was deleted on the hosts)")
            return 0
        replace = list(getattr(args, "replace", []) or []) + list(getattr(args, "urns", []) or [])
        engine, _ = run_stack(args.stack, preview=args.command == "preview", destroy=args.command == "destroy",
                              state_path=state_path, log=log, replace=replace)
    except (UnsupportedByExecutor, StateFormatError, StateDeleteRefused, DeploymentFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a failed step or a program error, as `pulumi up` reports it
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"the state written so far is in {state_path}", file=sys.stderr)
        return 1
    duration = time.monotonic() - start
    if as_json:
        values = read_stack_file(args.stack)
        given = stack_secrets(args.stack)
        config = blinded_config({**values, **given}, set(given), PROJECT)
        doc = preview_digest(engine.plan, config, int(duration * 1e9), engine.diagnostics,
                             show_sames=args.show_sames, show_replacement_steps=args.show_replacement_steps)
        print(json.dumps(doc, indent=4))
        return 0
    counts = Counter(step.op for step in engine.plan)
    summary = ", ".join(f"{n} {op}" for op, n in sorted(counts.items()))
    log(f"{'plan' if args.command == 'preview' else 'done'}: {summary or 'nothing'} in {duration:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
