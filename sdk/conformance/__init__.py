"""Conformance suites: outside test suites run through Kiln's public API on a device."""
