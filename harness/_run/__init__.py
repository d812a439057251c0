"""Execution machinery (private): runner, cache, journal, progress, the run pipeline."""
