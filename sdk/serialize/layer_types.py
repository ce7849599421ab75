"""IR layer ``type`` names that differ from the op's type name (OpenVINO's own renames)."""

TO_XML = {"Constant": "Const", "Relu": "ReLU", "Softmax": "SoftMax", "PRelu": "PReLU"}
"""Kiln/OpenVINO op type name -> the name IR v11 files spell it with."""

FROM_XML = {xml: op for op, xml in TO_XML.items()}
"""IR layer type -> op type name."""


def xml_type(type_name: str) -> str:
    """Return the layer ``type`` written for an op type."""
    return TO_XML.get(type_name, type_name)


def op_type(layer_type: str) -> str:
    """Return the op type name of a layer ``type`` read from a file."""
    return FROM_XML.get(layer_type, layer_type)
