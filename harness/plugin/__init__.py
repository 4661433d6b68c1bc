"""The pytest plugin (registered as ``harness.plugin.hooks`` through the ``pytest11`` entry point)."""
