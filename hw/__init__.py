"""Kiln hw."""
