"""Reports of a run: the typed summary, JUnit, JSON and truth tables."""
