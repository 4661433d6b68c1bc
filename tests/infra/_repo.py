"""Paths and YAML helpers shared by the static infrastructure tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
WORKFLOWS = ROOT / ".github" / "workflows"
KIND_CONFIG = ROOT / "kind-config.yaml"
SCRIPTS = ROOT / "scripts"


def yaml_files() -> list[Path]:
    """Every YAML file this helper area owns or validates (scenarios are validated elsewhere)."""
    files = sorted(MANIFESTS.rglob("*.yaml")) + sorted(MANIFESTS.rglob("*.yml"))
    files += sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    files.append(KIND_CONFIG)
    return files


def manifest_docs() -> list[tuple[str, int, dict[str, Any]]]:
    """(relative path, document index, object) for every object under manifests/."""
    out: list[tuple[str, int, dict[str, Any]]] = []
    for path in sorted(MANIFESTS.rglob("*.y*ml")):
        with path.open(encoding="utf-8") as fh:
            for index, doc in enumerate(yaml.safe_load_all(fh)):
                if doc is not None:
                    out.append((str(path.relative_to(ROOT)), index, doc))
    return out


def load_all(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]
