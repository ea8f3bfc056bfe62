"""The hub's own webhook endpoint for the CRM: HubSpot v3 signatures, then a CRM sync."""
