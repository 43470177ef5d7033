"""Output objects: the store, the /files route and expiry."""
