"""Connector package for the crm system (HubSpot CRM v3/v4 REST)."""

from connectors.crm.client import CrmClient
from connectors.crm.ratelimit import InProcessRateBudget, RateBudget, RedisRateBudget

__all__ = ["CrmClient", "InProcessRateBudget", "RateBudget", "RedisRateBudget"]
