"""Malformed, truncated or hostile IR files raise Kiln errors naming the file and layer."""

import numpy as np
import pytest
from kiln.errors import ModelFormatError, UnsupportedOpError
from kiln.ir import ElementType, Model, constant, make, parameter
from kiln.serialize import read_ir, save_ir


@pytest.fixture
def saved(tmp_path):
    """Write a small model; return (xml path, xml text)."""
    x = parameter("x", ElementType.f32, (2, 3))
    y = make("Add", x.output(0), constant(np.ones((2, 3), np.float32), name="ones"), name="add").output(0)
    y = make("Relu", y, name="relu").output(0)
    path = tmp_path / "m.xml"
    save_ir(Model([y], [x]), path)
    return path, path.read_text()


def rewrite(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_billion_laughs_is_refused_before_parsing(tmp_path):
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    path = tmp_path / "bomb.xml"
    path.write_text(f'<?xml version="1.0"?><!DOCTYPE net [<!ENTITY lol0 "lol">{lol}]>'
                    '<net name="x" version="11"><layers/><edges/>&lol9;</net>')
    with pytest.raises(ModelFormatError, match=r"bomb\.xml.*entity declarations are not allowed"):
        read_ir(path)


def test_external_entity_is_never_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    path = tmp_path / "xxe.xml"
    path.write_text(f'<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
                    '<net name="&xxe;" version="11"><layers/></net>')
    with pytest.raises(ModelFormatError, match="line 2") as error:
        read_ir(path)
    assert "TOP SECRET" not in str(error.value)


def test_utf16_cannot_hide_a_doctype(tmp_path):
    path = tmp_path / "u16.xml"
    path.write_bytes('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE net []><net/>'.encode("utf-16"))
    with pytest.raises(ModelFormatError, match="UTF-8"):
        read_ir(path)


def test_truncated_xml_names_file_and_line(saved):
    path, text = saved
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ModelFormatError, match=r"m\.xml: not well-formed XML at line \d+"):
        read_ir(path)


def test_truncated_bin_names_the_layer(saved):
    path, _ = saved
    weights = path.with_suffix(".bin")
    weights.write_bytes(weights.read_bytes()[:10])
    with pytest.raises(ModelFormatError, match=r"layer id=1 name='ones' type=Const.*beyond the end.*m\.bin"):
        read_ir(path)


def test_offset_beyond_bin_and_missing_bin(saved):
    path, _ = saved
    rewrite(path, 'offset="0"', 'offset="4096"')
    with pytest.raises(ModelFormatError, match=r"name='ones'.*offset 4096"):
        read_ir(path)
    path.with_suffix(".bin").unlink()
    with pytest.raises(ModelFormatError, match=r"weights file .*m\.bin does not exist"):
        read_ir(path)


def test_size_too_small_for_shape(saved):
    path, _ = saved
    rewrite(path, 'size="24"', 'size="8"')
    with pytest.raises(ModelFormatError, match=r"name='ones'.*size=8 is too small for f32\[2, 3\]"):
        read_ir(path)


def test_unknown_layer_type_names_layer_type_and_version(saved):
    path, _ = saved
    rewrite(path, 'type="ReLU" version="opset1"', 'type="FancyOp" version="opset99"')
    with pytest.raises(UnsupportedOpError, match=r"layer id=3 name='relu' type=FancyOp version=opset99"):
        read_ir(path)


def test_unsupported_version_and_attribute(saved):
    path, _ = saved
    rewrite(path, 'type="Add" version="opset1"', 'type="Add" version="opset42"')
    with pytest.raises(UnsupportedOpError, match=r"name='add' type=Add version=opset42.*opset1"):
        read_ir(path)
    rewrite(path, 'version="opset42"', 'version="opset1"')
    rewrite(path, 'auto_broadcast="numpy"', 'auto_broadcast="numpy" fancy="1"')
    with pytest.raises(UnsupportedOpError, match=r"name='add'.*\['fancy'\]"):
        read_ir(path)


def test_bad_attribute_text_and_element_type(saved):
    path, text = saved
    rewrite(path, 'shape="2,3"', 'shape="2,x"')
    with pytest.raises(ModelFormatError, match=r"name='x'.*attribute 'shape'.*'2,x'"):
        read_ir(path)
    path.write_text(text.replace('element_type="f32" shape="2, 3"', 'element_type="f8e4m3" shape="2, 3"'))
    with pytest.raises(UnsupportedOpError, match=r"name='ones'.*element type 'f8e4m3'"):
        read_ir(path)


def test_dangling_and_cyclic_edges(saved):
    path, text = saved
    rewrite(path, '<edge from-layer="2" from-port="2" to-layer="3" to-port="0" />', "")
    with pytest.raises(ModelFormatError, match=r"name='relu'.*input port 0 is not connected"):
        read_ir(path)
    path.write_text(text.replace('from-layer="2" from-port="2" to-layer="3"',
                                 'from-layer="9" from-port="2" to-layer="3"'))
    with pytest.raises(ModelFormatError, match="names layer 9, which does not exist"):
        read_ir(path)
    path.write_text(text.replace('<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />',
                                 '<edge from-layer="3" from-port="1" to-layer="2" to-port="0" />'))
    with pytest.raises(ModelFormatError, match="cycle"):
        read_ir(path)


def test_not_an_ir_file(tmp_path):
    path = tmp_path / "other.xml"
    path.write_text('<?xml version="1.0"?><html><body/></html>')
    with pytest.raises(ModelFormatError, match=r"other\.xml: root element is <html>"):
        read_ir(path)
    path.write_text('<net name="n" version="7"><layers/></net>')
    with pytest.raises(ModelFormatError, match="IR version '7'"):
        read_ir(path)


def test_precision_that_contradicts_the_op(saved):
    path, _ = saved
    text = path.read_text()
    head, tail = text.split('name="add"', 1)
    tail = tail.replace('<port id="2" precision="FP32"', '<port id="2" precision="I8"', 1)
    path.write_text(head + 'name="add"' + tail)
    with pytest.raises(ModelFormatError, match=r"name='add'.*declared I8, Kiln infers f32"):
        read_ir(path)


def test_shape_that_contradicts_the_op(saved):
    path, _ = saved
    text = path.read_text()
    head, tail = text.split('name="relu"', 1)
    out = tail.index("<output>")
    tail = tail[:out] + tail[out:].replace("<dim>3</dim>", "<dim>4</dim>", 1)
    path.write_text(head + 'name="relu"' + tail)
    with pytest.raises(ModelFormatError, match=r"name='relu'.*declared \[2, 4\], Kiln infers \[2, 3\]"):
        read_ir(path)
