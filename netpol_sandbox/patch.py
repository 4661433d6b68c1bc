"""Patch semantics: JSON merge patch (RFC 7386), a small strategic merge patch, JSON patch
(RFC 6902) and the field-removal step of server-side apply."""

from __future__ import annotations

import copy
from typing import Any

from netpol_sandbox.apierror import ApiError

#: list fields that strategic merge patch merges by a key instead of replacing
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """Merge patch plus: ``$``-directives dropped, known lists merged by their key."""
    if isinstance(patch, list):
        key = MERGE_KEYS.get(field)
        if key is None or not isinstance(target, list):
            return [_strip_directives(item) for item in patch]
        merged = [copy.deepcopy(item) for item in target]
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                continue
            index = next(
                (
                    i
                    for i, old in enumerate(merged)
                    if isinstance(old, dict) and old.get(key) == item[key]
                ),
                None,
            )
            if item.get("$patch") == "delete":
                if index is not None:
                    del merged[index]
            elif index is None:
                merged.append(_strip_directives(item))
            else:
                merged[index] = strategic_merge_patch(merged[index], item)
        return merged
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip_directives(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if name.startswith("$"):
            continue
        if value is None:
            result.pop(name, None)
        else:
            result[name] = strategic_merge_patch(result.get(name), value, name)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ApiError(422, "Invalid", f"path {'/'.join(parts)!r} does not exist")
    return node, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ApiError(422, "Invalid", f"path /{'/'.join(parts)} does not exist")
    return node


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise ApiError.bad_request("a JSON patch must be a list of operations")
    result = copy.deepcopy(doc)
    try:
        for op in operations:
            kind = op.get("op")
            parts = _pointer(op.get("path", ""))
            if kind == "test":
                if _get(result, parts) != op.get("value"):
                    raise ApiError(422, "Invalid", f"test operation failed at {op.get('path')}")
                continue
            if kind in ("move", "copy"):
                value = copy.deepcopy(_get(result, _pointer(op.get("from", ""))))
                if kind == "move":
                    result = _remove(result, _pointer(op.get("from", "")))
                result = _add(result, parts, value)
            elif kind == "add":
                result = _add(result, parts, copy.deepcopy(op.get("value")))
            elif kind == "remove":
                result = _remove(result, parts)
            elif kind == "replace":
                _get(result, parts)
                result = _remove(result, parts)
                result = _add(result, parts, copy.deepcopy(op.get("value")))
            else:
                raise ApiError.bad_request(f"unknown JSON patch operation {kind!r}")
    except (IndexError, ValueError, TypeError, AttributeError) as exc:
        raise ApiError(422, "Invalid", f"the JSON patch could not be applied: {exc}") from exc
    return result


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            parent.insert(int(last), value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent, last = _parent(doc, parts)
    if isinstance(parent, list):
        del parent[int(last)]
    elif last in parent:
        del parent[last]
    else:
        raise ApiError(422, "Invalid", f"path /{'/'.join(parts)} does not exist")
    return doc


def remove_unapplied(current: Any, previous: Any, applied: Any) -> Any:
    """Server-side apply: drop from ``current`` what ``previous`` (this manager's last applied
    configuration) set and ``applied`` (its new one) no longer sets."""
    if not isinstance(current, dict) or not isinstance(previous, dict):
        return current
    result = dict(current)
    applied_map = applied if isinstance(applied, dict) else {}
    for key, old in previous.items():
        if key not in applied_map:
            result.pop(key, None)
        elif isinstance(old, dict) and key in result:
            result[key] = remove_unapplied(result[key], old, applied_map[key])
    return result
