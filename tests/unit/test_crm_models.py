"""CRM wire DTOs and value conversions."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.crm.models import (
    CrmRecord,
    WireBatchResponse,
    error_ids,
    failure_from_wire,
    parse_timestamp,
    to_epoch_ms,
    wire_value,
)


def test_timestamps_in_both_hubspot_forms() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert parse_timestamp("2024-05-01T12:00:00.123Z") == moment
    assert parse_timestamp(str(to_epoch_ms(moment))) == moment
    assert parse_timestamp("") is None and parse_timestamp("garbage") is None
    assert to_epoch_ms(datetime(2024, 5, 1, 12, 0, 0, 123000)) == to_epoch_ms(moment)


def test_wire_values_are_strings() -> None:
    assert [wire_value(v) for v in (None, True, False, 3, 2.5, "x")] == [
        "", "true", "false", "3", "2.5", "x",
    ]  # fmt: skip


def test_207_body_maps_back_to_records() -> None:
    body = {
        "status": "COMPLETE",
        "results": [
            {
                "id": "11",
                "properties": {"hub_erp_id": "E1", "lastmodifieddate": "2024-05-01T00:00:00Z"},
                "createdAt": "2024-05-01T00:00:00Z",
                "updatedAt": "2024-05-01T00:00:00Z",
                "archived": False,
                "new": True,
            }
        ],
        "errors": [
            {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": "Property values were not valid",
                "context": {"ids": ["E2"]},
                "errors": [{"message": "bad email", "code": "INVALID_EMAIL", "in": "email"}],
                "links": {},
            }
        ],
    }
    batch = WireBatchResponse.model_validate(body)
    record = CrmRecord.from_wire("contacts", batch.results[0], "hub_erp_id")
    assert (record.crm_id, record.erp_id) == ("11", "E1")
    assert record.modified_at == datetime(2024, 5, 1, tzinfo=UTC)
    failure = failure_from_wire(batch.errors[0], error_ids(batch.errors[0])[0])
    assert (failure.erp_id, failure.field, failure.code, failure.message) == (
        "E2", "email", "INVALID_EMAIL", "bad email",
    )  # fmt: skip
