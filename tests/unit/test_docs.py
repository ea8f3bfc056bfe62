"""The partner-profile reference is generated from the pydantic models and kept current:
a field added to ``schemas/config.py`` without a description, or a stale
``docs/partner-profile.md``, fails here (issue 12, onboarding)."""

from __future__ import annotations

from hub.profile_reference import TARGET, models, render, undocumented
from schemas.config import PartnerProfile


def test_every_profile_field_is_described() -> None:
    assert undocumented() == [], "add Field(description=...) to these fields"


def test_the_reference_is_up_to_date() -> None:
    assert TARGET.read_text(encoding="utf-8") == render(), (
        "docs/partner-profile.md is stale: run `python -m hub.profile_reference`"
    )


def test_the_reference_covers_every_model_and_field() -> None:
    text = render()
    for model in models(PartnerProfile):
        assert f"## {model.__name__}" in text
        for name in model.model_fields:
            assert f"| `{name}` |" in text
    assert "| `conn_id` | text | **required** |" in text
