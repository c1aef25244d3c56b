"""The HA claims under real faults (a subset of ops.ha_scenarios, on the fresh stack).

Invariants only, no timings: every acknowledged database row survives, every confirmed
message is consumed, and every faulted host comes back into every tier by itself. The
figures of each run are printed at the end of the session; the full report with the
targets is docs/ha-report.md (python3 -m ops.ha_scenarios / ops.ha_report).

This module runs first in tests/e2e (alphabetical order): the checks of
test_ha_stack.py then also prove the stack healthy again after the faults.
"""
from __future__ import annotations

from typing import Any

import pytest

from lab.deployment import generated_secret
from offline.program import resolve
from ops.faults import FaultInjector
from ops.ha_scenarios import Scenario, run_scenario, scenarios
from ops.host_access import PowerSwitch
from ops.stack_file import inventory_of
from ops.workload import WorkloadTarget
from tests.e2e.figures import FIGURES
from tests.e2e.lab_access import Deployment

CI_SCENARIOS = ("api-keystone", "db-writer", "rabbitmq", "power-vip", "isolate-vip")


@pytest.fixture(scope="module")
def injector(deployment: Deployment) -> FaultInjector:
    return FaultInjector(inventory_of(dict(deployment.values)), lab=True, power=PowerSwitch(lab=True))


@pytest.fixture(scope="module")
def target(deployment: Deployment, admin_password: str) -> WorkloadTarget:
    vip = resolve(deployment.exports["internal_vip"])
    return WorkloadTarget(
        auth_url=f"http://{vip}:5000/v3", admin_password=admin_password, region="RegionOne",
        db_host=vip, db_port=3306, db_user="root",
        db_password=generated_secret("database_password", state=deployment.state_path),
        amqp_hosts=tuple(resolve(deployment.exports["rabbitmq_nodes"])), amqp_user="admin",
        amqp_password=generated_secret("rabbitmq_admin_password", state=deployment.state_path),
    )


def _scenario(injector: FaultInjector, name: str) -> Scenario:
    return next(s for s in scenarios(injector.inventory) if s.name == name)


@pytest.mark.parametrize("name", CI_SCENARIOS)
def test_fault_loses_nothing_and_the_host_comes_back_by_itself(name: str, injector: FaultInjector,
                                                               target: WorkloadTarget, deployment: Deployment) -> None:
    result: dict[str, Any] = run_scenario(_scenario(injector, name), injector, target,
                                          ("token", "placement", "db", "amqp"))
    figures = ", ".join(f"{p} {f['failed']}/{f['ok'] + f['failed']} failed, {f['downtime_s']} s"
                        for p, f in result["probes"].items())
    FIGURES[f"fault {name}"] = (f"{figures}; back {result['back_s']}; VIP moved {result['vip_move_s']} s; "
                                f"rows {result['acked_rows']} acked, {result['acked_rows_lost']} lost; "
                                f"messages {result['confirmed_messages']} confirmed, "
                                f"{result['confirmed_messages_lost']} lost")
    assert result["acked_rows"] > 0 and result["confirmed_messages"] > 0
    assert result["acked_rows_lost"] == 0
    assert result["confirmed_messages_lost"] == 0
    assert not result["still_wrong"], result["still_wrong"]
    assert all(seconds is not None for seconds in result["back_s"].values()), result["back_s"]
    if name == "db-writer":
        # A crashed node starts from the position it recovers from InnoDB (galera_start),
        # so it can catch up by IST instead of copying the whole database again.
        killed = result["hosts"][0]
        logs = deployment.docker(killed).containers.get("mariadb").logs(since=int(result["fault_at"])).decode()
        assert f"{killed} recovered its position" in logs, logs[-3000:]
