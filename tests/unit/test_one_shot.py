"""components/one_shot.py: the script a step runs on its host, against a recorded `docker`."""
from __future__ import annotations

import base64
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from components.kolla import KollaFile
from components.one_shot import FAILURE_TAIL, OneShot, config_archive, run_script

STEP = OneShot(
    name="glance_bootstrap",
    image="glance-api",
    command="/usr/local/bin/kolla_ha_bootstrap.sh",
    files=[KollaFile("glance-api.conf", "/etc/glance/glance-api.conf", "glance", "0640", "[DEFAULT]\n")],
    volumes=[("glance", "/var/lib/glance")],
    timeout_s=5,
)

# A `docker` that records its arguments, keeps what `cp -` reads, and lets the test
# choose the step's exit status (DOCKER_EXIT) and whether it finishes (DOCKER_HANG).
FAKE_DOCKER = r"""#!/bin/bash
echo "$*" >> "$RECORD/calls"
case "$1" in
  create) echo 0123456789ab ;;
  cp) cat > "$RECORD/archive.tar"; [ -z "${DOCKER_CP_FAIL:-}" ] ;;
  wait) [ -n "${DOCKER_HANG:-}" ] && sleep 30; echo "${DOCKER_EXIT:-0}" ;;
  logs) for i in $(seq $((61 - $3)) 60); do echo "log line $i"; done ;;
esac
"""


def run_step(tmp_path: Path, stdin: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    script = run_script(STEP, "ctl1", "sha256:" + "a" * 64)
    done = subprocess.run(
        ["sh", "-c", script], input=stdin, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RECORD": str(tmp_path), **env},
    )
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return done, calls


def test_a_step_runs_its_image_with_the_config_from_stdin_and_exits_with_its_status(tmp_path: Path) -> None:
    files = {"/var/lib/kolla/config_files/config.json": "{}", "/var/lib/kolla/config_files/glance-api.conf": "x"}
    done, calls = run_step(tmp_path, config_archive(files))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    verbs = [c.split()[0] for c in calls]
    assert verbs == ["rm", "create", "cp", "start", "wait", "rm"]
    create = calls[1]
    assert "--name glance_bootstrap --network host" in create
    assert "--volume glance:/var/lib/glance" in create and create.endswith("sha256:" + "a" * 64)
    assert calls[2] == "cp - glance_bootstrap:/"
    with tarfile.open(tmp_path / "archive.tar") as tar:
        assert {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()} == {  # type: ignore[union-attr]
            p.lstrip("/"): v for p, v in files.items()}


def test_a_failed_step_fails_the_command_with_the_tail_of_its_output(tmp_path: Path) -> None:
    done, calls = run_step(tmp_path, config_archive({"/var/lib/kolla/config_files/config.json": "{}"}), DOCKER_EXIT="3")
    assert done.returncode == 3
    assert "one-shot step glance_bootstrap on ctl1 exited with 3" in done.stderr
    assert "log line 60" in done.stderr and "log line 1\n" not in done.stderr
    assert f"logs --tail {FAILURE_TAIL} glance_bootstrap" in calls
    # the container is removed either way; a re-run starts over
    assert calls[-1] == "rm -f glance_bootstrap"


def test_a_step_that_does_not_finish_in_time_is_stopped_and_fails(tmp_path: Path) -> None:
    done, calls = run_step(tmp_path, config_archive({"/var/lib/kolla/config_files/config.json": "{}"}), DOCKER_HANG="1")
    assert done.returncode == 124
    assert "did not finish within 5s" in done.stderr
    assert calls[-1] == "rm -f glance_bootstrap"


def test_a_config_that_cannot_be_copied_fails_before_the_step_starts(tmp_path: Path) -> None:
    done, calls = run_step(tmp_path, config_archive({"/var/lib/kolla/config_files/config.json": "{}"}),
                           DOCKER_CP_FAIL="1")
    assert done.returncode == 1
    assert "could not be copied" in done.stderr
    assert not [c for c in calls if c.startswith("start")]


@pytest.mark.parametrize("order", [["b", "a"], ["a", "b"]])
def test_the_archive_is_the_same_bytes_for_the_same_files(order: list[str]) -> None:
    files = {f"/var/lib/kolla/config_files/{n}": f"content of {n}\n" for n in order}
    archive = config_archive(files)
    assert archive == config_archive(dict(sorted(files.items())))
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(archive))) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["var/lib/kolla/config_files/a", "var/lib/kolla/config_files/b"]
    assert all(m.mtime == 0 and m.uid == 0 and m.mode == 0o600 for m in members)


def test_secrets_never_reach_the_script() -> None:
    step = OneShot("x_db_create", "mariadb-server", "/usr/local/bin/db_create.sh",
                   [KollaFile("db_root.cnf", "/etc/kolla-ha/db_root.cnf", "root", "0600", "password = hunter2")])
    assert "hunter2" not in run_script(step, "ctl1", "sha256:" + "b" * 64)
