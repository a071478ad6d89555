"""Output for people and for pipes: every command formats through here, so all of them look alike.

``console`` makes the rich consoles (colour on a terminal, plain text when piped, results on stdout
and diagnostics on stderr), ``manifests`` dumps Kubernetes documents as YAML or JSON that
``kubectl apply -f -`` accepts and a reviewer can read, ``findings`` shows validator findings and the
model's assumptions as text or in the stable machine-readable shape, and ``lab`` shows the OVN
twin's reports (``lab up``, ``verify``, ``trace``, ``status``, the demo).
"""
