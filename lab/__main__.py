"""python3 -m lab deploy | destroy | up [--hosts N] | down | status

    deploy   everything from a fresh machine to a running dev stack: Debian packages,
             the project's .venv, the Docker engine, images, hosts, registry, the dev
             stack (offline executor), and a clouds.yaml/openrc for the openstack CLI
    destroy  remove the dev stack from the lab (the lab itself stays up)
    up       only the lab: engine, images, hosts and registry
    down     remove the lab, and forget any deployment that lived in it
    status   whether each host's daemon answers
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from lab.setup_machine import DEPLOY_PACKAGES, inside_venv, progress, run_in_venv, started_at


def print_status(status: "LabStatus", lab: "Lab") -> None:
    print(f"registry {lab.registry} (push via {lab.push_registry}): "
          f"{'answers' if status.registry_ok else 'DOWN'}")
    if not status.hosts:
        print("no lab hosts")
    for h in status.hosts:
        print(f"{h.host.name:6s} {h.host.address:12s} "
              f"container={'running' if h.running else 'STOPPED'} "
              f"{h.host.ssh_url}={'ok' if h.ssh_ok else 'FAIL'} "
              f"{h.host.tcp_url}={'ok' if h.tcp_ok else 'FAIL'}")
    if status.hosts:
        print(f"ssh options: -F {lab.ssh_config_path}   (key {lab.key_path})")


def deploy() -> int:
    from lab.deployment import (
        STACK, admin_password, forget_recreated_hosts, lab_for_deploy, record_incarnations, state_file, summary,
        write_client_config, write_workload_target,
    )
    from lab.executor.run import run_stack
    from lab.progress import Progress
    from offline.program import resolve

    lines = Progress(start=started_at())
    log = lines.line

    lab = lab_for_deploy()
    log(f"lab: Docker engine, images, {len(lab.hosts)} hosts, registry")
    status = lab.up(log=log)
    if not status.healthy:
        print_status(status, lab)
        return 1
    forget_recreated_hosts(lab, log)
    log(f"deploying the {STACK} stack with the offline executor (state {state_file()})")
    _, exports = run_stack(STACK, progress=lines)
    record_incarnations(lab)
    auth_url = f"http://{resolve(exports['internal_vip'])}:5000/v3"
    write_client_config(auth_url, admin_password(), "RegionOne")
    write_workload_target(resolve(exports["internal_vip"]), admin_password(), list(resolve(exports["rabbitmq_nodes"])))
    log("deployed")
    for line in summary(exports, resolve):
        print(f"  {line}", flush=True)
    return 0


def destroy() -> int:
    from lab.deployment import STACK, remove_client_config, state_file
    from lab.executor.run import run_stack
    from lab.progress import Progress

    started = started_at()
    if not state_file().exists():
        progress(started, f"nothing to destroy: no {STACK} deployment is recorded in {state_file()}")
        remove_client_config()
        return 0
    run_stack(STACK, destroy=True, progress=Progress(start=started))
    state_file().unlink(missing_ok=True)
    remove_client_config()
    progress(started, f"{STACK} stack destroyed; the lab is still up (`python3 -m lab down` removes it)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m lab", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("deploy", help="set up this machine, the lab, and deploy the dev stack")
    commands.add_parser("destroy", help="remove the dev stack from the lab")
    up = commands.add_parser("up", help="build images if needed and start the lab")
    up.add_argument("--hosts", type=int, default=None,
                    help="number of hosts ctl1..ctlN (default: as running, else 3)")
    up.add_argument("--base-image", default=None,
                    help="BASE_IMAGE for images/base (default: offline debootstrap base)")
    commands.add_parser("down", help="remove every container, volume, network and key the lab made")
    commands.add_parser("status", help="show whether each host's daemon answers")
    raw = list(sys.argv[1:] if argv is None else argv)
    options = parser.parse_args(raw)

    # Everything but `status` needs the Debian packages or the Python requirements.
    if options.command != "status" and not inside_venv():
        return run_in_venv("lab", raw, DEPLOY_PACKAGES)

    from lab.lab import Lab

    if options.command == "deploy":
        return deploy()
    if options.command == "destroy":
        return destroy()
    if options.command == "up":
        lab = Lab(options.hosts, **({"base_image": options.base_image} if options.base_image else {}))
        status = lab.up()
        print_status(status, lab)
        return 0 if status.healthy else 1
    lab = Lab()
    if options.command == "down":
        from lab.deployment import remove_client_config

        lab.down()
        # The deployment lived in the lab's hosts: a state that still listed it would lie.
        remove_client_config()
        print("lab removed, and the deployment state with it")
        return 0
    status = lab.status()
    print_status(status, lab)
    return 0 if status.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
