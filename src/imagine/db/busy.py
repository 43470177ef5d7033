"""Which database errors mean "busy, retry shortly" (a 503), not a bug (a 500)."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLite's answers once its busy timeout ran out (another process kept the lock).
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def database_busy(exc: BaseException) -> bool:
    """True for an exhausted pool or a lock that stayed taken past its timeout."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, OperationalError):
        message = str(exc.orig).lower()
        return any(marker in message for marker in _SQLITE_BUSY)
    return False
