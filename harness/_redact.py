"""Keep secrets out of everything the harness stores or prints.

Servers echo what they were sent: a 401 may quote the API key or the ``Authorization``
header, and that message becomes a run's ``aborted`` line or a result's error. Providers
register their keys here when they are created; :func:`redact` then replaces every
registered key, every ``Authorization``/``Bearer`` value and anything shaped like an API key
with ``[REDACTED]``, so a key is caught even when a server mangles or truncates it.
"""

from __future__ import annotations

import re
import threading

__all__ = ["REDACTED", "redact", "register_secret"]

REDACTED = "[REDACTED]"

#: Shorter values are too likely to occur in ordinary text (and too weak to be real keys).
_MIN_SECRET = 8
#: What local servers are given when they need no key: not a secret.
_NOT_SECRETS = frozenset({"not-needed"})

# One scan for three shapes: a named value ("Authorization: Bearer x", '"authorization":
# "x"', "api_key=x"; the name and scheme stay, so a message still says what was wrong), a
# bare "Bearer x", and key-shaped tokens (OpenAI's sk-..., sk-proj-..., sess-...).
_SHAPES = re.compile(
    r"""(?ix)
      ((?:\bauthorization|api[_-]?key)["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token)\s+)?)
        (?!\[REDACTED\]|(?:bearer|basic|token)\s)[^\s"',;)}]+
    | \b(bearer\s+)[a-z0-9._~+/=-]+
    | \b(?:sk|sess)-[a-z0-9_-]{8,}
    """
)

#: Cheap substrings (of the lower-cased text) that every shape above contains.
_HINTS = ("auth", "api", "bearer", "sk-", "sess-")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Redact ``value`` from every later :func:`redact` (in this process)."""
    global _secrets
    if not value or len(value) < _MIN_SECRET or value in _NOT_SECRETS:
        return
    with _lock:
        if value not in _secrets:
            # Longest first, so a key that contains another is replaced whole.
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with registered secrets, auth header values and key-shaped tokens hidden."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    lowered = text.lower()
    if any(hint in lowered for hint in _HINTS):  # the regex costs ~70 us per KB
        text = _SHAPES.sub(_keep_name, text)
    return text


def _keep_name(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2) or "") + REDACTED
