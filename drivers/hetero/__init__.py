"""HETERO: split a model into device subgraphs and chain them."""
