"""imagine: a self-hostable image-editing API serving the imagine HTTP contract."""

__version__ = "0.1.0"
