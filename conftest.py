"""Root conftest: lets ``pytest scenarios/`` run this repository's own scenarios.

The netpol plugin itself is registered through the ``pytest11`` entry point of
the installed package (``netpol = "harness.plugin.hooks"``); nothing else is needed here.
"""
