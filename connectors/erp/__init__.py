"""Connector package for the erp system."""
