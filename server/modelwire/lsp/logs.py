"""Every log record passes through the secret redactor before it reaches stderr."""

from __future__ import annotations

import logging

from modelwire.errors import redact


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks may quote a provider's text; keep the type, drop the details.
            exc = record.exc_info[1]
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            del exc
        return True


class ExpectedErrorFilter(logging.Filter):
    """pygls logs a traceback for every error answer; a ModelWireError is an expected
    answer (logged once at INFO by the handler wrapper), not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        data = getattr(exc, "data", None)
        return not (isinstance(data, dict) and "code" in data and "hint" in data)


def install_redaction() -> None:
    logging.getLogger("pygls.protocol.json_rpc").addFilter(ExpectedErrorFilter())
    handler_filter = RedactingFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(handler_filter)
