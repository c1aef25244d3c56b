"""ops/forget_host.py: the dead-host surgery on a `pulumi stack export --show-secrets`
document, checked against the executor's own forget_host on the same deployment."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lab.executor.state_delete import forget_host
from ops.forget_host import SECRET_SIG, main
from tests.unit.executor_fakes import FakeWorld, deploy


def _as_export(value: Any) -> Any:
    """The executor's wire-form secrets as `--show-secrets` prints them (plaintext JSON)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG[0]) == SECRET_SIG[1] and "value" in value:
            return {SECRET_SIG[0]: SECRET_SIG[1], "plaintext": json.dumps(value["value"])}
        return {k: _as_export(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_export(v) for v in value]
    return value


@pytest.fixture()
def exported(tmp_path: Path) -> Path:
    deploy(tmp_path, FakeWorld(), enabled_services=["keystone"])
    state = json.loads((tmp_path / "state.json").read_text())
    resources = _as_export(state["resources"])
    # The command provider marks `connection` secret: the address is inside the envelope.
    assert any(isinstance(r.get("inputs", {}).get("connection"), dict)
               and "plaintext" in r["inputs"]["connection"] for r in resources)
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"version": 3, "deployment": {"manifest": {}, "resources": resources}}))
    return path


def test_the_export_loses_the_dead_host_as_the_executor_state_does(tmp_path: Path, exported: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "forgotten.json"
    assert main(["--address", "10.0.0.12", str(exported), "--out", str(out)]) == 0
    assert os.stat(out).st_mode & 0o077 == 0  # it holds the secrets in the clear
    left = json.loads(out.read_text())["deployment"]["resources"]
    dropped = {line.removeprefix("forgotten: ") for line in capsys.readouterr().err.splitlines()
               if line.startswith("forgotten: ")}
    assert sorted(dropped) == forget_host(tmp_path / "state.json", "10.0.0.12")
    names = {r["urn"].rsplit("::", 1)[-1] for r in left}
    assert not any(n.startswith("ctl2") for n in names) and "ctl1-keystone" in names and "ctl3-keystone" in names
    for res in left:
        refs = set(res.get("dependencies", [])) | {u for v in res.get("propertyDependencies", {}).values() for u in v}
        assert not refs & dropped, res["urn"]
        assert res.get("parent", "") not in dropped


def test_refusals_name_the_cause(tmp_path: Path, exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--address", "10.0.0.99", str(exported), "--out", str(tmp_path / "a.json")]) == 1
    assert "no resource of the state lives on 10.0.0.99" in capsys.readouterr().err
    # An existing output file is never overwritten (nor written into).
    (tmp_path / "c.json").write_text("{}")
    assert main(["--address", "10.0.0.12", str(exported), "--out", str(tmp_path / "c.json")]) == 1
    assert (tmp_path / "c.json").read_text() == "{}" and "File exists" in capsys.readouterr().err
    doc = json.loads(exported.read_text())
    for res in doc["deployment"]["resources"]:
        conn = res.get("inputs", {}).get("connection")
        if isinstance(conn, dict) and "plaintext" in conn:
            res["inputs"]["connection"] = {SECRET_SIG[0]: SECRET_SIG[1], "ciphertext": "AAAA"}
    exported.write_text(json.dumps(doc))
    assert main(["--address", "10.0.0.12", str(exported), "--out", str(tmp_path / "b.json")]) == 1
    assert "--show-secrets" in capsys.readouterr().err
