"""Errors that the command line reports as one clear message and exit status 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a file, a flag, a setting): the message says what and where."""
