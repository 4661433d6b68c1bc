"""The sandbox's own error types (it shares no code with the harness).

A command of ``netpol-harness sandbox`` that fails on purpose raises one of these;
:func:`netpol_sandbox.cli.run` prints ``str(error)`` as one line and exits 2, the same
contract as the harness's own commands.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base class of every error the sandbox raises on purpose."""


class ConfigError(SandboxError):
    """Bad options, knob files or state directories."""


class ClusterError(SandboxError):
    """The sandbox cluster could not be started or reached."""
