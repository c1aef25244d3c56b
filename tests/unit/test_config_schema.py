"""components/config_schema.py: README and Pulumi.yaml say what the model says."""
from __future__ import annotations

import yaml

from components import config_schema
from components.config_model import field_default
from components.defaults import TIER_MODELS
from components.inventory import StackSettings


def test_readme_and_pulumi_yaml_are_generated_from_the_current_model():
    assert config_schema.stale() == [], "run python3 -m components.config_schema --write"


def test_a_changed_table_is_noticed():
    readme = config_schema.README.read_text(encoding="utf-8")
    edited = readme.replace("| `vrrp_router_id` |", "| `vrrp_router_id` (edited) |")
    assert edited != readme and config_schema.readme_text(edited) == readme


def test_every_key_is_described():
    entries = list(config_schema.rows(StackSettings)) + [
        (f"{t}.{p}", s) for t, m in TIER_MODELS.items() for p, s in config_schema.rows(m)]
    assert len(entries) > 60
    for path, spec in entries:
        assert spec.description, path
        assert f"| `{path}` |" in config_schema.readme_config()


def test_pulumi_yaml_declares_only_what_pulumi_accepts():
    """Pulumi's project schema: types string, integer, boolean, array (with items);
    a default of the declared type; no other attributes."""
    project = yaml.safe_load(config_schema.PULUMI_YAML.read_text(encoding="utf-8"))
    declared = project["config"]
    assert {"internal_network", "internal_vip", "vrrp_router_id", "enabled_services", "keystone_admin_password"} == set(declared)
    python_type = {"string": str, "integer": int, "boolean": bool, "array": list}
    for key, decl in declared.items():
        assert set(decl) <= {"type", "items", "description", "default", "secret"}, key
        assert decl["type"] in python_type, key
        if decl["type"] == "array":
            assert decl["items"]["type"] in ("string", "integer", "boolean"), key
        if "default" in decl:
            assert isinstance(decl["default"], python_type[decl["type"]]), key
            assert decl["default"] == field_default(StackSettings.model_fields[key]), key
    assert declared["keystone_admin_password"]["secret"] is True
    assert "default" not in declared["internal_vip"]  # required: Pulumi asks for it too
