"""Partner profiles: the shipped ones load; a broken one names the file and the field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.config import ConfigError, load_partners, partner_by_sender
from hub.settings import PROJECT_ROOT, parse_connection


def test_shipped_partner_profiles_load() -> None:
    partners = load_partners(PROJECT_ROOT / "config" / "partners")
    assert {"kaufhaus-nord", "markt-sued"} <= set(partners)
    nord = partners["kaufhaus-nord"]
    assert nord.accepts("ORDERS:D:96A:UN:EAN008") and nord.accepts("ORDERS:D:01B:UN:EAN010")
    assert not nord.accepts("ORDERS:D:93A:UN")
    assert partner_by_sender(partners, "4300000000021", "14").id == "markt-sued"
    assert partner_by_sender(partners, "4300000000021", "ZZ") is None


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


GOOD = """
id: p1
name: P1
unb: {partner_id: "4300000000014", our_id: "4006389999993"}
messages: [{type: ORDERS, release: 96A, association: EAN008}]
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (GOOD.replace("4300000000014", "4300000000015"), "unb: Value error, partner_id"),
        (GOOD.replace("release: 96A, ", "release: 96A, colour: red, "), "messages.0.colour"),
        (GOOD + "decimal_mark: ';'\n", "decimal_mark"),
        (GOOD + "channel: {type: sftp}\n", "channel: Value error, type sftp needs an sftp: block"),
        ("id: [", "not valid YAML"),
    ],
)
def test_invalid_profile_names_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_partners(tmp_path, strict=True)
    assert str(path) in str(info.value)
    assert needle in str(info.value)
    # not strict: the bad file is reported and skipped, a good one beside it still loads
    _write(tmp_path, "good.yaml", GOOD)
    partners = load_partners(tmp_path)
    assert set(partners) == {"p1"}
    assert list(partners.invalid) == [str(path)] and needle in partners.invalid[str(path)]


def test_duplicate_sender_identity_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", GOOD)
    second = _write(tmp_path, "b.yaml", GOOD.replace("id: p1", "id: p2"))
    with pytest.raises(ConfigError, match="already used by partner 'p1'"):
        load_partners(tmp_path, strict=True)
    partners = load_partners(tmp_path)
    assert (
        set(partners) == {"p1"} and "already used by partner 'p1'" in partners.invalid[str(second)]
    )


def test_profiles_are_read_again_when_their_file_changes(tmp_path: Path) -> None:
    path = _write(tmp_path, "p1.yaml", GOOD)
    first = load_partners(tmp_path)
    assert first["p1"].name == "P1"
    assert load_partners(tmp_path)["p1"] is first["p1"]  # unchanged file: not parsed again
    path.write_text(GOOD.replace("name: P1", "name: P1 renamed"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert load_partners(tmp_path)["p1"].name == "P1 renamed"
    path.write_text(GOOD.replace("4300000000014", "4300000000015"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2_000_000))
    broken = load_partners(tmp_path)
    assert "p1" not in broken and str(path) in broken.invalid


def test_connections_parse_json_and_uri_without_leaking_password() -> None:
    conn = parse_connection(
        "hub_erp",
        '{"conn_type": "http", "host": "127.0.0.1", "port": 8000, "login": "admin", '
        '"password": "s3cr3t", "schema": "hub"}',
    )
    assert conn.base_url() == "http://127.0.0.1:8000" and conn.schema == "hub"
    assert "s3cr3t" not in repr(conn)
    uri = parse_connection("hub_sftp", "sftp://partner:p%40ss@10.0.0.1:2222/in?timeout=5")
    assert (uri.host, uri.port, uri.login, uri.password, uri.schema) == (
        "10.0.0.1",
        2222,
        "partner",
        "p@ss",
        "in",
    )
    assert uri.extra == {"timeout": "5"}
