"""Probes: per-kind scripts, output parsing and verdict rules behind one table."""
