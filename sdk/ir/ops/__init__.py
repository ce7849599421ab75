"""IR op vocabulary (OpenVINO opset semantics): one module per op family.

Every module here is imported by :func:`kiln.ir.op.lookup`; each Op subclass
registers itself under its OpenVINO type name.
"""
