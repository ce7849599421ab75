"""Put the test-only TESTACC device and the quantization test models on the import path."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "sdk" / "quantization"))


@pytest.fixture(autouse=True)
def testacc_device(monkeypatch):
    """Register the TESTACC device for one test only, so no other test sees it."""
    from kiln.drivers.plugin import PLUGINS, load_plugins
    from testacc_device import TestAccPlugin

    load_plugins()
    monkeypatch.setitem(PLUGINS, TestAccPlugin.device_name, TestAccPlugin)
