"""Segmenters behind one interface, and the embedding cache. No Qt here."""
