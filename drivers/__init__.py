"""Kiln drivers."""
