import pytest
from kiln.hw.config import ConfigError, VPUConfig


def test_defaults_are_small_and_valid():
    c = VPUConfig()
    assert c.dim == 8
    assert c.sp_row_bytes == 8 and c.acc_row_bytes == 32
    assert c.macs_per_cycle == 64
    assert c.fetch_cycles == 1
    assert c.sp_address_bits == 13 and c.acc_address_bits == 12


@pytest.mark.parametrize("dim", [2, 4, 16, 32, 64])
def test_other_array_sizes_build(dim):
    c = VPUConfig(dim=dim)
    assert c.acc_row_bytes == 4 * dim
    assert c.gemm_pipeline_cycles == 2 * dim


@pytest.mark.parametrize("field, value", [
    ("dim", 12), ("dim", 128), ("dim", 1), ("sp_depth", 0), ("sp_depth", 1 << 17),
    ("acc_depth", 70000), ("dram_bus_bytes", 3), ("dram_latency", -1),
    ("token_queue_depth", 0), ("load_queue_depth", 0), ("clock_mhz", 0), ("dim", 8.0),
])
def test_validate_names_the_bad_field(field, value):
    with pytest.raises(ConfigError) as info:
        VPUConfig(**{field: value})
    assert info.value.field == field
    assert f"VPUConfig.{field}" in str(info.value)


def test_sp_must_hold_a_weight_tile():
    with pytest.raises(ConfigError, match="sp_depth"):
        VPUConfig(dim=32, sp_depth=16)


def test_fetch_cycles_follow_bus_width():
    assert VPUConfig(dram_bus_bytes=4).fetch_cycles == 4
    assert VPUConfig(dram_bus_bytes=64).fetch_cycles == 1
