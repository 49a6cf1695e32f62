"""Helpers around the model: image/coordinate transforms."""
