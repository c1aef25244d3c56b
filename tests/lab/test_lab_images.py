"""Every image starts on a lab host from a minimal config and passes its health check.

The images the dev stack deploys are proven far more strongly by tests/e2e (deployed,
clustered, faulted, upgraded); here every image must have a check, and the checks run for
the images the dev stack does not deploy (nova, neutron, horizon, the parents), which
would otherwise never start anywhere in the tests.
"""
from __future__ import annotations

import pytest

from images.image_set import KOLLA_IMAGES
from lab import Lab
from lab.executor.run import read_stack_file
from lab.topology import lab_hosts
from offline.program import run_program
from service_checks import CHECKS
from service_run import run_check

HOSTS = lab_hosts(3)


def images_the_dev_stack_deploys() -> set[str]:
    values = {**read_stack_file("dev"), "keystone_admin_password": "not-used-here"}
    # Which images, not how hosts are reached: the lab's key need not exist yet.
    values["hosts"] = [{**h, "ssh": {k: v for k, v in h.get("ssh", {}).items() if k != "key_file"}}
                       for h in values["hosts"]]
    run = run_program(values, frozenset({"keystone_admin_password"}))
    refs = [str(r.inputs["name"]) for r in run.of_type("docker:index/remoteImage:RemoteImage")]
    return {ref.rsplit("/", 1)[-1].rsplit(":", 1)[0] for ref in refs}


NOT_DEPLOYED = [name for name in CHECKS if name not in images_the_dev_stack_deploys()]


def test_every_image_has_a_check() -> None:
    assert sorted(CHECKS) == sorted(s.name for s in KOLLA_IMAGES)


@pytest.mark.parametrize("index,name", list(enumerate(NOT_DEPLOYED)), ids=lambda v: str(v))
def test_image_starts_and_is_healthy(lab: Lab, index: int, name: str) -> None:
    # Spread the images over the hosts so every host runs some of them.
    host = HOSTS[index % len(HOSTS)]
    outcome = run_check(CHECKS[name], lab.image_ref(name), host.ssh_url)
    assert outcome.healthy, f"{name} on {host.name} not healthy after {outcome.seconds:.0f}s:\n{outcome.logs}"


def test_a_broken_config_is_reported_unhealthy(lab: Lab) -> None:
    # Guards the harness itself: a probe that cannot pass must fail the check.
    check = CHECKS["haproxy"]
    broken = type(check)(**{**check.__dict__, "probe": "curl -fsS http://127.0.0.1:1/",
                            "timeout": 5.0})
    assert not run_check(broken, lab.image_ref("haproxy"), HOSTS[0].ssh_url).healthy
