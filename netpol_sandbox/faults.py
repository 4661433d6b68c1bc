"""Fault knobs of the sandbox: delays and injected failures, from a TOML/JSON file or flags.

Faults only ever hit API requests from clients (never the sandbox's own work); /version,
discovery and /openapi are exempt from the 429/500 knobs so clients can start.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import tomllib
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import fields
from dataclasses import replace
from pathlib import Path
from typing import Any

from netpol_sandbox.errors import ConfigError

_FRACTIONS = ("exec_upgrade_failure", "exec_lost_status", "api_429", "api_500")
_SECONDS = ("pod_start_delay", "policy_delay", "exec_latency", "crash_after")
_PATTERNS = ("never_pull", "crash_pods")


@dataclass(frozen=True)
class Faults:
    enforce: bool = True
    pod_start_delay: float = 0.5
    policy_delay: float = 0.3
    exec_latency: float = 0.0
    exec_upgrade_failure: float = 0.0
    exec_lost_status: float = 0.0
    api_429: float = 0.0
    api_500: float = 0.0
    never_pull: tuple[str, ...] = ()
    #: Seconds after a pod matching ``crash_pods`` became Ready when its containers are
    #: killed for good (CrashLoopBackOff, never Ready again); 0 = off.
    crash_after: float = 0.0
    #: ``namespace/name`` patterns of the pods ``crash_after`` kills.
    crash_pods: tuple[str, ...] = ()
    #: Refuse every ephemeral container (403, as an admission webhook would).
    ephemeral_forbidden: bool = False
    seed: int | None = None

    def rng(self) -> random.Random:
        return random.Random(self.seed)

    def never_pulls(self, image: str) -> bool:
        return any(fnmatch.fnmatchcase(image, pattern) for pattern in self.never_pull)

    def crashes(self, namespace: str, name: str) -> bool:
        """Whether the pod ``namespace/name`` is one ``crash_after`` kills."""
        if self.crash_after <= 0:
            return False
        key = f"{namespace}/{name}"
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.crash_pods)

    def to_json(self) -> str:
        data = asdict(self)
        for name in _PATTERNS:
            data[name] = list(data[name])
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "faults") -> Faults:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(
                    f"{source}: unknown fault knob {key!r} "
                    f"(fix: use one of {', '.join(sorted(known))})"
                )
            values[name] = _coerce(name, value, source)
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> Faults:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the faults file: {exc.strerror}") from exc
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: must hold a table of fault knobs")
        return cls.from_mapping(data, str(path))


def _coerce(name: str, value: Any, source: str) -> Any:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{source}: fault knob {name}={value!r} {why}")

    if name in ("enforce", "ephemeral_forbidden"):
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if name in _PATTERNS:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise bad("must be a list of patterns")
        return tuple(value)
    if name == "seed":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("must be an integer")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad("must be a number")
    number = float(value)
    if name in _FRACTIONS and not 0.0 <= number <= 1.0:
        raise bad("must be a fraction between 0 and 1")
    if name in _SECONDS and number < 0:
        raise bad("must be zero or more seconds")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The fault flags (``--api-429 0.1`` ...) shared by the CLI and the daemon."""
    group = parser.add_argument_group("faults")
    group.add_argument(
        "--faults", type=Path, metavar="FILE", help="TOML or JSON file of fault knobs"
    )
    group.add_argument(
        "--no-enforce",
        dest="enforce",
        action="store_const",
        const=False,
        help="act like a CNI that ignores NetworkPolicy",
    )
    for name in _SECONDS + _FRACTIONS:
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float, metavar="N")
    group.add_argument(
        "--never-pull",
        dest="never_pull",
        action="append",
        metavar="PATTERN",
        help="image pattern that fails to pull (repeatable)",
    )
    group.add_argument(
        "--crash-pod",
        dest="crash_pods",
        action="append",
        metavar="NAMESPACE/NAME",
        help="pod pattern whose containers --crash-after kills (repeatable)",
    )
    group.add_argument(
        "--ephemeral-forbidden",
        dest="ephemeral_forbidden",
        action="store_const",
        const=True,
        help="refuse ephemeral containers (403), as a restrictive admission policy does",
    )
    group.add_argument("--seed", dest="seed", type=int, metavar="N")


def from_args(args: argparse.Namespace) -> Faults:
    """The file (if any) overridden by the flags given."""
    base = Faults.load(args.faults) if getattr(args, "faults", None) else Faults()
    overrides: dict[str, Any] = {}
    for field in fields(Faults):
        value = getattr(args, field.name, None)
        if value is not None:
            overrides[field.name] = value
    if not overrides:
        return base
    checked = Faults.from_mapping(overrides, "command line")
    return replace(base, **{name: getattr(checked, name) for name in overrides})
