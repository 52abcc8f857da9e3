"""User-facing errors.

A :class:`UserError` is a mistake the user can fix (bad path, bad config, unknown model). The
CLI prints its message as one line and exits non-zero, without a traceback. Internal invariants
use ``assert`` instead, so a real bug still shows its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input: the message says what, where, and how to fix it."""

    exit_code = 2


class MissingWeightsError(UserError):
    """Model weights are not available locally and cannot be downloaded."""


class MissingExtraError(UserError):
    """An optional dependency (an "extra") is not installed."""
