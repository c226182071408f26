"""Log lines that carry the request id and cannot be forged with line breaks."""

import logging
import sys
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class EscapingFormatter(logging.Formatter):
    """Escapes CR and LF in the message, so a user-supplied value cannot start a fake log line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's API)
        record.message = record.message.replace("\r", "\\r").replace("\n", "\\n")
        return super().formatMessage(record)


def configure_logging(level: str) -> None:
    """Send the `app` loggers to stderr; calling it again (one app per test) adds nothing."""
    logger = logging.getLogger("app")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(EscapingFormatter(LOG_FORMAT))
        logger.addHandler(handler)
        logger.propagate = False
