"""Device plugins (CPU, GPU, VPU, HETERO, AUTO), found by the runtime through a registry."""
