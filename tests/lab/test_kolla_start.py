"""kolla_start honours docs/kolla-contract.md; runs without Docker."""
from __future__ import annotations

import grp
import importlib.util
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "images" / "base" / "kolla_start.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kolla_start", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ks = _load()
ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def entry(tmp_path: Path, **overrides: object) -> dict[str, object]:
    source = tmp_path / "src" / "haproxy.cfg"
    source.parent.mkdir(exist_ok=True)
    source.write_text("global\n")
    base: dict[str, object] = {"source": str(source), "dest": str(tmp_path / "etc" / "h" / "haproxy.cfg"),
                               "owner": ME, "perm": "0600"}
    base.update(overrides)
    return base


def test_copies_file_with_mode_and_creates_parents(tmp_path: Path) -> None:
    e = entry(tmp_path, perm="0640")
    ks.copy_config_file(e)
    dest = Path(str(e["dest"]))
    assert dest.read_text() == "global\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert dest.stat().st_uid == os.getuid()


def test_replaces_symlinked_destination_without_touching_its_target(tmp_path: Path) -> None:
    target = tmp_path / "package-default.cfg"
    target.write_text("from the package\n")
    e = entry(tmp_path)
    dest = Path(str(e["dest"]))
    dest.parent.mkdir(parents=True)
    dest.symlink_to(target)
    ks.copy_config_file(e)
    assert not dest.is_symlink() and dest.read_text() == "global\n"
    assert target.read_text() == "from the package\n"


def test_missing_required_source_names_it(tmp_path: Path) -> None:
    e = entry(tmp_path, source=str(tmp_path / "nope.cfg"))
    with pytest.raises(ks.ContractError, match="nope.cfg"):
        ks.copy_config_file(e)


def test_missing_optional_source_is_skipped(tmp_path: Path) -> None:
    e = entry(tmp_path, source=str(tmp_path / "nope.cfg"), optional=True)
    ks.copy_config_file(e)
    assert not Path(str(e["dest"])).exists()


def test_owner_with_group_and_unknown_names() -> None:
    owner = ks.resolve_owner(f"{ME}:{MY_GROUP}")
    assert (owner.uid, owner.gid) == (os.getuid(), os.getgid())
    with pytest.raises(ks.ContractError, match="no user 'no-such-user'"):
        ks.resolve_owner("no-such-user")
    with pytest.raises(ks.ContractError, match="no group 'no-such-group'"):
        ks.resolve_owner(f"{ME}:no-such-group")


def test_bad_perm_is_reported() -> None:
    with pytest.raises(ks.ContractError, match="octal"):
        ks.parse_perm("rw-r--r--")


def test_permissions_create_missing_dirs_and_recurse(tmp_path: Path) -> None:
    top = tmp_path / "var" / "lib" / "svc"
    ks.apply_permission({"path": str(top), "owner": ME, "perm": "0750"})
    assert top.is_dir() and stat.S_IMODE(top.stat().st_mode) == 0o750
    (top / "sub").mkdir()
    (top / "sub" / "f").write_text("x")
    ks.apply_permission({"path": str(top), "owner": ME, "perm": "0700", "recurse": True})
    assert stat.S_IMODE((top / "sub" / "f").stat().st_mode) == 0o700


def test_copy_once_copies_only_on_first_start(tmp_path: Path) -> None:
    marker = tmp_path / "configured"
    e = entry(tmp_path)
    config = {"command": "true", "config_files": [e]}
    ks.prepare(config, "COPY_ONCE", marker)
    dest = Path(str(e["dest"]))
    dest.write_text("changed by the service\n")
    ks.prepare(config, "COPY_ONCE", marker)
    assert dest.read_text() == "changed by the service\n"
    ks.prepare(config, "COPY_ALWAYS", marker)
    assert dest.read_text() == "global\n"


def test_unknown_strategy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ks.ContractError, match="COPY_ALWAYS"):
        ks.prepare({"command": "true"}, "COPY_SOMETIMES", tmp_path / "m")


def test_command_is_split_like_a_shell(tmp_path: Path) -> None:
    argv = ks.prepare({"command": "/bin/sh -c 'exec sleep 1'"}, "COPY_ALWAYS", tmp_path / "m")
    assert argv == ["/bin/sh", "-c", "exec sleep 1"]


def test_config_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ks.ContractError, match="missing"):
        ks.load_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ks.ContractError, match="not valid JSON"):
        ks.load_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ks.ContractError, match="command"):
        ks.load_config(tmp_path / "config.json")


def test_main_execs_the_command_and_exits_1_on_a_missing_file(tmp_path: Path) -> None:
    e = entry(tmp_path)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"command": f"cat {e['dest']}", "config_files": [e]}))
    env = {**os.environ, "KOLLA_CONFIG_FILE": str(config)}
    # COPY_ALWAYS (the default) never writes the COPY_ONCE marker under /var/lib/kolla.
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("global\n")
    config.write_text(json.dumps({"command": "true", "config_files": [
        entry(tmp_path, source=str(tmp_path / "absent.cfg"))]}))
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "absent.cfg" in done.stderr


def test_stale_pid_files_of_a_previous_life_are_removed(tmp_path: Path) -> None:
    # After a power loss the container restarts with its old filesystem: keepalived's
    # pid file names a pid that may be alive again, and keepalived would refuse to start.
    run = tmp_path / "run"
    (run / "mysqld").mkdir(parents=True)
    (run / "keepalived.pid").write_text("7\n")
    (run / "mysqld" / "mysqld.pid").write_text("12\n")
    (run / "keepalived.sock").write_text("")
    removed = ks.clear_stale_pid_files(run)
    assert sorted(p.name for p in removed) == ["keepalived.pid", "mysqld.pid"]
    assert sorted(p.name for p in run.rglob("*") if p.is_file()) == ["keepalived.sock"]
    assert ks.clear_stale_pid_files(tmp_path / "absent") == []
