"""What a running twin proves and shows: ``verify`` (intent vs. real probes), ``trace``, ``graph``."""
