"""Is a host back in every tier it serves? Asked on the host itself, over SSH.

A host is back when every kolla-ha container on it runs and passes its health check,
and, beyond what one container can tell: its Galera node is Synced in a Primary
component of the full size with a real state UUID, its RabbitMQ node sees every node running, and its
keepalived is BACKUP or MASTER (FAULT means it could never take the VIP).
"""
from __future__ import annotations

import json
import time
from typing import Callable

from components.inventory import Host, Inventory
from components.loadbalancer import KEEPALIVED_CONFIG
from ops.host_access import HostUnreachable, run_over_ssh

# One round trip: every answer as `key<TAB>value` lines. @CHECK_HAPROXY@ is keepalived's
# track script, in the folder keepalived.conf comes from.
_PROBE = r"""
set -u
ids="$(docker ps -aq --filter label=kolla-ha.service)"
ready=no
if [ -n "$ids" ]; then
  # One inspect for every container: one Docker CLI process instead of forty.
  inspected="$(docker inspect -f "container	{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.HostConfig.RestartPolicy.Name}}" $ids)"
  printf '%s\n' "$inspected"
  ready=yes
  # The same rules as read_probe, in builtins: a service runs and is healthy (or has
  # no check); a one-shot step (no restart policy) may have exited.
  while read -r _ _ status health restart; do
    case "$status/$health/$restart" in
      running/healthy/*|running/none/*|exited/*/no|exited/*/) ;;
      *) ready=no ;;
    esac
  done <<< "$inspected"
fi
if [ "$ready" = no ]; then
  # The questions below start processes in the containers (rabbitmqctl boots an Erlang
  # VM): while a container is still starting, the host is not back whatever they say,
  # and after a full power loss they took CPU from the very services being waited for.
  printf 'deferred\tasked again once every container runs and is healthy\n'
  exit 0
fi
# Which tiers' containers this host runs, from the inspect above.
has() { [[ "$inspected" == *"	/$1 "* ]]; }
if has mariadb; then
  docker exec mariadb mysql -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_status','wsrep_cluster_size','wsrep_cluster_state_uuid')" 2>/dev/null | sed 's/^/galera	/'
fi
if has rabbitmq; then
  printf 'rabbitmq\t%s\n' "$(docker exec rabbitmq rabbitmqctl -q cluster_status --formatter json 2>/dev/null | tr -d '\n')"
fi
if has keepalived; then
  state="$(docker exec keepalived sh -c 'rm -f /tmp/keepalived.data; kill -USR1 1; for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /tmp/keepalived.data ] && break; sleep 0.2; done; grep -m1 "State = " /tmp/keepalived.data' 2>/dev/null | tr -d ' ')"
  printf 'keepalived\t%s\n' "$state"
  case "$state" in
    State=BACKUP|State=MASTER) ;;
    # Why not eligible: keepalived's own view of its track script, the script's answer
    # now, and keepalived's last words; what an operator needs before restarting it.
    # The dump's age tells a live VRRP process from a stuck one (a stuck one leaves the
    # file unwritten); curl -sS by hand says why the check fails where it fails.
    *) printf 'keepalived-why\t%s\n' "$(docker exec keepalived sh -c 'echo "dump written $(( $(date +%s) - $(stat -c %Y /tmp/keepalived.data 2>/dev/null || echo 0) )) s ago;"; grep -A16 "VRRP Script = " /tmp/keepalived.data | grep -E "Result|Insecure|Init state|Status|State = "; @CHECK_HAPROXY@; echo "check_haproxy by hand: exit $?;"; sed -n "s/^exec //p" @CHECK_HAPROXY@ | sed "s/ -sf / -sS /" | sh 2>&1 | tail -1' 2>&1 | tr -s ' \n' ' ')" \
         "addresses: $(ip -br addr 2>&1 | tr -s ' \n' ' ')" \
         "haproxy listens: $(ss -Hltn 2>&1 | awk '{print $4}' | tr '\n' ' ')" \
         "$(docker logs --tail 8 keepalived 2>&1 | tr -s ' \n' ' ')" ;;
  esac
fi
""".replace("@CHECK_HAPROXY@", f"{KEEPALIVED_CONFIG.mounted_dir}/check_haproxy")


# The probe may start an Erlang VM (rabbitmqctl) and asks Docker about forty containers:
# on the lab's two shared cores under the workload it took over 60 s (2026-12-06: every
# look at a thawed or rebooted host timed out for the whole wait), so a slow answer
# must not read as no answer. A host that is down still fails fast (ssh ConnectTimeout).
PROBE_TIMEOUT_S = 180.0


def problems(host: Host, inv: Inventory) -> list[str]:
    """What keeps `host` from serving every tier it belongs to (empty: it is back)."""
    try:
        result = run_over_ssh(host, _PROBE, timeout=PROBE_TIMEOUT_S)
    except HostUnreachable as err:
        return [str(err)]
    return read_probe(result.stdout, host, inv)


def read_probe(stdout: str, host: Host, inv: Inventory) -> list[str]:
    """The probe's answer, judged; pure, so the rules are unit-tested."""
    found: list[str] = []
    galera: dict[str, str] = {}
    rabbit = ""
    keepalived = ""
    keepalived_why: list[str] = []
    containers = 0
    deferred = False
    for line in stdout.splitlines():
        kind, _, value = line.partition("\t")
        if kind == "container":
            containers += 1
            name, status, health, restart = (value.lstrip("/").split() + ["", "", "", ""])[:4]
            # One-shot steps (no restart policy) exit by design; services must run and be
            # healthy: a stopped haproxy is as gone as a crashed one.
            if status != "running" and not (status == "exited" and restart in ("no", "")):
                found.append(f"{name} is {status}")
            elif status == "running" and health not in ("healthy", "none"):
                found.append(f"{name} is {health}")
        elif kind == "galera":
            key, _, val = value.partition("\t")
            galera[key] = val
        elif kind == "rabbitmq":
            rabbit = value
        elif kind == "keepalived":
            keepalived = value
        elif kind == "keepalived-why":
            keepalived_why.append(value.strip())
        elif kind == "deferred":
            deferred = True
    if containers == 0:
        found.append("no kolla-ha container answers")
    if deferred and found:
        # The tiers' own questions wait for the containers (see _PROBE).
        return found
    if host.name in inv.groups.get("database", ()):
        size = str(len(inv.groups["database"]))
        if (galera.get("wsrep_local_state_comment"), galera.get("wsrep_cluster_status"),
                galera.get("wsrep_cluster_size")) != ("Synced", "Primary", size):
            found.append(f"galera: {galera or 'no answer'}")
        elif galera.get("wsrep_cluster_state_uuid", "").strip("0-") == "":
            # Serving, but without a state UUID no node could ever join it again.
            found.append("galera: the cluster has no state UUID (a joiner could never sync)")
    if host.name in inv.groups.get("messaging", ()):
        try:
            running = sorted(json.loads(rabbit).get("running_nodes", []))
        except ValueError:
            running = []
        wanted = sorted(f"rabbit@{n}" for n in inv.groups["messaging"])
        if running != wanted:
            found.append(f"rabbitmq: running nodes {running or 'none'}")
    if host.name in inv.groups.get("loadbalancer", ()):
        if keepalived not in ("State=BACKUP", "State=MASTER"):
            found.append(f"keepalived: {keepalived or 'no state'}"
                         + "".join(f" ({why})" for why in keepalived_why if why))
    return found


def wait_until_back(host: Host, inv: Inventory, timeout: float, interval: float = 2.0,
                    clock: Callable[[], float] = time.monotonic,
                    on_look: Callable[[list[str]], None] | None = None) -> tuple[float | None, list[str]]:
    """Seconds until `host` is back in every tier (None if not within `timeout`), and
    what was still wrong at the last look. `on_look` sees every look's answer."""
    start = clock()
    last: list[str] = []
    while clock() - start < timeout:
        last = problems(host, inv)
        if on_look is not None:
            on_look(last)
        if not last:
            return clock() - start, []
        time.sleep(interval)
    return None, last
