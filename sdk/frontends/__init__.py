"""Model frontends: each turns a file format into a kiln.ir.Model."""
