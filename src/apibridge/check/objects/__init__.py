"""The validator's examinations, one module per kind of object or concern: Subnets, NADs, pods and their
attachments and routes, bridges, NetworkPolicies and admin policies, tenancy, unreached intents.

Each returns ``Finding``s (``apibridge.check.findings``); ``apibridge.check.validator`` runs them in order
over one index (``apibridge.check.index``). The package's top level keeps what they share: the finding
codes, the index, interval arithmetic, the intent and the plan's verdict.
"""
