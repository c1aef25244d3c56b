"""A replica's place in every HAProxy: drained before its container goes away.

Used for every API replica and every Galera node (whose backend has one active server
and backups: draining the writer moves new connections to a backup before it stops).

Stopping a replica that HAProxy still sends requests to costs clients errors: requests
already queued on its socket fail with 502 until the health checks notice (seconds).
So each replica gets a command whose lifetime brackets the container's:

- create (after the container is healthy): mark the server `ready` on every HAProxy;
- delete (before the container is stopped): mark it `drain` on every HAProxy, so no new
  request reaches it, and wait until its in-flight requests are done.

The command's `triggers` hold the container's id. When the container is replaced
(fixed name, so delete-before-replace), Pulumi replaces every resource whose inputs
depend on the old container first, deleting it before the container: the drain runs
before the stop, the `ready` after the new container is healthy.

HAProxy is driven through its stats page (`stats admin`, behind the stats password and
bound to the internal address only): the replica's host reaches every load balancer over
the internal network, while the runtime socket is local to each load-balancer host.
"""
from __future__ import annotations

from typing import Sequence

import pulumi
import pulumi_command as command

from components.defaults import PORTS
from components.host import HostNode

# How long a drain waits for a replica's in-flight requests before giving up waiting
# (the container is stopped anyway; its stop grace period covers the rest).
DRAIN_WAIT_S = 30


def _preamble(loadbalancers: Sequence[str], backend: str, server: str) -> list[str]:
    """Shell helpers. The stats password arrives on stdin and goes to curl through its
    config on stdin too: never in an argument list (visible in `ps`) or the environment."""
    port = PORTS["haproxy_stats"]
    return [
        "set -u",
        "IFS= read -r password",
        "stats() {  # stats <address> <path> [curl options...]: a request to one HAProxy's stats page",
        '  local address=$1 path=$2; shift 2',
        "  printf 'user = \"admin:%s\"\\n' \"$password\" |",
        f'    curl -s --max-time 5 -K - "$@" "http://$address:{port}$path"',
        "}",
        "act() {  # act <action>: on every HAProxy; one that does not answer is reported, not fatal",
        f"  for address in {' '.join(loadbalancers)}; do",
        "    location=$(stats \"$address\" / -o /dev/null -w '%{redirect_url}' "
        f"--data \"s={server}&action=$1&b={backend}\" || true)",
        '    case "$location" in',
        "      *st=DONE*) ;;",
        f'      *) echo "haproxy on $address: $1 {backend}/{server} not applied (${{location:-no answer}})" >&2 ;;',
        "    esac",
        "  done",
        "}",
    ]


def ready_script(loadbalancers: Sequence[str], backend: str, server: str) -> str:
    # A failed load balancer must not block bringing replicas back.
    return "\n".join(_preamble(loadbalancers, backend, server) + ["act ready", "exit 0"]) + "\n"


def drain_script(loadbalancers: Sequence[str], backend: str, server: str) -> str:
    """Drain, then wait until no HAProxy has a session open to the server."""
    return "\n".join(_preamble(loadbalancers, backend, server) + [
        "act drain",
        f"for i in $(seq 1 {DRAIN_WAIT_S}); do",
        "  busy=0",
        f"  for address in {' '.join(loadbalancers)}; do",
        # CSV columns: pxname, svname, qcur, qmax, scur (current sessions), ...
        "    sessions=$(stats \"$address\" '/;csv' -f \\",
        f"      | awk -F, '$1 == \"{backend}\" && $2 == \"{server}\" {{ print $5 }}' || true)",
        '    if [ -n "$sessions" ] && [ "$sessions" != 0 ]; then busy=1; fi',
        "  done",
        '  [ "$busy" = 0 ] && exit 0',
        "  sleep 1",
        "done",
        f"echo 'requests to {backend}/{server} still open after {DRAIN_WAIT_S}s; stopping anyway' >&2",
        "exit 0",
    ]) + "\n"


def stats_credentials(stats_password: pulumi.Output[str]) -> pulumi.Output[str]:
    """What a membership command reads on stdin: the stats password, one line. Made once
    per tier and shared by its members."""
    return pulumi.Output.secret(stats_password.apply(lambda pw: pw + "\n"))


def lb_membership(
    host: HostNode,
    backend: str,
    container: pulumi.Resource,
    loadbalancers: Sequence[str],
    credentials: pulumi.Output[str],
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> command.remote.Command:
    """The command that brackets `container` as server `host` of HAProxy backend `backend`;
    its `ready` also waits for `after` (what else must serve before traffic returns)."""
    server = host.spec.name
    return command.remote.Command(
        f"{server}-{backend}-lb-member",
        connection=host.connection,
        create=ready_script(loadbalancers, backend, server),
        delete=drain_script(loadbalancers, backend, server),
        # The password travels on stdin, which pulumi-command feeds to delete as well.
        stdin=credentials,
        # The container's id: a new container means a new membership, drained first.
        # It is also what orders this command after the container (no depends_on
        # besides: a second edge to the same container costs the SDK a second walk of
        # everything the container depends on, for nothing).
        triggers=[container.id],  # type: ignore[attr-defined]
        logging="none",
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after),
                                    additional_secret_outputs=["stdout", "stderr"]),
    )
