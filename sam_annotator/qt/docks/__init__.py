"""Dock widgets around the canvas."""
