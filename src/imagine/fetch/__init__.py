"""Outbound HTTP: the one client every feature uses, and image downloads."""
