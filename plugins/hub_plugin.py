"""Airflow plugins-folder entry: registers the hub's ops endpoints (see hub.airflow_plugin)."""

from hub.airflow_plugin import HubOpsPlugin

__all__ = ["HubOpsPlugin"]
