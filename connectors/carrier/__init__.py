"""Connector package for the carrier system."""
