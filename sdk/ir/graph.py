"""The IR graph: nodes with typed, shaped output ports, and the Model that owns them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from kiln.errors import KilnError, ShapeInferenceError, UnsupportedOpError
from kiln.ir.op import REQUIRED, Op, lookup
from kiln.ir.types import ElementType, Shape, format_shape

_NAME_COUNTER = itertools.count()


class Output:
    """One output port of a node: ``node.outputs[index]``; what an input connects to."""

    __slots__ = ("node", "index")

    def __init__(self, node: Node, index: int):
        self.node = node
        self.index = index

    @property
    def element_type(self) -> ElementType:
        return self.node.output_types[self.index][0]

    @property
    def shape(self) -> Shape | None:
        return self.node.output_types[self.index][1]

    @property
    def names(self) -> set[str]:
        """Tensor names of this port (from the source model; may be empty)."""
        return self.node.output_names[self.index]

    @property
    def name(self) -> str:
        """A stable name: the first tensor name, else ``node_name:index``."""
        names = self.node.output_names[self.index]
        if names:
            return sorted(names)[0]
        return self.node.name if len(self.node.output_types) == 1 else f"{self.node.name}:{self.index}"

    def constant_value(self) -> np.ndarray | None:
        """Return the value when this port is a Constant's output, else None."""
        if self.node.type_name == "Constant":
            return self.node.attrs["value"]
        return None

    def __eq__(self, other):
        return isinstance(other, Output) and other.node is self.node and other.index == self.index

    def __hash__(self):
        return hash((id(self.node), self.index))

    def __repr__(self):
        return (f"<Output {self.node.name}:{self.index} {self.element_type.value}"
                f"{format_shape(self.shape)}>")


class Node:
    """One op instance: its type, attributes, input ports and inferred outputs.

    Build nodes with :func:`make`; ``Node(...)`` checks attributes and infers outputs.
    """

    def __init__(self, op_type: str | type[Op], inputs: Sequence[Output], attrs: Mapping | None = None,
                 name: str | None = None, infer: bool = True):
        self.op: type[Op] = lookup(op_type) if isinstance(op_type, str) else op_type
        self.name = name or f"{self.op.type_name}_{next(_NAME_COUNTER)}"
        self.inputs: list[Output] = list(inputs)
        self.attrs: dict = self._checked_attrs(dict(attrs or {}))
        self.output_types: list[tuple[ElementType, Shape | None]] = []
        self.output_names: list[set[str]] = []
        self.rt_info: dict[str, str] = {}
        lo, hi = self.op.num_inputs
        if not lo <= len(self.inputs) <= hi:
            raise ShapeInferenceError(
                f"node {self.name!r} ({self.type_name}): takes {lo}..{hi} inputs, got {len(self.inputs)}")
        for i, port in enumerate(self.inputs):
            if not isinstance(port, Output):
                raise TypeError(f"node {self.name!r}: input {i} is {type(port).__name__}, not an Output")
        if infer:
            self.infer()

    @property
    def type_name(self) -> str:
        return self.op.type_name

    @property
    def outputs(self) -> list[Output]:
        return [Output(self, i) for i in range(len(self.output_types))]

    def output(self, index: int = 0) -> Output:
        if not 0 <= index < len(self.output_types):
            raise IndexError(f"node {self.name!r} has {len(self.output_types)} outputs, not {index + 1}")
        return Output(self, index)

    def _checked_attrs(self, attrs: dict) -> dict:
        spec = self.op.attributes
        unknown = set(attrs) - set(spec) - {"value"}
        if unknown:
            raise UnsupportedOpError(
                f"node {self.name!r} ({self.type_name}): unknown attribute(s) {sorted(unknown)}")
        for key, attr in spec.items():
            if key not in attrs:
                if attr.default is REQUIRED:
                    raise UnsupportedOpError(
                        f"node {self.name!r} ({self.type_name}): missing attribute {key!r}")
                attrs[key] = attr.default
        return attrs

    def infer(self) -> None:
        """(Re)compute the output types and shapes from the inputs."""
        try:
            types = self.op.infer(self)
        except KilnError:
            raise
        except Exception as error:
            raise ShapeInferenceError(
                f"node {self.name!r} ({self.type_name}): shape inference failed for inputs "
                f"{self.describe_inputs()}: {error}") from error
        names = self.output_names
        self.output_types = [(etype, None if shape is None else tuple(shape)) for etype, shape in types]
        self.output_names = [names[i] if i < len(names) else set() for i in range(len(types))]

    def describe_inputs(self) -> str:
        return ", ".join(f"{p.element_type.value}{format_shape(p.shape)}" for p in self.inputs)

    def input_value(self, index: int) -> np.ndarray | None:
        """Return input ``index``'s value when it comes from a Constant, else None."""
        if index >= len(self.inputs):
            return None
        return self.inputs[index].constant_value()

    def evaluate(self, values: list[np.ndarray]) -> list[np.ndarray]:
        """Run the op's numpy reference on concrete inputs."""
        return self.op.evaluate(self, values)

    def __repr__(self):
        return f"<Node {self.name} {self.type_name}>"


def make(op_type: str, *inputs: Output, name: str | None = None, **attrs) -> Node:
    """Create a node of ``op_type`` on ``inputs`` with attributes; infer its outputs."""
    return Node(op_type, inputs, attrs, name=name)


def constant(value, element_type: ElementType | None = None, name: str | None = None) -> Output:
    """Return the output of a new Constant node holding ``value``."""
    array = np.asarray(value)
    if element_type is not None:
        array = array.astype(element_type.numpy)
    node = Node("Constant", [], {"value": array}, name=name)
    return node.output(0)


def parameter(name: str, element_type: ElementType, shape: Shape | None) -> Node:
    """Return a new Parameter (model input) node."""
    node = Node("Parameter", [], {"element_type": element_type, "shape": shape}, name=name)
    node.output_names[0].add(name)
    return node


class Model:
    """A DAG of nodes from ``parameters`` (inputs) to ``results`` (outputs)."""

    def __init__(self, results: Iterable[Node | Output], parameters: Iterable[Node], name: str = "model"):
        self.name = name
        self.parameters: list[Node] = list(parameters)
        self.results: list[Node] = []
        for item in results:
            if isinstance(item, Output):
                item = Node("Result", [item], name=f"{item.name}/result")
            if item.type_name != "Result":
                raise KilnError(f"model {name!r}: result {item.name!r} is a {item.type_name}, not a Result")
            self.results.append(item)
        for param in self.parameters:
            if param.type_name != "Parameter":
                raise KilnError(
                    f"model {name!r}: input {param.name!r} is a {param.type_name}, not a Parameter")
        self.rt_info: dict[str, str] = {}

    # ports
    @property
    def inputs(self) -> list[Output]:
        return [p.output(0) for p in self.parameters]

    @property
    def outputs(self) -> list[Output]:
        return [r.inputs[0] for r in self.results]

    @property
    def input_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def output_names(self) -> list[str]:
        return [output_name(r) for r in self.results]

    def input(self, key: str | int = 0) -> Output:
        """Return the input port by position or name."""
        return self.parameters[self.input_index(key)].output(0)

    def input_index(self, key: str | int) -> int:
        if isinstance(key, int):
            if not 0 <= key < len(self.parameters):
                raise KilnError(f"model {self.name!r} has {len(self.parameters)} inputs, no input {key}")
            return key
        for i, param in enumerate(self.parameters):
            if param.name == key or key in param.output_names[0]:
                return i
        raise KilnError(f"model {self.name!r} has no input {key!r}; inputs are {self.input_names}")

    # traversal
    def ordered_nodes(self) -> list[Node]:
        """Return every node reachable from the results, producers before consumers."""
        order: list[Node] = []
        state: dict[int, int] = {}  # id -> 1 visiting, 2 done
        roots = list(self.results) + list(self.parameters)
        for root in roots:
            if state.get(id(root)) == 2:
                continue
            stack = [(root, iter(root.inputs))]
            state[id(root)] = 1
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    state[id(node)] = 2
                    order.append(node)
                    continue
                child = nxt.node
                mark = state.get(id(child))
                if mark == 1:
                    raise KilnError(f"model {self.name!r}: cycle through node {child.name!r}")
                if mark is None:
                    state[id(child)] = 1
                    stack.append((child, iter(child.inputs)))
        return order

    def consumers(self) -> dict[Output, list[tuple[Node, int]]]:
        """Return, for each port, the (node, input index) pairs that read it."""
        users: dict[Output, list[tuple[Node, int]]] = {}
        for node in self.ordered_nodes():
            for i, port in enumerate(node.inputs):
                users.setdefault(port, []).append((node, i))
        return users

    def node(self, name: str) -> Node:
        for node in self.ordered_nodes():
            if node.name == name:
                return node
        raise KilnError(f"model {self.name!r} has no node {name!r}")

    # shapes
    def reshape(self, shapes: Mapping[str | int, Sequence[int | None]] | Sequence[int | None]) -> Model:
        """Set input shapes (by name or position; one shape for a one-input model) and re-infer.

        Returns ``self`` so calls chain. Raises ShapeInferenceError naming the node
        that rejects the new shapes.
        """
        if not isinstance(shapes, Mapping):
            if len(self.parameters) != 1:
                raise KilnError(f"model {self.name!r} has {len(self.parameters)} inputs: "
                                "reshape() needs a mapping of input name to shape")
            shapes = {0: shapes}
        for key, shape in shapes.items():
            param = self.parameters[self.input_index(key)]
            shape = tuple(None if d is None or (isinstance(d, int) and d < 0) else int(d) for d in shape)
            old = param.attrs["shape"]
            if old is not None and len(old) != len(shape):
                raise ShapeInferenceError(
                    f"input {param.name!r}: rank {len(shape)} given for an input of shape "
                    f"{format_shape(old)}")
            param.attrs["shape"] = shape
        for node in self.ordered_nodes():
            node.infer()
        return self

    def clone(self) -> Model:
        """Return a deep copy of the graph (constant arrays are shared, read-only)."""
        mapping: dict[int, Node] = {}
        for node in self.ordered_nodes():
            copy = Node.__new__(Node)
            copy.op = node.op
            copy.name = node.name
            copy.attrs = dict(node.attrs)
            copy.inputs = [Output(mapping[id(p.node)], p.index) for p in node.inputs]
            copy.output_types = list(node.output_types)
            copy.output_names = [set(n) for n in node.output_names]
            copy.rt_info = dict(node.rt_info)
            mapping[id(node)] = copy
        model = Model([mapping[id(r)] for r in self.results],
                      [mapping[id(p)] for p in self.parameters], name=self.name)
        model.rt_info = dict(self.rt_info)
        return model

    def __repr__(self):
        ins = ", ".join(f"{p.name}: {p.attrs['element_type'].value}{format_shape(p.attrs['shape'])}"
                        for p in self.parameters)
        outs = ", ".join(f"{n}: {o.element_type.value}{format_shape(o.shape)}"
                         for n, o in zip(self.output_names, self.outputs))
        return f"<Model {self.name} ({ins}) -> ({outs}), {len(self.ordered_nodes())} nodes>"


def output_name(result: Node) -> str:
    """Return the user-facing name of a Result: its producer's tensor name, else its own."""
    port = result.inputs[0]
    if port.names:
        return sorted(port.names)[0]
    if result.output_names and result.output_names[0]:
        return sorted(result.output_names[0])[0]
    return port.name
