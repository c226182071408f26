"""Log lines that carry the request id and cannot be forged with line breaks.

asgi-correlation-id's middleware keeps each request's id in a context variable; its filter copies
the id onto every record as `correlation_id` ("-" outside a request). Auth events carry an
`event` attribute (`login.failed`, `refresh.reused`, ...) that JSON lines show as a field, so a
log pipeline can alert on them without parsing messages.
"""

import json
import logging
import sys

from asgi_correlation_id import CorrelationIdFilter

LOG_FORMAT = "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"
HANDLER_NAME = "app"
# Ours, and the request-id middleware's (it warns when it replaces an unsafe incoming id).
LOGGERS = ("app", "asgi_correlation_id")


class EscapingFormatter(logging.Formatter):
    """Escapes CR and LF in the message, so a user-supplied value cannot start a fake log line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's API)
        record.message = record.message.replace("\r", "\\r").replace("\n", "\\n")
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log collectors; JSON escapes line breaks by itself."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "correlation_id", "-"),
            "message": record.getMessage(),
        }
        if event := getattr(record, "event", None):
            entry["event"] = event
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, *, json_lines: bool = False) -> None:
    """Send the LOGGERS to stderr, as text or JSON lines; calling it again adds no handler."""
    formatter = JsonFormatter() if json_lines else EscapingFormatter(LOG_FORMAT)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        handler = next((h for h in logger.handlers if h.name == HANDLER_NAME), None)
        if handler is None:
            handler = logging.StreamHandler(sys.stderr)
            handler.set_name(HANDLER_NAME)
            handler.addFilter(CorrelationIdFilter(default_value="-"))
            logger.addHandler(handler)
            logger.propagate = False
        handler.setFormatter(formatter)
