"""The operator's name for the one client stack, ``apibridge.base.kubeclient`` (the webhook's watch uses it too).

Kept so that code written against ``apibridge.operator.client`` (the in-cluster tests) keeps working while
it moves to ``apibridge.base.kubeclient``.
"""

from __future__ import annotations

from apibridge.base.kubeclient import (
    JSON_PATCH,
    MERGE_PATCH,
    AlreadyExistsError,
    ApiError,
    Client,
    ConflictError,
    GoneError,
    KubeConfig,
    NotFoundError,
    UnreachableError,
)

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH",
    "AlreadyExistsError",
    "ApiError",
    "Client",
    "ConflictError",
    "GoneError",
    "KubeConfig",
    "NotFoundError",
    "UnreachableError",
]
