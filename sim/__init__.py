"""Kiln sim."""
