"""The pure planner: ``ApiBridge`` intent + cluster -> NAD, Subnet (with ACL fence) and pod mutation.

No I/O here: the CLI renders the plan, the webhook and the operator apply it, the twin builds it on
real OVN. ``planner.plan(cluster)`` is the entry point; ``mutation.pod_mutation`` is what the
webhook, ``inject`` and the twin apply to a pod.
"""
