"""AUTO: pick one device for the whole model."""
