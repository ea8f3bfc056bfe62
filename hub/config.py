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


def load_partners(directory: Path | None = None) -> dict[str, PartnerProfile]:
    """Every ``*.yaml`` under ``config/partners``; ids and UNB identities must be unique."""
    folder = directory or settings.config_dir() / "partners"
    partners: dict[str, PartnerProfile] = {}
    by_unb: dict[tuple[str, str], str] = {}
    for path in sorted(folder.glob("*.y*ml")):
        profile = load_partner(path)
        if profile.id in partners:
            raise ConfigError(
                f"{path}: id: partner {profile.id!r} is defined twice", system="config"
            )
        key = (profile.unb.partner_id, profile.unb.partner_qualifier)
        if key in by_unb:
            raise ConfigError(
                f"{path}: unb.partner_id: {key[0]} (qualifier {key[1]}) is already used by "
                f"partner {by_unb[key]!r}",
                system="config",
            )
        partners[profile.id] = profile
        by_unb[key] = profile.id
    return partners


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
