"""components/rabbitmq.py under mocks: one node per messaging host, joined one by one."""
from __future__ import annotations

import json
import urllib.parse

from offline.program import is_secret, resolve
from tests.unit.layouts import layout_run
from tests.unit.program_checks import (
    address, assert_kolla_container, assert_rolling_chain, containers, group, upload,
)


def test_rabbitmq_on_every_messaging_host_only(run):
    found = containers(run, "rabbitmq")
    assert sorted(found) == sorted(group(run, "messaging"))
    for host, reg in found.items():
        assert_kolla_container(run, reg, host, "rabbitmq")


def test_nodes_resolve_each_other_and_share_one_cookie(run):
    messaging = group(run, "messaging")
    found = containers(run, "rabbitmq")
    cookies = set()
    for host, reg in found.items():
        hosts = {h["host"]: h["ip"] for h in reg.inputs["hosts"]}
        assert hosts == {m: address(run, m) for m in messaging}
        cookie = upload(reg, "erlang.cookie")
        assert upload(reg, "erlang.cookie.root") == cookie and len(cookie.strip()) >= 20
        cookies.add(cookie)
        conf = upload(reg, "rabbitmq.conf")
        for member in messaging:
            assert f"rabbit@{member}" in conf, f"{host}: classic_config misses {member}"
        users = {u["name"] for u in json.loads(upload(reg, "definitions.json"))["users"]}
        assert users == {"admin", "nova", "neutron", "cinder"}
    assert len(cookies) == 1


def test_nodes_start_one_after_another_after_host_preparation(run):
    messaging = group(run, "messaging")
    assert_rolling_chain(run, "rabbitmq", messaging)
    for host, reg in containers(run, "rabbitmq").items():
        assert f"{host}-prepare" in reg.depends_on(), f"{host}: rabbitmq before /etc/hosts is written"
    assert containers(run, "rabbitmq")[messaging[0]].depends_on() == [
        f"{messaging[0]}-prepare", f"{messaging[0]}-volume-rabbitmq"]
    assert run.namespace["plane"].messaging.ready._name == f"{messaging[-1]}-rabbitmq"  # pylint: disable=protected-access


def test_transport_url_names_every_node_and_is_secret(run):
    messaging = group(run, "messaging")
    url = run.namespace["plane"].messaging.transport_url("nova")
    assert is_secret(url)
    value = resolve(url)
    assert value.startswith("rabbit://") and value.endswith("//")
    nodes = value[len("rabbit://"):-2].split(",")
    assert len(messaging) in (3, 5) and len(nodes) == len(messaging)
    hosts = [urllib.parse.urlsplit(f"rabbit://{n}").hostname for n in nodes]
    assert hosts == [address(run, m) for m in messaging]
    assert all(urllib.parse.urlsplit(f"rabbit://{n}").username == "nova" for n in nodes)
    assert all(urllib.parse.urlsplit(f"rabbit://{n}").port == 5672 for n in nodes)


def test_transport_url_has_five_nodes_for_five_messaging_hosts():
    five = layout_run("5-hosts")
    assert len(group(five, "messaging")) == 5
    value = resolve(five.namespace["plane"].messaging.transport_url("neutron"))
    assert [urllib.parse.urlsplit(f"rabbit://{n}").hostname for n in value[9:-2].split(",")] == [
        f"10.0.0.{10 + i}" for i in range(1, 6)]
