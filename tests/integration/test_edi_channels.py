"""Partner mailboxes: local and a real SFTP server on loopback; atomic, exactly-once outbox."""

from __future__ import annotations

import base64
import io
import os
import time
from pathlib import Path

import pytest

from connectors.edi.channels import (
    CHUNK,
    Archive,
    FileVanished,
    LocalMailbox,
    SftpMailbox,
    UnreadableFile,
    fingerprint,
    is_text_name,
    sha256,
    shown,
)
from schemas.errors import ConflictError, PermanentError, TransientError
from tests.fixtures.sftp import SftpServer

pytestmark = pytest.mark.integration


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_local_inbox_skips_young_hidden_and_partial_files(tmp_path: Path) -> None:
    box = LocalMailbox(tmp_path / "in", tmp_path / "out", min_age_seconds=5)
    for name in ("a.edi", "b.edi.part", ".c.edi", "d.edi"):
        (box.inbox / name).write_bytes(b"UNB")
    _age(box.inbox / "a.edi", 60)
    _age(box.inbox / "b.edi.part", 60)
    _age(box.inbox / ".c.edi", 60)
    # d.edi was just written: maybe still being written, not picked up
    assert [f.name for f in box.ready()] == ["a.edi"]
    _age(box.inbox / "d.edi", 10)
    assert [f.name for f in box.ready()] == ["a.edi", "d.edi"]
    box.remove("a.edi")
    box.remove("a.edi")  # a second removal (retry after a crash) is fine
    assert [f.name for f in box.ready()] == ["d.edi"]


def test_local_outbox_exactly_once(tmp_path: Path) -> None:
    box = LocalMailbox(tmp_path / "in", tmp_path / "out")
    assert box.send("CONTRL_1.edi", b"UNA:+.? 'UNB+...") is True
    assert box.send("CONTRL_1.edi", b"UNA:+.? 'UNB+...") is False
    with pytest.raises(ConflictError, match="different content"):
        box.send("CONTRL_1.edi", b"other")
    assert box.list_outbox() == ["CONTRL_1.edi"]
    assert not [p for p in box.outbox.iterdir() if p.name.startswith(".")]
    with pytest.raises(PermanentError, match="plain name"):
        box.send("../escape.edi", b"x")


def test_archive_is_content_addressed(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    path = archive.store("p1", b"UNB+data")
    assert path.name == sha256(b"UNB+data") + ".edi"
    assert archive.store("p1", b"UNB+data") == path
    assert path.read_bytes() == b"UNB+data"


def test_an_inbox_file_is_archived_a_chunk_at_a_time_hashed_on_the_way(tmp_path: Path) -> None:
    box = LocalMailbox(tmp_path / "in", tmp_path / "out")
    data = bytes(range(256)) * (CHUNK // 100)  # a few chunks, the last one partial
    (box.inbox / "big.edi").write_bytes(data)
    archive = Archive(tmp_path / "archive")
    writes: list[int] = []

    class Counting(io.BytesIO):
        def write(self, block: bytes, /) -> int:  # type: ignore[override]
            writes.append(len(block))
            return super().write(block)

    assert box.copy_to("big.edi", Counting()) == len(data)
    assert max(writes) == CHUNK and len(writes) == -(-len(data) // CHUNK)  # never the whole file
    path, digest = archive.receive("p1", lambda out: box.copy_to("big.edi", out))
    assert digest == sha256(data) and path == archive.store("p1", data)
    assert path.read_bytes() == data
    assert archive.receive("p1", lambda out: box.copy_to("big.edi", out)) == (path, digest)

    def broken(out: object) -> None:
        raise UnreadableFile("read failed half way", system="edi")

    with pytest.raises(UnreadableFile):
        archive.receive("p1", broken)
    left = [p.name for p in (tmp_path / "archive" / "p1").iterdir() if p.is_file()]
    assert left == []  # no temp copy stays behind


def _sftp(server: SftpServer, **kw: object) -> SftpMailbox:
    return SftpMailbox(
        server.host,
        server.port,
        server.username,
        password=server.password,
        remote_inbox="/out",
        remote_outbox="/in",
        **{"host_key": server.host_key, **kw},  # type: ignore[arg-type]
    )


def test_sftp_roundtrip(sftp_server: SftpServer) -> None:
    (sftp_server.root / "out" / "orders1.edi").write_bytes(b"UNB+UNOC:3+...'")
    _age(sftp_server.root / "out" / "orders1.edi", 60)
    (sftp_server.root / "out" / "orders2.edi.part").write_bytes(b"half")
    box = _sftp(sftp_server)
    try:
        assert [f.name for f in box.ready()] == ["orders1.edi"]
        assert box.read("orders1.edi") == b"UNB+UNOC:3+...'"
        assert box.send("ORDRSP_1.edi", b"UNB ORDRSP") is True
        assert box.send("ORDRSP_1.edi", b"UNB ORDRSP") is False
        assert (sftp_server.root / "in" / "ORDRSP_1.edi").read_bytes() == b"UNB ORDRSP"
        assert box.list_outbox() == ["ORDRSP_1.edi"]
        box.remove("orders1.edi")
        box.remove("orders1.edi")
        assert not (sftp_server.root / "out" / "orders1.edi").exists()
    finally:
        box.close()


def test_sftp_wrong_password_is_permanent(sftp_server: SftpServer) -> None:
    box = SftpMailbox(
        sftp_server.host, sftp_server.port, sftp_server.username, password="wrong", timeout=5,
        host_key=sftp_server.host_key,
    )  # fmt: skip
    with pytest.raises(PermanentError, match="refused the login") as info:
        box.ready()
    assert "wrong" not in str(info.value)


def test_sftp_down_is_transient(sftp_server: SftpServer) -> None:
    sftp_server.stop()
    box = _sftp(sftp_server, timeout=3)
    with pytest.raises(TransientError, match="cannot reach sftp://partner@127.0.0.1"):
        box.send("x.edi", b"data")


def test_local_inbox_lists_entries_it_cannot_read_and_reports_links(tmp_path: Path) -> None:
    box = LocalMailbox(tmp_path / "in", tmp_path / "out", min_age_seconds=5)
    (box.inbox / "a.edi").write_bytes(b"UNB")
    os.mkfifo(box.inbox / "pipe.edi")
    (box.inbox / "folder.edi").mkdir()
    (box.inbox / "subfolder").mkdir()  # a plain subfolder is not an inbox entry
    (box.inbox / "link.edi").symlink_to(tmp_path / "elsewhere.edi")
    for name in ("a.edi", "pipe.edi", "folder.edi"):
        _age(box.inbox / name, 60)
    listed = {f.name: f.kind for f in box.ready()}
    assert listed == {"a.edi": "file", "pipe.edi": "other", "folder.edi": "other"}
    assert [(link.name, link.target) for link in box.links()] == [
        ("link.edi", str(tmp_path / "elsewhere.edi"))
    ]
    with pytest.raises(UnreadableFile, match="not a regular file \\(a FIFO\\)"):
        box.read("pipe.edi")  # returns at once: a FIFO is never opened for a blocking read
    with pytest.raises(UnreadableFile, match="a directory"):
        box.read("folder.edi")
    with pytest.raises(UnreadableFile, match="cannot be read"):
        box.read("link.edi")  # never followed, even when asked for by name
    with pytest.raises(FileVanished, match="vanished"):
        box.read("gone.edi")
    moved = box.quarantine("pipe.edi", tmp_path / "quarantine")
    assert moved == tmp_path / "quarantine" / "pipe.edi" and not (box.inbox / "pipe.edi").exists()
    os.mkfifo(box.inbox / "pipe.edi")
    assert box.quarantine("pipe.edi", tmp_path / "quarantine") == moved.with_name("pipe.edi.2")


def test_names_that_are_not_utf8_are_shown_escaped() -> None:
    name = os.fsdecode(b"orders_\xe9t\xe9.edi")
    assert not is_text_name(name) and is_text_name("bestellung-\u00fc.edi")
    assert shown(name) == "orders_\\xe9t\\xe9.edi"


# -- host keys: a pinned key or a known_hosts file; anything else is refused -----------------


def test_sftp_with_the_pinned_key_or_known_hosts_connects(
    sftp_server: SftpServer, tmp_path: Path
) -> None:
    (sftp_server.root / "out" / "a.edi").write_bytes(b"UNB+x'")
    _age(sftp_server.root / "out" / "a.edi", 60)
    pinned = _sftp(sftp_server)
    assert [f.name for f in pinned.list_inbox()] == ["a.edi"]
    pinned.close()
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sftp_server.host}]:{sftp_server.port} {sftp_server.host_key}\n")
    from_file = _sftp(sftp_server, host_key=None, known_hosts=str(known))
    assert [f.name for f in from_file.list_inbox()] == ["a.edi"]
    from_file.close()


def test_sftp_refuses_an_unknown_host_key_naming_its_fingerprint(
    sftp_server: SftpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paramiko

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/known_hosts to fall back on
    unknown = _sftp(sftp_server, host_key=None)
    with pytest.raises(PermanentError) as info:
        unknown.list_inbox()
    key = paramiko.PKey.from_type_string(
        sftp_server.host_key.split()[0], base64.b64decode(sftp_server.host_key.split()[1])
    )
    text = str(info.value)
    assert fingerprint(key) in text and "not trusted" in text
    assert "host_key" in text and "known_hosts" in text
    assert sftp_server.password not in text


def test_sftp_refuses_a_changed_host_key(sftp_server: SftpServer) -> None:
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    changed = _sftp(sftp_server, host_key=other)
    with pytest.raises(PermanentError, match="the server's key changed or someone is in between"):
        changed.list_inbox()
    garbage = _sftp(sftp_server, host_key="not a key")
    with pytest.raises(PermanentError, match="not an OpenSSH public key line"):
        garbage.list_inbox()
