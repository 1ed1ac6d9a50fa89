"""The one exception a user can cause.

`EdgeDistillError` is a `click.ClickException` with exit code 2: the CLI prints ``Error: <message>``
on one line with no traceback. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import click


class EdgeDistillError(click.ClickException):
    """A problem with the user's input or environment, stated in one line with the fix."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, always: multi-line library messages are folded so the CLI output stays readable.
        super().__init__(" ".join(str(message).split()))


class Interrupted(EdgeDistillError):
    """Ctrl-C during long work: the state is saved and the message says how to continue."""

    exit_code = 130
