"""The mutating admission webhook: gives selected pods their API attachment as they are created.

``mutate.admit`` decides one AdmissionReview from an in-memory ``snapshot.Snapshot`` (a ``Cluster``
and its ``Plan``) — the same decision ``apibridge inject`` makes, so the webhook and the CLI never
disagree; ``patch`` spells it as an RFC 6902 patch of our annotation keys only; ``server`` serves it
over TLS (``tls`` reloads rotated certificates) with metrics (``metrics``); ``snapshot.StaticSource``
and ``watch.WatchSource`` keep the snapshot fed from files or from the API server.
"""

from __future__ import annotations

from apibridge.admission.mutate import ReviewAnswer, admit
from apibridge.admission.patch import annotation_patch, escape
from apibridge.admission.server import MUTATE_PATH, ServerConfig, WebhookServer
from apibridge.admission.snapshot import Snapshot, SnapshotSource, StaticSource
from apibridge.admission.tls import ReloadingContext
from apibridge.admission.watch import WatchSource

__all__ = [
    "MUTATE_PATH",
    "ReloadingContext",
    "ReviewAnswer",
    "ServerConfig",
    "Snapshot",
    "SnapshotSource",
    "StaticSource",
    "WatchSource",
    "WebhookServer",
    "admit",
    "annotation_patch",
    "escape",
]
