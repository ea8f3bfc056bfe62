"""EDI channels: partner mailboxes on local directories or SFTP, and the raw-file archive.

Inbound files are listed only once they are old enough not to be still being written (and are
not temp/hidden names); they leave the inbox only when the caller says so, after the ledger
committed what they produced. Entries that are not regular files (a FIFO, a device, a
directory named like a file) are listed too, so the flow can quarantine them: reading one
raises ``UnreadableFile`` and never blocks. Symlinks are never followed (they could point
anywhere on the host); ``links()`` lists them so the flow can report them. Outbound files
are written atomically (temp name, then rename) and a rewrite of the same name with the
same bytes is a no-op, with other bytes a conflict.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import posixpath
import stat
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from schemas.errors import ConflictError, PermanentError, TransientError

TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".lock")
CHUNK = 1 << 20  # inbox files are copied a MiB at a time: memory does not grow with them


class Sink(Protocol):
    """Where an inbox file's bytes are copied to (a file, ``io.BytesIO``, a hashing writer)."""

    def write(self, data: bytes, /) -> object: ...


def pump(read: Callable[[int], bytes], out: Sink) -> int:
    """Copy ``read(CHUNK)`` blocks into ``out`` until an empty one; returns the byte count."""
    total = 0
    while block := read(CHUNK):
        out.write(block)
        total += len(block)
    return total


class UnreadableFile(PermanentError):
    """An inbox entry that cannot be read as a file (permission, FIFO, directory, I/O error)."""


class FileVanished(PermanentError):
    """An inbox file disappeared between listing and reading (another worker took it)."""


@dataclass(frozen=True)
class InboundFile:
    """A file waiting in a partner's inbox (``kind`` "other": not a regular file)."""

    name: str
    size: int
    mtime: float
    kind: str = "file"


@dataclass(frozen=True)
class InboxLink:
    """A symbolic link found in an inbox: never followed, reported to a person."""

    name: str
    target: str


def shown(name: str) -> str:
    """A file name safe for logs, the ledger and JSON: bytes that are not UTF-8 (kept by
    Python as surrogate escapes) appear as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_text_name(name: str) -> bool:
    """Whether a file name is valid UTF-8 (no surrogate escapes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_candidate(name: str) -> bool:
    """Not hidden, not a temp or partial upload."""
    return not name.startswith(".") and not name.lower().endswith(TEMP_SUFFIXES)


class Mailbox(ABC):
    """A partner's inbox (files to us) and outbox (files to them)."""

    system = "edi"

    def __init__(self, min_age_seconds: float = 2.0, clock: Any = time.time):
        self.min_age = min_age_seconds
        self.clock = clock

    @abstractmethod
    def list_inbox(self) -> list[InboundFile]:
        """Every regular file in the inbox, ready or not."""

    @abstractmethod
    def copy_to(self, name: str, out: Sink) -> int:
        """Stream an inbox file into ``out`` a chunk at a time; returns its size.
        ``FileVanished``: it is gone; ``UnreadableFile``: it cannot be read as a file."""

    def read(self, name: str) -> bytes:
        """The bytes of an inbox file, whole (small files: previews, tests)."""
        buffer = io.BytesIO()
        self.copy_to(name, buffer)
        return buffer.getvalue()

    @abstractmethod
    def remove(self, name: str) -> None:
        """Take a processed file out of the inbox (missing is fine: already removed)."""

    @abstractmethod
    def _outbox_read(self, name: str) -> bytes | None:
        """The bytes of an outbox file, None if absent."""

    @abstractmethod
    def _outbox_write_atomic(self, name: str, data: bytes) -> None:
        """Write under a temp name, then rename into place."""

    @abstractmethod
    def list_outbox(self) -> list[str]:
        """Names in the outbox (for reconcile and tests)."""

    def links(self) -> list[InboxLink]:
        """Symbolic links in the inbox (never followed nor read)."""
        return []

    def quarantine(self, name: str, target_dir: Path) -> Path | None:
        """Move an inbox entry that cannot be read into ``target_dir``; None when this
        channel cannot move it there (it stays in the inbox)."""
        return None

    def ready(self) -> list[InboundFile]:
        """Inbox files safe to pick up: candidates old enough, oldest first."""
        now = self.clock()
        files = [
            f for f in self.list_inbox() if is_candidate(f.name) and now - f.mtime >= self.min_age
        ]
        return sorted(files, key=lambda f: (f.mtime, f.name))

    def send(self, name: str, data: bytes) -> bool:
        """Write an outbound file exactly once; True if written now, False if already there."""
        if "/" in name or name.startswith("."):
            raise PermanentError(f"outbound file name {name!r} is not a plain name", system="edi")
        existing = self._outbox_read(name)
        if existing is not None:
            if existing == data:
                return False
            raise ConflictError(
                f"outbox already holds {name!r} with different content "
                f"(sha256 {sha256(existing)[:12]} vs {sha256(data)[:12]}): refusing to overwrite",
                system="edi",
            )
        self._outbox_write_atomic(name, data)
        return True


class LocalMailbox(Mailbox):
    """Inbox and outbox as local directories."""

    def __init__(self, inbox: Path, outbox: Path, min_age_seconds: float = 2.0, **kw: Any):
        super().__init__(min_age_seconds, **kw)
        self.inbox = Path(inbox)
        self.outbox = Path(outbox)
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.outbox.mkdir(parents=True, exist_ok=True)

    def list_inbox(self) -> list[InboundFile]:
        """Regular files, plus entries that cannot be files of a partner (FIFOs, sockets,
        devices, directories named like a file, e.g. ``orders.edi/``) as kind "other".
        Plain subdirectories (no suffix) and symlinks are not inbox files."""
        result = []
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                if entry.is_symlink():
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # taken by another worker meanwhile
                if stat.S_ISREG(st.st_mode):
                    result.append(InboundFile(entry.name, st.st_size, st.st_mtime))
                elif not stat.S_ISDIR(st.st_mode) or "." in entry.name.strip("."):
                    result.append(InboundFile(entry.name, 0, st.st_mtime, kind="other"))
        return result

    def links(self) -> list[InboxLink]:
        with os.scandir(self.inbox) as entries:
            return sorted(
                (InboxLink(e.name, os.readlink(e.path)) for e in entries if e.is_symlink()),
                key=lambda link: link.name,
            )

    def copy_to(self, name: str, out: Sink) -> int:
        path = self.inbox / name
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: a link
            # swapped in after the listing is not followed
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError as exc:
            raise FileVanished(
                f"{shown(str(path))}: vanished before it was read", system="edi"
            ) from exc
        except OSError as exc:
            raise UnreadableFile(
                f"{shown(str(path))}: cannot be read: {exc.strerror or exc}", system="edi"
            ) from exc
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise UnreadableFile(
                f"{shown(str(path))}: not a regular file ({_kind(mode)}); a partner can only "
                "deliver files",
                system="edi",
            )
        with os.fdopen(fd, "rb") as fh:

            def chunk(size: int) -> bytes:
                try:
                    return fh.read(size)
                except OSError as exc:  # the read only: a failed write is not the file's
                    raise UnreadableFile(
                        f"{shown(str(path))}: read failed: {exc.strerror or exc}", system="edi"
                    ) from exc

            return pump(chunk, out)

    def quarantine(self, name: str, target_dir: Path) -> Path | None:
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / shown(name)
        n = 1
        while os.path.lexists(target):
            n += 1
            target = target_dir / f"{shown(name)}.{n}"
        try:
            os.replace(self.inbox / name, target)
        except FileNotFoundError:
            return None
        return target

    def remove(self, name: str) -> None:
        (self.inbox / name).unlink(missing_ok=True)

    def _outbox_read(self, name: str) -> bytes | None:
        path = self.outbox / name
        return path.read_bytes() if path.exists() else None

    def _outbox_write_atomic(self, name: str, data: bytes) -> None:
        tmp = self.outbox / f".{name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.outbox / name)

    def list_outbox(self) -> list[str]:
        return sorted(p.name for p in self.outbox.iterdir() if p.is_file() and is_candidate(p.name))


class UnknownHostKeyError(Exception):
    """The SFTP server presented a key nobody trusted (raised inside paramiko's connect)."""

    def __init__(self, public_key: str, fingerprint: str) -> None:
        super().__init__(fingerprint)
        self.public_key, self.fingerprint = public_key, fingerprint


def fingerprint(key: Any) -> str:
    """``ssh-ed25519 SHA256:...``, as ssh-keygen -l prints it."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def parse_public_key(text: str, where: str) -> Any:
    """A public key from its OpenSSH line ("ssh-ed25519 AAAA... [comment]")."""
    import paramiko

    parts = text.split()
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    except (IndexError, ValueError, paramiko.SSHException) as exc:
        raise PermanentError(
            f"{where}: the connection's host_key is not an OpenSSH public key line "
            f"('ssh-ed25519 AAAA...', as in known_hosts without the host name): {exc}",
            system="edi",
        ) from exc


class _RefuseUnknown:
    """paramiko policy: an unknown host key is refused, naming its fingerprint."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise UnknownHostKeyError(f"{key.get_name()} {key.get_base64()}", fingerprint(key))


class SftpMailbox(Mailbox):
    """Inbox and outbox on the partner's (or a VAN's) SFTP server, via paramiko."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        password: str | None = None,
        key_path: str | None = None,
        remote_inbox: str = "/out",
        remote_outbox: str = "/in",
        min_age_seconds: float = 2.0,
        timeout: float = 15.0,
        known_hosts: str | None = None,
        host_key: str | None = None,
        **kw: Any,
    ):
        super().__init__(min_age_seconds, **kw)
        self.host, self.port, self.username = host, port, username
        self._password, self._key_path = password, key_path
        self.remote_inbox, self.remote_outbox = remote_inbox, remote_outbox
        self.timeout = timeout
        # the server's key is verified: pinned (``host_key``, "ssh-ed25519 AAAA..."), from a
        # known_hosts file, else from ~/.ssh/known_hosts; an unknown key is refused
        self.known_hosts = known_hosts
        self.host_key = host_key
        self._client: Any = None
        self._sftp: Any = None

    @property
    def where(self) -> str:
        """user@host:port, for messages (no secrets)."""
        return f"sftp://{self.username}@{self.host}:{self.port}"

    def _trust(self, client: Any) -> None:
        """Load the trusted host keys into ``client`` and refuse any other key."""
        entry = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        if self.host_key:
            key = parse_public_key(self.host_key, self.where)
            client.get_host_keys().add(entry, key.get_name(), key)
        if self.known_hosts:
            try:
                client.load_host_keys(self.known_hosts)
            except OSError as exc:
                raise PermanentError(
                    f"{self.where}: cannot read the known_hosts file {self.known_hosts}: {exc}",
                    system="edi",
                ) from exc
        if not self.host_key and not self.known_hosts:
            client.load_system_host_keys()  # ~/.ssh/known_hosts, when there is one
        client.set_missing_host_key_policy(_RefuseUnknown())

    def _open(self) -> Any:
        if self._sftp is not None:
            return self._sftp
        import paramiko

        client = paramiko.SSHClient()
        self._trust(client)
        timeouts = dict.fromkeys(("timeout", "banner_timeout", "auth_timeout"), self.timeout)
        no_agent = dict.fromkeys(("allow_agent", "look_for_keys"), False)  # the key given only
        try:
            client.connect(self.host, port=self.port, username=self.username,
                           password=self._password, key_filename=self._key_path,
                           **timeouts, **no_agent)  # fmt: skip
        except UnknownHostKeyError as exc:
            raise PermanentError(
                f"{self.where} presented the host key {exc.fingerprint}, which is not trusted: "
                "check that fingerprint with the partner, then pin the key in the SFTP "
                f"connection's extra (host_key: {exc.public_key!r}) or add it to the file "
                "named by extra known_hosts; the connection is refused until then",
                system="edi",
            ) from exc
        except paramiko.BadHostKeyException as exc:
            raise PermanentError(
                f"{self.where} presented the host key {fingerprint(exc.key)} but "
                f"{fingerprint(exc.expected_key)} is trusted: the server's key changed or "
                "someone is in between; ask the partner before changing host_key/known_hosts",
                system="edi",
            ) from exc
        except paramiko.AuthenticationException as exc:
            raise PermanentError(
                f"{self.where} refused the login: check the SFTP connection's credentials",
                system="edi",
            ) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TransientError(
                f"cannot reach {self.where}: {exc.__class__.__name__}: {exc}", system="edi"
            ) from exc
        self._client = client
        self._sftp = client.open_sftp()
        self._sftp.get_channel().settimeout(self.timeout)
        return self._sftp

    def _call(self, what: str, func: Any, *args: Any) -> Any:
        sftp = self._open()
        try:
            return func(sftp, *args)
        except FileNotFoundError:
            raise
        except PermissionError as exc:
            raise PermanentError(
                f"{self.where}: permission denied to {what}", system="edi"
            ) from exc
        except OSError as exc:
            self.close()
            raise TransientError(f"{self.where}: {what} failed: {exc}", system="edi") from exc

    def list_inbox(self) -> list[InboundFile]:
        entries = self._call("list the inbox", lambda s: s.listdir_attr(self.remote_inbox))
        return [
            InboundFile(e.filename, e.st_size or 0, float(e.st_mtime or 0))
            for e in entries
            if e.st_mode is not None and stat.S_ISREG(e.st_mode)
        ]

    def links(self) -> list[InboxLink]:
        entries = self._call("list the inbox", lambda s: s.listdir_attr(self.remote_inbox))
        found = []
        for e in entries:
            if e.st_mode is not None and stat.S_ISLNK(e.st_mode):
                path = posixpath.join(self.remote_inbox, e.filename)
                target = self._call(f"read the link {path}", lambda s, p=path: s.readlink(p))
                found.append(InboxLink(e.filename, str(target)))
        return sorted(found, key=lambda link: link.name)

    def copy_to(self, name: str, out: Sink) -> int:
        path = posixpath.join(self.remote_inbox, name)
        try:
            fh = self._call(f"read {path}", lambda s: s.open(path, "rb"))
        except FileNotFoundError as exc:
            raise FileVanished(
                f"{self.where}{path}: vanished before it was read", system="edi"
            ) from exc
        except TransientError:
            raise
        except PermanentError as exc:
            raise UnreadableFile(exc.message, system="edi") from exc

        def chunk(size: int) -> bytes:
            try:
                return bytes(fh.read(size))
            except OSError as exc:  # the connection broke mid-file: try again later
                self.close()
                raise TransientError(f"{self.where}: read {path} failed: {exc}",
                                     system="edi") from exc  # fmt: skip

        with fh:
            fh.prefetch()
            return pump(chunk, out)

    def remove(self, name: str) -> None:
        path = posixpath.join(self.remote_inbox, name)
        try:
            self._call(f"remove {path}", lambda s: s.remove(path))
        except FileNotFoundError:
            return

    def _outbox_read(self, name: str) -> bytes | None:
        path = posixpath.join(self.remote_outbox, name)

        def _get(s: Any) -> bytes:
            with s.open(path, "rb") as fh:
                return fh.read()

        try:
            return self._call(f"read {path}", _get)
        except FileNotFoundError:
            return None

    def _outbox_write_atomic(self, name: str, data: bytes) -> None:
        final = posixpath.join(self.remote_outbox, name)
        tmp = posixpath.join(self.remote_outbox, f".{name}.tmp")

        def _put(s: Any) -> None:
            with s.open(tmp, "wb") as fh:
                fh.write(data)
            uploaded = s.stat(tmp).st_size
            if uploaded != len(data):
                raise OSError(f"upload of {tmp} incomplete: {uploaded} of {len(data)} bytes")
            s.posix_rename(tmp, final)

        self._call(f"upload {final}", _put)

    def list_outbox(self) -> list[str]:
        names = self._call("list the outbox", lambda s: s.listdir(self.remote_outbox))
        return sorted(n for n in names if is_candidate(n))

    def close(self) -> None:
        """Close the SFTP session and SSH connection."""
        for obj in (self._sftp, self._client):
            if obj is not None:
                with contextlib.suppress(Exception):  # closing a broken connection
                    obj.close()
        self._sftp = self._client = None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device or special file"


def sha256(data: bytes) -> str:
    """Hex SHA-256 of raw bytes (file identity in the ledger and the archive)."""
    return hashlib.sha256(data).hexdigest()


class Archive:
    """Raw files kept forever, named by their hash (content-addressed, written once)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, partner: str, digest: str, suffix: str = ".edi") -> Path:
        """Where a file with this hash lives."""
        return self.root / partner / digest[:2] / f"{digest}{suffix}"

    def store(self, partner: str, data: bytes, suffix: str = ".edi") -> Path:
        """Archive bytes (atomically, once); returns the path."""
        path = self.path_for(partner, sha256(data), suffix)
        if path.exists():
            return path
        return self.receive(partner, lambda out: out.write(data), suffix)[0]

    def receive(
        self, partner: str, fill: Callable[[Sink], object], suffix: str = ".edi"
    ) -> tuple[Path, str]:
        """Archive what ``fill(out)`` writes, a chunk at a time, hashed while it is copied
        (memory does not grow with the file); (path, sha256). Written once per content:
        a copy already archived is kept and the new one dropped."""
        staging = self.root / partner
        staging.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".incoming-", suffix=".tmp", dir=staging)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                hashing = _Hashing(fh)
                fill(hashing)
                fh.flush()
                os.fsync(fh.fileno())
            digest = hashing.hash.hexdigest()
            path = self.path_for(partner, digest, suffix)
            if path.exists():
                tmp.unlink()
                return path, digest
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path, digest


class _Hashing:
    """A writer that hashes what it passes on."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.hash = out, hashlib.sha256()

    def write(self, data: bytes, /) -> int:
        self.hash.update(data)
        return self.out.write(data)
