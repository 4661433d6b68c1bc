"""Shared fixtures of the harness's own test suite."""

from __future__ import annotations

pytest_plugins = ["pytester"]
