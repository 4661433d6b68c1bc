"""API errors as the Kubernetes API server reports them: a ``Status`` body and an HTTP code."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer of the sandbox API: turned into a ``Status`` object by the server."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        """The ``Status`` body for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, resource: str, name: str, group: str = "") -> ApiError:
        what = f"{resource}.{group}" if group else resource
        return cls(
            404,
            "NotFound",
            f'{what} "{name}" not found',
            {"name": name, "group": group, "kind": resource}
            if group
            else {"name": name, "kind": resource},
        )

    @classmethod
    def already_exists(cls, resource: str, name: str, group: str = "") -> ApiError:
        what = f"{resource}.{group}" if group else resource
        details: dict[str, Any] = {"name": name, "kind": resource}
        if group:
            details["group"] = group
        return cls(409, "AlreadyExists", f'{what} "{name}" already exists', details)

    @classmethod
    def conflict(cls, resource: str, name: str, group: str = "") -> ApiError:
        what = f"{resource}.{group}" if group else resource
        details: dict[str, Any] = {"name": name, "kind": resource}
        if group:
            details["group"] = group
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            details,
        )

    @classmethod
    def invalid(
        cls, kind: str, name: str, causes: list[tuple[str, str, str]], group: str = ""
    ) -> ApiError:
        """422; ``causes`` are (reason, field, message) such as ("FieldValueRequired", ...)."""
        text = "; ".join(f"{field}: {message}" for _, field, message in causes)
        if len(causes) > 1:
            text = "[" + ", ".join(f"{field}: {message}" for _, field, message in causes) + "]"
        details: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "causes": [
                {"reason": reason, "message": message, "field": field}
                for reason, field, message in causes
            ],
        }
        if group:
            details["group"] = group
        return cls(422, "Invalid", f'{kind} "{name}" is invalid: {text}', details)

    @classmethod
    def forbidden(cls, message: str, resource: str = "", name: str = "") -> ApiError:
        details: dict[str, Any] | None = None
        if resource:
            details = {"kind": resource}
            if name:
                details["name"] = name
        return cls(403, "Forbidden", message, details)

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def method_not_allowed(cls) -> ApiError:
        return cls(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
