"""OpenVINO IR v11 files: ``save_ir`` writes ``.xml`` + ``.bin``; ``read_ir`` reads them back.

The writer is generic over ops: each op's declared attributes (``kiln.ir.Attr``) are
written by kind under their OpenVINO names, constants go to the ``.bin`` file (identical
blobs stored once). The reader maps ``(type, version)`` to Kiln ops and never expands
XML entities or fetches external resources.
"""

from kiln.serialize.reader import read_ir
from kiln.serialize.writer import save_ir

__all__ = ["read_ir", "save_ir"]
