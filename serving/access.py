"""Who may see which licensee: the one rule behind every route's division check.

A user limited to a field division sees only that division's licensees. Any other
licensee answers exactly as an unknown one does (404, the same words), on the API and the
pages alike, so whether a license number exists in another division does not leak.
(Asking for another division's *list* by name is a 403: divisions are public, their
licensees are not.)
"""

from __future__ import annotations

from serving.users import User


def hidden_from(user: User, field_division: str | None) -> bool:
    """Whether a licensee of ``field_division`` is hidden from ``user`` (answer as unknown)."""
    return user.division is not None and field_division != user.division
