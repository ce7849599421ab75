"""The VPU's two outside ports: the DRAM request/response port and the register port.

Both are Amaranth signatures seen from the VPU (``Out`` leaves the VPU). In the
exported Verilog a member ``dram`` of `DramPort` becomes ports named
``dram__req_valid``, ``dram__req_addr`` ... and `RegisterPort` ``csr`` becomes
``csr__addr``, ``csr__wdata`` ...
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

DRAM_ADDRESS_BITS = 32
REGISTER_ADDRESS_BITS = 16
REGISTER_BITS = 32


class DramPort(wiring.Signature):
    """A valid/ready memory port of ``bus_bytes`` bytes per beat, seen from its master.

    Members (direction seen from the VPU):
        req_valid (Out, 1): a request is offered this cycle.
        req_ready (In, 1): the memory takes the offered request at this clock edge.
        req_addr (Out, 32): byte address of the beat; a multiple of ``bus_bytes``.
        req_we (Out, 1): 1 for a write, 0 for a read.
        req_wdata (Out, 8 * bus_bytes): write data, byte i of the beat in bits 8i+7..8i.
        req_wmask (Out, bus_bytes): bit i set writes byte i; clear leaves it unchanged.
        resp_valid (In, 1): ``resp_rdata`` holds the answer to the oldest read not yet
            answered. Reads are answered in order, one cycle or more after being
            taken; the master always accepts a response (it never has more reads
            outstanding than it can hold).
        resp_rdata (In, 8 * bus_bytes): read data, laid out like ``req_wdata``.

    Writes get no response; a write taken before a read is visible to that read.
    """

    def __init__(self, bus_bytes: int):
        if bus_bytes < 1 or bus_bytes & (bus_bytes - 1):
            raise ValueError(f"DRAM bus width must be a power of two bytes, got {bus_bytes}")
        self.bus_bytes = bus_bytes
        super().__init__({
            "req_valid": Out(1),
            "req_ready": In(1),
            "req_addr": Out(DRAM_ADDRESS_BITS),
            "req_we": Out(1),
            "req_wdata": Out(8 * bus_bytes),
            "req_wmask": Out(bus_bytes),
            "resp_valid": In(1),
            "resp_rdata": In(8 * bus_bytes),
        })


class RegisterPort(wiring.Signature):
    """The memory-mapped control/status register port, seen from the VPU.

    Members (direction seen from the VPU):
        addr (In, 16): byte address of a 32-bit register (see ``kiln.hw.registers``).
        wdata (In, 32): value to write.
        we (In, 1): write ``wdata`` to ``addr`` at this clock edge.
        rdata (Out, 32): the register at the ``addr`` of the previous cycle (one cycle
            read latency, no read side effects); 0 for unmapped addresses.
    """

    def __init__(self):
        super().__init__({
            "addr": In(REGISTER_ADDRESS_BITS),
            "wdata": In(REGISTER_BITS),
            "we": In(1),
            "rdata": Out(REGISTER_BITS),
        })
