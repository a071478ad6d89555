"""The operator as a process: Lease leader election (``leader``), the kopf run while leading (``runner``),
probes and Prometheus metrics on their own ports (``serve``, ``metrics``). The reconcile logic itself
lives one level up and does not know how it is run.
"""
