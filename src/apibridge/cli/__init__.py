"""The ``apibridge`` (and ``kubectl apibridge``) command line: thin click commands over the library.

Commands load manifests through ``apibridge.model``, ask ``apibridge.plan`` and ``apibridge.check``,
and print through ``apibridge.report``; nothing here decides anything about Kube-OVN. Every
command shares one style: ``-o`` for the output format, results on stdout, diagnostics on stderr,
exit 0 (fine), 1 (findings of severity error) or 2 (unusable input, one line, never a traceback).
"""
