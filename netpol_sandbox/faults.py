"""Knobs of the sandbox: real-cluster timing, injected failures and the transport, from a
TOML/JSON file or flags.

The timing knobs are on by default with realistic values (a real cluster is never instant):
each is a range ``MIN,MAX`` of seconds (one number = exactly that), drawn at random per
namespace or pod. Faults only ever hit API requests from clients (never the sandbox's own
work); /version, discovery and /openapi are exempt from the 429/500 knobs so clients can
start.
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
_SECONDS = ("exec_latency", "crash_after")
#: (min, max) seconds, drawn uniformly per namespace / pod
_RANGES = ("service_account_delay", "pod_start_delay", "policy_delay")
_PATTERNS = ("never_pull", "crash_pods")
_BOOLS = ("enforce", "ephemeral_forbidden", "insecure_http", "deployment_controller")

Range = tuple[float, float]

_RANGE_HELP = {
    "service_account_delay": "seconds until a new namespace's default ServiceAccount exists "
    "(until then pod creation there is 403 Forbidden); default 0.5,1.5",
    "pod_start_delay": "seconds from a pod's creation until its containers start, "
    "before readiness; default 1,2",
    "policy_delay": "seconds until a NetworkPolicy change takes effect, drawn per affected "
    "pod (each node/pod is programmed in its own time); default 0,1",
}


def _as_range(value: Any) -> Range:
    if isinstance(value, tuple | list) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    return (float(value), float(value))


@dataclass(frozen=True)
class Faults:
    enforce: bool = True
    #: A new namespace's ``default`` ServiceAccount appears after this (per namespace).
    service_account_delay: Range = (0.5, 1.5)
    #: Creation to containers started (per pod); readiness follows.
    pod_start_delay: Range = (1.0, 2.0)
    #: A NetworkPolicy change reaches each affected pod's rules after its own delay.
    policy_delay: Range = (0.0, 1.0)
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
    #: Serve plain HTTP, no TLS, and take requests without a token as the admin (debugging).
    insecure_http: bool = False
    #: Deployments and ReplicaSets create and keep their pods (off: stored objects only).
    deployment_controller: bool = True
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in _RANGES:  # Faults(pod_start_delay=0.5) means exactly 0.5 s
            object.__setattr__(self, name, _as_range(getattr(self, name)))

    def rng(self) -> random.Random:
        return random.Random(self.seed)

    @staticmethod
    def draw(rng: random.Random, delay: Range) -> float:
        """A delay from the range ``delay`` (the minimum when it is a single value)."""
        low, high = delay
        return low if high <= low else rng.uniform(low, high)

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
        for name in _PATTERNS + _RANGES:
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

    if name in _BOOLS:
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
    if name in _RANGES:
        return _coerce_range(value, bad)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad("must be a number")
    number = float(value)
    if name in _FRACTIONS and not 0.0 <= number <= 1.0:
        raise bad("must be a fraction between 0 and 1")
    if name in _SECONDS and number < 0:
        raise bad("must be zero or more seconds")
    return number


def _coerce_range(value: Any, bad: Any) -> Range:
    """``1.5``, ``"1,2"`` or ``[1, 2]`` -> (min, max) seconds."""
    parts: list[Any]
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            parts = [float(p) for p in parts]
        except ValueError:
            raise bad("must be seconds or MIN,MAX seconds") from None
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        parts = [value]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or any(isinstance(p, bool) or not isinstance(p, int | float) for p in parts):
        raise bad("must be seconds or MIN,MAX seconds")
    low, high = float(parts[0]), float(parts[1])
    if low < 0 or high < 0:
        raise bad("must be zero or more seconds")
    if high < low:
        raise bad("must have MIN <= MAX")
    return (low, high)


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
    for name in _RANGES:
        group.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            metavar="S|MIN,MAX",
            help=_RANGE_HELP[name],
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
    group.add_argument(
        "--insecure-http",
        dest="insecure_http",
        action="store_const",
        const=True,
        help="serve plain HTTP without TLS; requests without a token act as the admin "
        "(debugging only; default: HTTPS with its own CA and bearer-token auth)",
    )
    group.add_argument(
        "--no-deployment-controller",
        dest="deployment_controller",
        action="store_const",
        const=False,
        help="store Deployments and ReplicaSets without creating their pods "
        "(default: they create pod-template-hash ReplicaSets and pods, scale, cascade)",
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
