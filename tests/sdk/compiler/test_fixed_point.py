import numpy as np
import pytest
from kiln.compiler.fixed_point import quantize_multiplier
from kiln.hw.config import VPUConfig
from kiln.hw.isa import Instruction
from kiln.sim import Machine


def requantize(acc, multiplier, shift, zero_point, lo, hi):
    """VREQ as docs/isa.md writes it, in numpy: 64-bit product, shift, round half up, clamp."""
    p = acc.astype(np.int64) * multiplier.astype(np.int64)
    s = shift.astype(np.int64)
    q = np.where(s > 0, (p >> s) + ((p >> np.maximum(s - 1, 0)) & 1), p)
    return np.clip(q + zero_point, lo, hi).astype(np.int8)


@pytest.mark.parametrize("real", [1e-9, 3.3e-5, 0.0123, 0.5, 0.999999, 1.0, 7.25, 1234.5])
def test_multiplier_is_close_and_in_range(real):
    m, s = quantize_multiplier(real)
    assert 0 < m < 2**31 and 0 <= s <= 63
    assert abs(m / 2**s - real) <= real * 2**-30 + 2**-s


def test_bad_multiplier_is_refused():
    with pytest.raises(ValueError):
        quantize_multiplier(0.0)
    with pytest.raises(ValueError):
        quantize_multiplier(float("nan"))


def test_host_requantize_matches_the_simulators_vreq():
    config = VPUConfig(dim=8)
    rng = np.random.default_rng(0)
    acc = rng.integers(-2**31, 2**31, size=(16, 8), dtype=np.int64).astype(np.int32)
    acc[0, :4] = [2**31 - 1, -2**31, 0, 1]
    pairs = [quantize_multiplier(r) for r in rng.uniform(1e-6, 0.9, size=8)]
    multiplier = np.array([p[0] for p in pairs], np.int32)
    shift = np.array([p[1] for p in pairs], np.int32)
    machine = Machine(config, dram_size=4096)
    machine.accumulator[:16] = acc
    machine.accumulator[100] = multiplier
    machine.accumulator[101] = shift
    program = [Instruction("VREQ", src=0, dst=0, param=100, count=16, src_stride=1, dst_stride=1,
                           zero_point=3, lo=-100, hi=120), Instruction("FINISH")]
    count = machine.load_program(program, address=0)
    machine.run(0, count)
    expected = requantize(acc, multiplier, shift, 3, -100, 120)
    np.testing.assert_array_equal(machine.scratchpad[:16], expected)
