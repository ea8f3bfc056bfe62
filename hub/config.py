"""Loading config/: YAML partner profiles validated at load, errors naming file and field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hub import settings
from schemas.config import PartnerProfile
from schemas.errors import PermanentError


class ConfigError(PermanentError):
    """A configuration file is invalid: names the file, the field and what is wrong."""


M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M], *, missing: str | None = None) -> M:
    """``path`` read as YAML and validated as ``model``; a ConfigError names the file and
    every invalid field with its location. ``missing`` is the hint when the file does not
    exist (without it FileNotFoundError propagates)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        if missing is None:
            raise
        raise ConfigError(f"{path}: {missing}", system="config") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}", system="config") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level", system="config")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            + (f" (got {err['input']!r})" if not isinstance(err.get("input"), dict) else "")
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}", system="config") from exc


def load_partner(path: Path) -> PartnerProfile:
    """One partner profile; a ConfigError lists every invalid field with its location."""
    return load_model(path, PartnerProfile)


class Partners(dict[str, PartnerProfile]):
    """The valid partner profiles by id; ``invalid`` maps each profile file that failed
    (path as text) to its error, which names the file and the field. An invalid profile
    stops only its own partner: the others keep running."""

    def __init__(
        self, valid: dict[str, PartnerProfile] | None = None, invalid: dict[str, str] | None = None
    ) -> None:
        super().__init__(valid or {})
        self.invalid: dict[str, str] = dict(invalid or {})


# path -> ((mtime_ns, size), profile or error): a file is parsed again only when it changed
_CACHE: dict[Path, tuple[tuple[int, int], PartnerProfile | ConfigError]] = {}


def _profile_or_error(path: Path) -> PartnerProfile | ConfigError:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ConfigError(f"{path}: removed while reading", system="config")
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        found: PartnerProfile | ConfigError = load_partner(path)
    except ConfigError as exc:
        found = exc
    _CACHE[path] = (stamp, found)
    return found


def load_partners(directory: Path | None = None, *, strict: bool = False) -> Partners:
    """Every ``*.yaml`` under ``config/partners``, each validated on its own and read again
    only when its file changed (mtime, size). Ids and UNB identities must be unique: a
    second file claiming one is invalid. Invalid files are skipped and listed in
    ``.invalid``; ``strict=True`` raises the first one's ConfigError instead."""
    folder = directory or settings.config_dir() / "partners"
    valid: dict[str, PartnerProfile] = {}
    invalid: dict[str, str] = {}
    by_unb: dict[tuple[str, str], str] = {}
    for path in sorted(folder.glob("*.y*ml")):
        found = _profile_or_error(path)
        if isinstance(found, PartnerProfile):
            key = (found.unb.partner_id, found.unb.partner_qualifier)
            if found.id in valid:
                found = ConfigError(
                    f"{path}: id: partner {found.id!r} is defined twice", system="config"
                )
            elif key in by_unb:
                found = ConfigError(
                    f"{path}: unb.partner_id: {key[0]} (qualifier {key[1]}) is already used "
                    f"by partner {by_unb[key]!r}",
                    system="config",
                )
            else:
                valid[found.id] = found
                by_unb[key] = found.id
                continue
        if strict:
            raise found
        invalid[str(path)] = found.message
    return Partners(valid, invalid)


def partner_by_sender(
    partners: dict[str, PartnerProfile], sender_id: str, qualifier: str | None
) -> PartnerProfile | None:
    """The profile whose UNB partner id (and qualifier, when given) matches a sender."""
    for profile in partners.values():
        if profile.unb.partner_id == sender_id and (
            not qualifier or profile.unb.partner_qualifier == qualifier
        ):
            return profile
    return None
