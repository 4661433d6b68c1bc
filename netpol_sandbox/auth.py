"""Bearer-token authentication and a small RBAC: each token maps to a user and, unless it is
an admin, a list of allowed (verbs, apiGroups, resources) rules.

RBAC file (JSON): {"tokens": {"TOKEN": {"user": "system:serviceaccount:ci:netpol",
  "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/exec"]}]}}}
A token entry without "rules" is an admin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netpol_sandbox.apierror import ApiError
from netpol_sandbox.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]

    def allows(self, verb: str, group: str, resource: str) -> bool:
        return (
            ("*" in self.verbs or verb in self.verbs)
            and ("*" in self.api_groups or group in self.api_groups)
            and ("*" in self.resources or resource in self.resources)
        )


@dataclass(frozen=True)
class Principal:
    user: str
    rules: tuple[Rule, ...] | None  # None: may do anything

    def allows(self, verb: str, group: str, resource: str) -> bool:
        if self.rules is None:
            return True
        return any(rule.allows(verb, group, resource) for rule in self.rules)


#: A request without credentials over TLS, as kube-apiserver's default --anonymous-auth=true
#: makes it: authenticated as system:anonymous, allowed only /version and the health checks
#: (system:public-info-viewer), so anything else is 403 Forbidden (a wrong token is 401).
ANONYMOUS = Principal("system:anonymous", ())
#: With --insecure-http (debugging): a request without credentials acts as the admin.
ANONYMOUS_ADMIN = Principal("system:anonymous-admin", None)


@dataclass(frozen=True)
class Authenticator:
    """``anonymous`` answers requests without credentials (:data:`ANONYMOUS` over TLS,
    :data:`ANONYMOUS_ADMIN` with ``--insecure-http``); a wrong token is always 401."""

    tokens: dict[str, Principal]
    anonymous: Principal | None = ANONYMOUS_ADMIN

    def principal(self, header: str | None) -> Principal:
        if not header and self.anonymous is not None:
            return self.anonymous
        token = ""
        if header and header.lower().startswith("bearer "):
            token = header[7:].strip()
        principal = self.tokens.get(token)
        if principal is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return principal

    @classmethod
    def admin_only(cls, token: str, *, tls: bool = False) -> Authenticator:
        """Only the kubeconfig's admin token; requests without one are :data:`ANONYMOUS`
        (``tls``) or :data:`ANONYMOUS_ADMIN` (plain HTTP)."""
        return cls(
            {token: Principal("kubernetes-admin", None)}, ANONYMOUS if tls else ANONYMOUS_ADMIN
        )

    def with_file(self, path: Path) -> Authenticator:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the RBAC file: {exc}") from exc
        tokens = dict(self.tokens)
        entries = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise ConfigError(
                f'{path}: must hold {{"tokens": {{TOKEN: {{"user": ..., "rules": [...]}}}}}}'
            )
        for token, entry in entries.items():
            tokens[token] = _principal(entry, path)
        return Authenticator(tokens, self.anonymous)


def _principal(entry: Any, path: Path) -> Principal:
    if not isinstance(entry, dict) or not isinstance(entry.get("user"), str):
        raise ConfigError(f'{path}: each token needs a "user" string')
    rules = entry.get("rules")
    if rules is None:
        return Principal(entry["user"], None)
    parsed = []
    for rule in rules:
        try:
            parsed.append(
                Rule(
                    tuple(rule["verbs"]),
                    tuple(rule.get("apiGroups", [""])),
                    tuple(rule["resources"]),
                )
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f'{path}: a rule needs "verbs" and "resources" lists ({exc})'
            ) from exc
    return Principal(entry["user"], tuple(parsed))


def forbidden(
    principal: Principal, verb: str, group: str, resource: str, namespace: str | None, name: str
) -> ApiError:
    """The API server's RBAC denial, e.g. ``pods is forbidden: User "u" cannot create ...``."""
    base = resource.split("/")[0]
    subject = f'{base} "{name}"' if name else base
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError.forbidden(
        f'{subject} is forbidden: User "{principal.user}" cannot {verb} resource "{resource}" '
        f'in API group "{group}" {scope}',
        base,
        name,
    )
