"""The pytest plugin, registered as ``harness.plugin.hooks`` (the ``pytest11`` entry point)."""
