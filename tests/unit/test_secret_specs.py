"""components/secret_specs.py: only secrets the program uses, fit for every place they land."""
from __future__ import annotations

import base64
import os
import urllib.parse

import pytest

from components import catalog
from components.service_config import database_url
from components.inventory import InventoryError, parse_inventory
from components.secret_specs import OPERATOR_SECRETS, SECRETS, SecretValue, used_secrets
from tests.unit.inventory_fixtures import make_config
from tests.unit.layouts import quick_run

# A value no message may ever contain.
MARK = "Zq9-MARK-"


def problems_of(raw, secret_keys):
    with pytest.raises(InventoryError) as excinfo:
        parse_inventory(raw, secret_keys)
    return excinfo.value.problems


def pinned(name, value, **overrides):
    raw, secrets = make_config(**overrides)
    raw[name] = SecretValue(value)
    return raw, secrets | {name}


FERNET = base64.urlsafe_b64encode(os.urandom(32)).decode()

BAD_PINNED = [
    ("database_password", MARK + "#x", "MariaDB option files"),
    ("database_password", MARK + " x", "blank"),
    ("galera_sst_password", MARK + "\\x", "MariaDB option files"),
    ("galera_monitor_password", MARK + "'x", "MariaDB option files"),
    ("keystone_admin_password", MARK + "\nx", "control character"),
    ("keystone_admin_password", " " + MARK, "starts or ends with a blank"),
    ("keystone_admin_password", "", "is empty"),
    ("nova_keystone_password", MARK + "$x", "oslo.config files"),
    ("memcache_secret_key", MARK + "$x", "oslo.config files"),
    ("rabbitmq_admin_password", MARK + "#x", "rabbitmq.conf"),
    ("haproxy_stats_password", MARK + '"x', "haproxy.cfg"),
    ("haproxy_stats_password", MARK + " x", "blank"),
    ("keepalived_password", "abcd12345", "1-8 letters and digits (VRRP carries 8 characters)"),
    ("keepalived_password", "abc-1", "1-8 letters and digits"),
    ("rabbitmq_erlang_cookie", MARK, "letters and digits (an Erlang cookie)"),
    ("keystone_fernet_key_0", MARK, "Fernet key"),
    ("keystone_credential_key_1", FERNET[:-1] + "A", "Fernet key"),
    ("keystone_credential_key_1", base64.urlsafe_b64encode(os.urandom(31)).decode(), "Fernet key"),
    # keystone's migrations hand the URL to configparser: a percent-escape is fatal there.
    ("keystone_database_password", MARK + "@x", "database URLs read by schema migrations"),
    ("nova_database_password", MARK + "/x", "only hold letters, digits and - . _ ~ +"),
]


@pytest.mark.parametrize(("name", "value", "rule"), BAD_PINNED, ids=[f"{n}-{r}" for n, _, r in BAD_PINNED])
def test_pinned_secret_unfit_for_where_it_lands_is_refused_without_showing_it(name, value, rule):
    problems = problems_of(*pinned(name, value))
    assert any(p.startswith(f"{name}: ") and rule in p and "value not shown" in p
               and f"pulumi config set --secret {name}" in p for p in problems), problems
    assert not any(MARK in p for p in problems)
    if value:
        assert not any(value in p for p in problems)


def test_swift_secrets_are_checked_for_paste_deploy_files():
    services = [*catalog.DEFAULT_ENABLED, "swift-proxy-server"]
    for name in ("swift_keystone_password", "swift_hash_path_suffix"):
        problems = problems_of(*pinned(name, MARK + "%x", enabled_services=services))
        assert any(p.startswith(name) and "paste.deploy" in p for p in problems), problems


GOOD_PINNED = [
    # Transport URLs quote whatever they carry: the '@' and '/'
    ("nova_rabbitmq_password", "p@ss/w:rd%?#&="),
    ("nova_database_password", "Pa55-w.rd_~+"),
    ("keystone_admin_password", "correct horse $battery 'staple\""),
    ("database_password", "p@ss/w:rd%$&="),
    ("horizon_secret_key", "anything goes: quoted by JSON \" ' $ % #"),
    ("keepalived_password", "abcd1234"),
    ("rabbitmq_erlang_cookie", "A" * 255),
    ("keystone_fernet_key_0", FERNET),
]


@pytest.mark.parametrize(("name", "value"), GOOD_PINNED, ids=[n for n, _ in GOOD_PINNED])
def test_pinned_secret_fit_for_every_place_is_accepted(name, value):
    parse_inventory(*pinned(name, value))


def test_a_misspelt_secret_is_refused_with_the_one_meant():
    raw, secrets = pinned("nova_db_password", "hunter22")
    problems = problems_of(raw, secrets)
    assert any(p.startswith("nova_db_password: unknown config key")
               and "did you mean the secret nova_database_password" in p for p in problems), problems


def test_a_secret_of_a_service_not_enabled_is_refused():
    raw, secrets = pinned("swift_hash_path_suffix", "abc")
    problems = problems_of(raw, secrets)
    assert any(p.startswith("swift_hash_path_suffix: only swift-proxy-server uses this secret")
               and "enable it in enabled_services" in p for p in problems), problems


def test_secret_value_never_prints():
    value = SecretValue(MARK)
    assert MARK not in repr(value) and MARK not in str(value) and MARK not in f"{value}"
    assert value.reveal() == MARK


def test_database_url_needs_no_percent_escape_for_any_accepted_password():
    # Generated passwords use -_.+ (components/passwords.py) and pinned ones are held to
    # letters, digits and -._~+: the URL carries them as they are.
    password = "Pa55-w.rd_~+"
    url = database_url("nova", password, "10.0.0.250", "nova_api")
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname == "10.0.0.250" and parts.port == 3306 and parts.path == "/nova_api"
    assert parts.username == "nova" and parts.password == password and "%" not in url


def test_every_secret_is_known_to_the_operator_secrets_and_the_services():
    assert OPERATOR_SECRETS == ("keystone_admin_password",)
    for spec in SECRETS.values():
        assert set(spec.services) <= set(catalog.CATALOG), spec.name
    assert "swift_hash_path_suffix" not in used_secrets(catalog.DEFAULT_ENABLED)
    assert "swift_hash_path_suffix" in used_secrets(catalog.CATALOG)


def test_the_secret_table_names_exactly_what_the_program_generates():
    """The components ask Passwords for secrets by name; every generated one must be in
    the table (or a pinned value could not be set) and every name in the table must be
    generated (or it would be accepted and never used)."""
    raw, secrets = make_config(enabled_services=list(catalog.CATALOG))
    run = quick_run(raw, secrets)
    generated = {r.name for r in run.registrations
                 if r.type in ("random:index/randomPassword:RandomPassword", "random:index/randomBytes:RandomBytes")}
    assert generated == set(used_secrets(catalog.CATALOG)) - set(OPERATOR_SECRETS)


def test_pinned_secrets_reach_the_program_and_are_checked_there():
    raw, secrets = make_config(3)
    raw["database_password"] = "p@ss/w:rd"
    run = quick_run(raw, secrets | {"database_password"})
    assert "database_password" not in {r.name for r in run.registrations}
    raw["database_password"] = "pa#ss"
    with pytest.raises(InventoryError, match="database_password: the pinned value holds one of"):
        quick_run(raw, secrets | {"database_password"})
