"""Process logging: one JSON line per event in production, readable on a terminal, and
never a frame's local variables (they hold raw API keys, provider keys, webhook secrets).

Everything goes through one stdlib handler: structlog events and foreign records (uvicorn,
asyncio, httpx) are rendered by the same formatter, so no library can print locals either.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO
from urllib.parse import urlsplit, urlunsplit

import structlog
from structlog.typing import Processor

LogFormat = Literal["auto", "json", "console"]

# Loggers that print credential-bearing data below WARNING: httpx logs every request's full
# URL at INFO (presigned URLs, webhook ?token=, provider polling URLs); httpcore traces
# connections; aiosqlite and sqlalchemy.engine log SQL parameters (whsec_ secrets, key
# hashes) at DEBUG. They stay at WARNING whatever IMAGINE_LOG_LEVEL says.
QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "hpack",
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "urllib3",
    "redis",
    # Alembic narrates every migration step at INFO; only problems matter at startup.
    "alembic",
)

# Set on the handler configure_logging installs: the levels it replaced (for unconfigure).
_HANDLER_MARK = "_imagine_previous_levels"


def redact_url(url: object) -> str:
    """`url` without userinfo, query string or fragment: safe to log.

    Presigned URLs, webhook URLs and provider polling URLs carry their credentials there.
    """
    text = str(url)
    if text.startswith("data:"):
        return "data:…"
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable url>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _AccessLogRedactor(logging.Filter):
    """Drops the query string from uvicorn's access log lines (it may carry tokens)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access: (client_addr, method, full_path, http_version, status_code)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, _ = args[2].partition("?")
            record.args = (args[0], args[1], path, args[3], args[4])
        return True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def resolve_json(log_format: LogFormat, stream: TextIO | None = None) -> bool:
    """Whether `log_format` means JSON lines: `auto` is JSON unless the stream is a terminal."""
    if log_format == "auto":
        return not _isatty(stream or sys.stderr)
    return log_format == "json"


def _renderer(as_json: bool, colors: bool) -> list[Processor]:
    if as_json:
        # format_exc_info renders the traceback as plain text (traceback module): no locals.
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    exception_formatter = structlog.dev.RichTracebackFormatter(
        show_locals=False, color_system="truecolor" if colors else None
    )
    return [structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=exception_formatter)]


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Route structlog and stdlib logging to `stream` (stderr) at `level`; returns the handler.

    `json=None` picks JSON lines unless `stream` is a terminal. Tracebacks never show locals.
    Calling it again replaces the handler it installed before (and nothing else).
    """
    out = stream if stream is not None else sys.stderr
    as_json = (not _isatty(out)) if json is None else json
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_renderer(as_json, colors=not as_json and _isatty(out)),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    previous = {"": root.level} | {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for old in [h for h in root.handlers if hasattr(h, _HANDLER_MARK)]:
        root.removeHandler(old)
        previous = getattr(old, _HANDLER_MARK)
    setattr(handler, _HANDLER_MARK, previous)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric))
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _AccessLogRedactor) for f in access.filters):
        access.addFilter(_AccessLogRedactor())
    return handler


def unconfigure_logging(handler: logging.Handler) -> None:
    """Undo `configure_logging` (tests): remove its handler, restore levels and structlog."""
    logging.getLogger().removeHandler(handler)
    for name, level in getattr(handler, _HANDLER_MARK, {}).items():
        logging.getLogger(name).setLevel(level)
    structlog.reset_defaults()
