"""A Galera node frozen (SIGSTOP) past evs.suspect_timeout, on three real mariadbd nodes
(the cluster of test_galera_cluster_crash), then thawed: the others have dropped it, yet
for some seconds its own status still reads Synced in a Primary component of three. The
rendered clustercheck must not call it fit until it is back in the others' component:
a 200 there gave it the writer role back in the lab and its writes hung and failed.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from tests.configs.test_galera_cluster_crash import Node, _wait, cluster  # noqa: F401 (the fixture)
from tests.configs.test_galera_daemon import http_check


def check(node: Node, *python_flags: str) -> int:
    """The rendered clustercheck's HTTP status for `node` (its one-shot mode, which asks
    the server exactly as the served one does); -S: without PyMySQL, the mysql client."""
    _, answer = http_check([sys.executable, *python_flags, str(node.base / "etc" / "galera_clustercheck")], node.env)
    return int(answer.split(" ", 2)[1])


def size_seen_by(node: Node) -> str:
    """The size of the component `node` is in, "" when it does not answer."""
    return node.status().get("wsrep_cluster_size", "")


def test_a_thawed_node_is_not_fit_until_the_others_have_it_back(cluster: list[Node]) -> None:  # noqa: F811
    first, frozen = cluster[0], cluster[2]
    assert frozen.server is not None
    assert check(frozen) == 200
    os.kill(frozen.server.pid, signal.SIGSTOP)
    try:
        _wait("the others drop the frozen node", lambda: size_seen_by(first) == "2", cluster, 60)
    finally:
        os.kill(frozen.server.pid, signal.SIGCONT)
    stale_seen = False
    fit_too_early: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        before = size_seen_by(first)
        own = frozen.status()
        answers = {"pymysql": check(frozen), "mysql client": check(frozen, "-S")}
        after = size_seen_by(first)
        still_out = before == after == "2"
        if still_out and (own.get("wsrep_local_state_comment"), own.get("wsrep_cluster_status")) == ("Synced", "Primary"):
            stale_seen = True
        if still_out:
            fit_too_early += [path for path, code in answers.items() if code == 200]
        elif after == "3" and set(answers.values()) == {200}:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the thawed node never fit again: {frozen.status()}")
    # Without the stale window this test would prove nothing: the thawed node did read
    # Synced and Primary while the others still counted two.
    assert stale_seen
    assert not fit_too_early, f"the clustercheck answered 200 while the others had dropped the node: {fit_too_early}"
