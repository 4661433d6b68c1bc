"""The ``--netpol-*`` options: one table, each option with an ini twin (``netpol_*``).

:func:`resolve_options` reads and validates them once per process into the frozen
:class:`harness.options.NetpolOptions` (kept in ``config.stash``); a bad value is a
``pytest.UsageError`` naming the option and the fix. A new option is a row in
:data:`_OPTIONS` and a field of NetpolOptions.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import pytest

from harness.images import DEFAULT_IMAGES
from harness.options import NetpolOptions
from harness.scenario.loader import parse_duration
from harness.scenario.yamlload import echo
from harness.scenario.yamlload import escape
from harness.scenario.yamlload import has_lookalikes
from harness.scenario.yamlload import stat_problem

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
OPTIONS_KEY = pytest.StashKey[NetpolOptions]()

# (option, kind, metavar, help); the ini twin is the option name with "-" -> "_".
_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("kubeconfig", "path", "PATH", "kubeconfig of the cluster to test against"),
    ("context", "str", "NAME", "kubeconfig context to use"),
    ("junit", "str", "PATH", "write a JUnit XML report of the cells to PATH"),
    ("report-json", "str", "PATH", "write a machine-readable summary to PATH"),
    ("html", "str", "PATH", "write ONE self-contained HTML report (grids, cell details) to PATH"),
    ("markdown", "str", "PATH", "write a Markdown summary (for pull requests) to PATH"),
    (
        "baseline",
        "path",
        "PREVIOUS.json",
        "list the cells whose observed outcome differs from a previous run's "
        "--netpol-report-json file",
    ),
    (
        "tables",
        "str",
        "auto|all|none",
        "truth tables after the run: auto (scenarios with failures; all under -v), all, none",
    ),
    ("keep", "bool", "", "keep namespaces and pods after the run (for debugging)"),
    ("static", "bool", "", "predict cells from the manifests, without a cluster"),
    ("in-place", "bool", "", "probe the cluster's existing policies; apply no manifests"),
    ("client-image", "str", "IMAGE", f"probe client image (default {DEFAULT_IMAGES.client})"),
    ("server-image", "str", "IMAGE", f"probe server image (default {DEFAULT_IMAGES.server})"),
    ("concurrency", "int", "N", "concurrent exec calls (default 32)"),
    ("connect-timeout", "duration", "DURATION", "override settings.connectTimeout"),
    ("convergence", "duration", "DURATION", "override settings.convergence"),
    ("no-preflight", "bool", "", "skip the cluster preflight checks"),
    (
        "pod-cidr",
        "cidr",
        "CIDR",
        "the cluster's pod network, for ${clusterPodCIDR} in manifests (kind: the podSubnet)",
    ),
    ("parallel-scenarios", "int", "N", "scenarios deployed and probed at once (default 8)"),
    (
        "allow-no-cluster",
        "bool",
        "",
        "without a cluster, skip the live cells (IDE discovery) instead of a usage error",
    ),
    (
        "image-pull-secret",
        "list",
        "NAME",
        "imagePullSecrets of the probe pods (repeatable or a comma list; each Secret must "
        "exist in the probe pods' namespaces)",
    ),
)

#: The fix of a "path" option whose file is missing (by option name; else the kubeconfig's).
KUBECONFIG_FIX = "give the path of a kubeconfig file, e.g. the one `make demo` writes"
_PATH_FIX = {"baseline": "give the JSON summary an earlier run wrote with --netpol-report-json"}

_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _dest(name: str) -> str:
    return "netpol_" + name.replace("-", "_")


def add_options(parser: pytest.Parser) -> None:
    """The options and their ini twins (called by the ``pytest_addoption`` hook)."""
    group = parser.getgroup("netpol", "NetworkPolicy connectivity tests (netpol-harness)")
    for name, kind, metavar, help_text in _OPTIONS:
        dest = _dest(name)
        if kind == "bool":
            group.addoption(
                f"--netpol-{name}", action="store_true", default=None, dest=dest, help=help_text
            )
            parser.addini(dest, help_text, type="bool", default=False)
        elif kind == "list":
            group.addoption(
                f"--netpol-{name}",
                action="append",
                default=None,
                dest=dest,
                metavar=metavar,
                help=help_text,
            )
            parser.addini(dest, help_text, type="string", default="")
        else:
            group.addoption(
                f"--netpol-{name}", default=None, dest=dest, metavar=metavar, help=help_text
            )
            parser.addini(dest, help_text, type="string", default="")


def _raw(config: pytest.Config, name: str) -> tuple[Any, str]:
    """The value of an option and where it came from ("--netpol-x" or "netpol_x (ini)")."""
    dest = _dest(name)
    value = config.getoption(dest, default=None)
    if value is not None:
        return value, f"--netpol-{name}"
    return config.getini(dest), f"{dest} (ini)"


def resolve_options(config: pytest.Config) -> NetpolOptions:
    """Read and validate every netpol option; pytest.UsageError with the fix when wrong."""
    values: dict[str, Any] = {}
    for name, kind, _, _ in _OPTIONS:
        value, origin = _raw(config, name)
        key = name.replace("-", "_")
        if kind == "bool":
            values[key] = bool(value)
            continue
        if kind == "list":
            values[key] = _names(value, origin)
            continue
        text = str(value).strip() if value is not None else ""
        if not text and value is not None and origin.startswith("--") and kind in ("path", "str"):
            # `--netpol-kubeconfig "$KUBECONFIG_PATH"` with the variable unset in CI.
            raise pytest.UsageError(
                f"{origin} is empty (fix: give a value, or leave the option out; an unset "
                "environment variable in a CI job?)"
            )
        if not text:
            continue
        if has_lookalikes(text):
            raise pytest.UsageError(
                f"{origin} {echo(text)} holds control or non-ASCII characters (shown escaped) "
                "(fix: retype the value)"
            )
        if kind == "path":
            path = Path(text).expanduser()
            problem = stat_problem(path)
            if problem == "does not exist":
                problem = "no such file"
            if problem:
                fix = _PATH_FIX.get(name, KUBECONFIG_FIX)
                raise pytest.UsageError(f"{origin} {escape(text[:200])}: {problem} (fix: {fix})")
            try:
                values[key] = str(path.resolve())
            except (OSError, RuntimeError):
                raise pytest.UsageError(
                    f"{origin} {escape(text[:200])}: is a symbolic link loop "
                    "(fix: give the path of a kubeconfig file)"
                ) from None
        elif kind == "int":
            if not re.fullmatch(r"\d{1,5}", text) or not 1 <= int(text) <= 1024:
                raise pytest.UsageError(
                    f"{origin} {echo(text)} is not a number from 1 to 1024 "
                    f"(fix: e.g. {_example(name, origin, '16')})"
                )
            values[key] = int(text)
        elif kind == "cidr":
            try:
                values[key] = str(ipaddress.ip_network(text, strict=True))
            except ValueError:
                raise pytest.UsageError(
                    f"{origin} {echo(text)} is not a network address "
                    f"(fix: e.g. {_example(name, origin, '10.244.0.0/16')}, host bits zero)"
                ) from None
        elif kind == "duration":
            low, high = (0.001, 60.0) if name == "connect-timeout" else (0.0, 3600.0)
            try:
                seconds = parse_duration(text)
            except ValueError:
                seconds = -1.0
            if not low <= seconds <= high:
                raise pytest.UsageError(
                    f"{origin} {echo(text)} is not a duration from {low:g}s to {high:g}s "
                    f"(fix: e.g. {_example(name, origin, '2s')}; units: ms, s, m)"
                )
            values[key] = seconds
        else:
            if any(c.isspace() for c in text):
                raise pytest.UsageError(
                    f"{origin} {echo(text)} must not contain spaces (fix: quote one value)"
                )
            values[key] = text
    preflight = not values.pop("no_preflight", False)
    options = NetpolOptions(**values, preflight=preflight)
    if options.static and options.in_place:
        raise pytest.UsageError(
            "--netpol-static and --netpol-in-place exclude each other "
            "(fix: static predicts the scenario's manifests; in place probes a live cluster)"
        )
    return options


def _names(value: Any, origin: str) -> tuple[str, ...]:
    """A repeatable option or a comma list (ini) as a tuple of Kubernetes object names."""
    parts = value if isinstance(value, list) else [value or ""]
    names: list[str] = []
    for part in parts:
        for name in str(part).split(","):
            name = name.strip()
            if not name:
                continue
            if not _SECRET_NAME.match(name):
                raise pytest.UsageError(
                    f"{origin} {echo(name)} is not a Secret name (fix: lowercase letters, digits, "
                    "'-' and '.', e.g. regcred)"
                )
            if name not in names:
                names.append(name)
    return tuple(names)


def _example(name: str, origin: str, value: str) -> str:
    if origin.endswith("(ini)"):
        return f"{_dest(name)} = {value}"
    return f"--netpol-{name} {value}"


def options_of(config: pytest.Config) -> NetpolOptions:
    return config.stash.get(OPTIONS_KEY, None) or NetpolOptions()


def cluster_configured(options: NetpolOptions, env: Any = None) -> bool:
    """Whether a cluster is configured: options, KUBECONFIG, ~/.kube/config or in-cluster."""
    env = os.environ if env is None else env
    if options.kubeconfig or options.context or env.get("KUBECONFIG"):
        return True
    home = env.get("HOME")
    if home and (Path(home) / ".kube" / "config").is_file():
        return True
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.is_file()
