"""The replica membership scripts against a real HAProxy started on the rendered config:
drain takes a server out of rotation on every load balancer, ready puts it back, and a
load balancer that does not answer does not fail them."""
from __future__ import annotations

import pathlib
import uuid

import pytest

from components.defaults import PORTS
from components.lb_membership import drain_script, ready_script
from components.loadbalancer import render_haproxy_cfg
from components.stack import proxied_services
from tests.configs.daemon_support import (
    haproxy_servers_state, loopback_inventory, port_is_open, run, running_haproxy, wait_until,
)

PASSWORD = "st4ts-" + uuid.uuid4().hex[:12]
# HAProxy's admin-state bits (`show servers state`): forced drain.
FORCED_DRAIN = 0x08


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory):
    # maxconn sized to the ulimit of a test machine (HAProxy wants 2 x maxconn files).
    inv = loopback_inventory("ctl1", enabled_services=["keystone"], haproxy={"maxconn": 2000})
    node = inv.hosts[0]
    out: pathlib.Path = tmp_path_factory.mktemp("haproxy-admin")
    socket_path = out / "haproxy.sock"
    cfg = render_haproxy_cfg(node, inv, proxied_services(inv), PASSWORD)
    with running_haproxy(cfg, out, "lbmember") as (proc, log):
        wait_until("haproxy stats", lambda: port_is_open(node.address, PORTS["haproxy_stats"]), 20, proc, log)
        yield node.address, socket_path


def admin_state(socket_path: pathlib.Path, backend: str, server: str) -> int:
    state = haproxy_servers_state(socket_path, backend)
    assert server in state, f"{backend}/{server} not in {state}"
    return int(state[server][6])


def bash(script: str, password: str = PASSWORD) -> tuple[int, str]:
    done = run(["bash", "-c", script], input_text=password + "\n")
    return done.returncode, done.stderr


def test_drain_then_ready_on_a_real_haproxy(haproxy):
    address, sock = haproxy
    assert admin_state(sock, "keystone", "ctl1") & FORCED_DRAIN == 0
    code, err = bash(drain_script([address], "keystone", "ctl1"))
    assert code == 0 and "not applied" not in err, err
    assert admin_state(sock, "keystone", "ctl1") & FORCED_DRAIN
    code, err = bash(ready_script([address], "keystone", "ctl1"))
    assert code == 0 and "not applied" not in err, err
    assert admin_state(sock, "keystone", "ctl1") & FORCED_DRAIN == 0


def test_a_wrong_password_changes_nothing_and_says_so(haproxy):
    address, sock = haproxy
    code, err = bash(drain_script([address], "keystone", "ctl1"), password="wrong")
    assert code == 0 and "not applied" in err
    assert admin_state(sock, "keystone", "ctl1") & FORCED_DRAIN == 0


def test_an_unreachable_load_balancer_is_reported_not_fatal(haproxy):
    address, sock = haproxy
    # 127.0.0.2 is loopback too, but nothing listens there on the stats port.
    code, err = bash(drain_script(["127.0.0.2", address], "keystone", "ctl1"))
    assert code == 0 and "haproxy on 127.0.0.2" in err
    assert admin_state(sock, "keystone", "ctl1") & FORCED_DRAIN
    assert bash(ready_script([address], "keystone", "ctl1"))[0] == 0
