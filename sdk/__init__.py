"""Kiln: convert, optimize, quantize and deploy models on CPU, GPU and the Kiln VPU."""
