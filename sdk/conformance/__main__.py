"""Run ONNX's backend node suite on a Kiln device: ``python -m kiln.conformance --help``."""

import sys

from kiln.conformance.onnx_node_suite import main

sys.exit(main())
