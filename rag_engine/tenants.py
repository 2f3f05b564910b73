"""Tenant ids are validated here, at the engine's boundary, before any SQL runs."""

import re

from .errors import InvalidTenantError

TENANT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def validate_tenant(tenant_id: object) -> str:
    """Return ``tenant_id`` if it is a well-formed tenant id, else raise InvalidTenantError."""
    if not isinstance(tenant_id, str) or not TENANT_ID_PATTERN.fullmatch(tenant_id):
        raise InvalidTenantError(
            f"Invalid tenant id {tenant_id!r}: use 1-64 characters of lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit."
        )
    return tenant_id
