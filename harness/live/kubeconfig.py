"""Reading a kubeconfig before the Kubernetes client does: bounded, exact lines, no crash.

The file goes through the harness's hardened YAML loader (size capped before parsing,
exact lines, bounded echoes), then is checked field by field (sections, names, base64
data, the files it names), so the client never meets a file it would crash or stall on
and every problem is one line naming the file, the line and the fix. Pure reading; the
client itself is :mod:`harness.live.cluster`'s business.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any
from typing import TypeVar

from harness.errors import ConfigError
from harness.errors import ScenarioError
from harness.scenario.yamlload import YList
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo
from harness.scenario.yamlload import escape
from harness.scenario.yamlload import load_one
from harness.scenario.yamlload import read_bytes
from harness.scenario.yamlload import stat_problem

FIX = "(fix: pass --netpol-kubeconfig PATH and/or --netpol-context NAME, or set KUBECONFIG)"
FIX_FILE = "(fix: pass the kubeconfig file kind/kubectl wrote)"

_T = TypeVar("_T")


def kubeconfig_files(kubeconfig: str | None) -> tuple[str, str, list[str]]:
    """(the path as given or from KUBECONFIG, the default path, the files to read)."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or ""
    default = os.path.expanduser("~/.kube/config")
    listed = [p for p in path.split(os.pathsep) if p] if path else []
    return path, default, listed or ([default] if os.path.exists(default) else [])


def check_kubeconfig(kubeconfig: str | None) -> tuple[str, str, list[str]]:
    """Read and check every kubeconfig file first; ConfigError (one line each) if broken.

    Returns what :func:`kubeconfig_files` returns, for the client to load.
    """
    path, default, files = kubeconfig_files(kubeconfig)

    def problems(doc: Any, name: str) -> list[str]:
        where = escape(name)
        if doc is None:
            return [f"{where}: the kubeconfig is empty {FIX_FILE}"]
        if not isinstance(doc, YMap):
            what = "a list" if isinstance(doc, list) else "a single value"
            return [f"{where}:1: not a kubeconfig: it is {what}, not a mapping {FIX_FILE}"]
        found: list[str] = []

        def broken(line: int, problem: str) -> None:
            found.append(f"{where}:{line}: {problem} {FIX_FILE}")

        def malformed(line: int, problem: str) -> None:
            broken(line, f"not a kubeconfig: {problem}")

        def optional(obj: YMap, key: str, kind: type[_T], problem: str) -> _T | None:
            """``obj[key]`` if it is a ``kind``; else None (``problem`` found when it is set)."""
            value = obj.get(key)
            if value is not None and not isinstance(value, kind):
                malformed(obj.value_line(key), problem)
                return None
            return value

        names: dict[str, set[str]] = {}
        for section, inner in (
            ("clusters", "cluster"),
            ("contexts", "context"),
            ("users", "user"),
        ):
            names[section] = set()
            items = optional(doc, section, YList, f"{section} must be a list of named entries")
            if items is None:
                continue
            for k, item in enumerate(items):
                if not isinstance(item, YMap) or not isinstance(item.get("name"), str):
                    malformed(items.item_line(k), f"{section}[{k}] must be a mapping with a name")
                    continue
                names[section].add(item["name"])
                body = optional(item, inner, YMap, f"{section}[{k}].{inner} must be a mapping")
                if body is None:
                    continue
                for key, value in body.items():
                    line = body.value_line(key)
                    if key.endswith("-data") if isinstance(key, str) else False:
                        try:
                            base64.b64decode("".join(str(value).split()), validate=True)
                        except (binascii.Error, ValueError):
                            found.append(
                                f"{where}:{line}: {section}[{k}].{inner}.{key} is not valid "
                                "base64 (fix: paste the value base64-encoded on one line, "
                                "e.g. from `base64 -w0 FILE`)"
                            )
                    elif key in (
                        "server",
                        "token",
                        "tokenFile",
                        "certificate-authority",
                        "client-certificate",
                        "client-key",
                        "cluster",
                        "user",
                        "namespace",
                    ) and not isinstance(value, str):
                        broken(line, f"{section}[{k}].{inner}.{key} must be a string")
                    elif key in (
                        "tokenFile",
                        "certificate-authority",
                        "client-certificate",
                        "client-key",
                    ):
                        target = Path(value)
                        if not target.is_absolute():
                            target = Path(name).resolve().parent / target
                        problem = stat_problem(target)
                        if problem:
                            found.append(
                                f"{where}:{line}: the {key} {echo(value)} named by "
                                f"{section}[{k}] {problem} (fix: point {key} at the file, "
                                "relative to the kubeconfig)"
                            )
        current = doc.get("current-context")
        if current is not None and not isinstance(current, str):
            broken(doc.value_line("current-context"), "current-context must be a string")
        return found

    for name in files:
        problem = stat_problem(Path(name))
        if problem == "does not exist" and len(files) > 1:
            continue  # KUBECONFIG lists may name missing files (kubectl skips them)
        if problem:
            raise ConfigError(f"cannot read kubeconfig {escape(name)}: it {problem} {FIX}")
        try:
            data = read_bytes(Path(name), name)
            doc = load_one(data, name, what="a kubeconfig")
        except ScenarioError as exc:
            text = exc.message
            where = f"{escape(name)}:{exc.line}" if exc.line else escape(name)
            if text.startswith("not UTF-8"):
                raise ConfigError(f"{where}: not a kubeconfig ({text}) {FIX_FILE}") from None
            if "larger than" in text:
                raise ConfigError(
                    f"{escape(name)}: not a kubeconfig: {text} (fix: pass the kubeconfig "
                    "kind/kubectl wrote; real ones are a few KiB)"
                ) from None
            raise ConfigError(
                f"{where}: the kubeconfig is not valid YAML ({text}) (fix: "
                f"{exc.fix or 'pass the kubeconfig file kind/kubectl wrote'})"
            ) from None
        found = problems(doc, name)
        if found:
            raise ConfigError("\n".join(found[:20]))
    return path, default, files
