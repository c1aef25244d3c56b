"""Recover Galera after a full shutdown: bootstrap from the node with the highest seqno.

After every node has stopped (power loss, maintenance), no node may simply start: each
waits for a Primary component that no longer exists. The node that committed last must
form the new cluster and the others join it (SST/IST). This tool

1. reads every database node's /var/lib/mysql/grastate.dat through its Docker daemon
   (and, where the seqno is -1 after a crash, asks `mariadbd --wsrep-recover`),
2. picks the node with the highest seqno (refusing if the nodes' cluster UUIDs differ),
3. with --apply: leaves the kolla-ha-new-cluster marker on that node, starts its
   mariadb container, waits until it is healthy (Synced), then starts the others one by
   one. Without --apply it only prints the plan.

    python3 -m ops.galera_recover --stack-file Pulumi.prod.yaml [--apply]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Sequence

from ops.stack_file import load_inventory

_RECOVERED = re.compile(r"WSREP: Recovered position: ([0-9a-f-]{36}):(-?\d+)")


@dataclass(frozen=True)
class NodeState:
    name: str
    uuid: str
    seqno: int
    safe_to_bootstrap: bool


def parse_grastate(name: str, text: str) -> NodeState:
    fields = dict(
        line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#")
    )
    return NodeState(
        name=name,
        uuid=fields.get("uuid", "").strip(),
        seqno=int(fields.get("seqno", "-1").strip()),
        safe_to_bootstrap=fields.get("safe_to_bootstrap", "0").strip() == "1",
    )


def parse_recovered(name: str, log: str, fallback: NodeState) -> NodeState:
    """The position `mariadbd --wsrep-recover` logged, for a node that crashed (seqno -1)."""
    match = _RECOVERED.search(log)
    if not match:
        return fallback
    return NodeState(name, match.group(1), int(match.group(2)), fallback.safe_to_bootstrap)


def choose_bootstrap(states: Sequence[NodeState]) -> NodeState:
    """The node that must form the new cluster; raises when that cannot be decided safely."""
    if not states:
        raise ValueError("no database nodes")
    uuids = {s.uuid for s in states if s.uuid and s.uuid != "00000000-0000-0000-0000-000000000000"}
    if len(uuids) > 1:
        raise ValueError(
            "the nodes belong to different clusters (uuids " + ", ".join(sorted(uuids)) + "); "
            "recover by hand: pick the cluster to keep and wipe the others' /var/lib/mysql"
        )
    unknown = [s.name for s in states if s.seqno < 0]
    if unknown:
        raise ValueError(
            f"seqno unknown on {', '.join(unknown)} even after --wsrep-recover; their data may be "
            "damaged; recover by hand"
        )
    # Highest seqno wins; on a tie, the node Galera itself marked safe, then host order.
    best = max(states, key=lambda s: (s.seqno, s.safe_to_bootstrap))
    return best


def _docker(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "-H", url, *args], capture_output=True, text=True, check=False)


def _in_volume(url: str, image: str, script: str) -> str:
    done = _docker(url, "run", "--rm", "--entrypoint", "bash", "-v", "mariadb:/var/lib/mysql", image, "-c", script)
    return done.stdout + done.stderr


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recover Galera after a full shutdown")
    parser.add_argument("--stack-file", required=True)
    parser.add_argument("--apply", action="store_true", help="act; without it only print the plan")
    args = parser.parse_args(argv)
    inv = load_inventory(args.stack_file)
    image = inv.images.ref("mariadb-server")
    states = []
    for host in inv.group("database"):
        status = _docker(host.docker_url, "inspect", "-f", "{{.State.Running}}", "mariadb").stdout.strip()
        if status == "true":
            print(f"{host.name}: mariadb is running; stop every node before a full-shutdown recovery")
            return 2
        state = parse_grastate(host.name, _in_volume(host.docker_url, image, "cat /var/lib/mysql/grastate.dat"))
        if state.seqno < 0:
            log = _in_volume(host.docker_url, image,
                             "mariadbd --defaults-file=/etc/mysql/my.cnf --user=mysql --wsrep-recover 2>&1 || true")
            state = parse_recovered(host.name, log, state)
        print(f"{host.name}: uuid={state.uuid} seqno={state.seqno} safe_to_bootstrap={int(state.safe_to_bootstrap)}")
        states.append(state)
    chosen = choose_bootstrap(states)
    print(f"bootstrap from {chosen.name} (seqno {chosen.seqno}); the others join it in host order")
    if not args.apply:
        print("plan only; run again with --apply to act")
        return 0
    order = [inv.host(chosen.name)] + [h for h in inv.group("database") if h.name != chosen.name]
    _in_volume(order[0].docker_url, image,
               "touch /var/lib/mysql/kolla-ha-new-cluster && chown mysql:mysql /var/lib/mysql/kolla-ha-new-cluster")
    for host in order:
        _docker(host.docker_url, "start", "mariadb")
        for _ in range(300):
            health = _docker(host.docker_url, "inspect", "-f", "{{.State.Health.Status}}", "mariadb").stdout.strip()
            if health == "healthy":
                print(f"{host.name}: Synced")
                break
            time.sleep(2)
        else:
            print(f"{host.name}: not healthy after 10 minutes; see `docker logs mariadb` there", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
