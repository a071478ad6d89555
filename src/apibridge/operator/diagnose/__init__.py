"""``apibridge doctor``: what a live cluster says about the install (``install``: CRD, webhook, certificates,
leadership, every bridge's objects) and about one pod or workload's chain (``doctor``). Read-only: it
uses the operator's API readers (``apibridge.operator.kube``) and never writes.
"""
