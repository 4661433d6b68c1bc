"""Decoding the Kubernetes protobuf envelope for the few bodies kubectl sends as protobuf
(``kubectl create namespace|configmap|serviceaccount``): typed clients use protobuf and do not
fall back to JSON. Only the fields those commands set are known; others are skipped."""

from __future__ import annotations

from typing import Any

from netpol_sandbox.apierror import ApiError

MAGIC = b"k8s\x00"

# field number -> (name, type); types: "str", "int", "bool", "map", "strs", or a schema dict
Schema = dict[int, tuple[str, Any]]

OBJECT_META: Schema = {
    1: ("name", "str"),
    2: ("generateName", "str"),
    3: ("namespace", "str"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
    14: ("finalizers", "strs"),
}
SCHEMAS: dict[str, Schema] = {
    "Namespace": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", "strs")})},
    "ConfigMap": {1: ("metadata", OBJECT_META), 2: ("data", "map"), 4: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", OBJECT_META), 4: ("automountServiceAccountToken", "bool")},
}
TYPE_META: Schema = {1: ("apiVersion", "str"), 2: ("kind", "str")}
UNKNOWN: Schema = {1: ("typeMeta", TYPE_META), 2: ("raw", "bytes")}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _decode(data: bytes, schema: Schema) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, dict):
            obj[name] = _decode(bytes(value), kind)
        elif kind == "str":
            if value:
                obj[name] = bytes(value).decode()
        elif kind == "bytes":
            obj[name] = bytes(value)
        elif kind == "int":
            obj[name] = value
        elif kind == "bool":
            obj[name] = bool(value)
        elif kind == "strs":
            obj.setdefault(name, []).append(bytes(value).decode())
        elif kind == "map":
            entry = _decode(bytes(value), {1: ("k", "str"), 2: ("v", "str")})
            obj.setdefault(name, {})[entry.get("k", "")] = entry.get("v", "")
    return obj


def decode(body: bytes) -> dict[str, Any]:
    """A JSON-shaped object from a ``application/vnd.kubernetes.protobuf`` body."""
    if not body.startswith(MAGIC):
        raise ApiError.bad_request("the protobuf body lacks the k8s envelope")
    try:
        envelope = _decode(body[len(MAGIC) :], UNKNOWN)
        type_meta = envelope.get("typeMeta") or {}
        kind = type_meta.get("kind", "")
        schema = SCHEMAS.get(kind)
        if schema is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the sandbox cannot decode {kind or 'this object'} from protobuf: send JSON",
            )
        obj = _decode(envelope.get("raw", b""), schema)
    except ValueError as exc:
        raise ApiError.bad_request(f"the protobuf body could not be decoded: {exc}") from exc
    obj["apiVersion"] = type_meta.get("apiVersion", "v1")
    obj["kind"] = kind
    return obj
