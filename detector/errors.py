"""The one exception root of insiderwatch and its subclasses.

Every error raised on purpose by the library is an :class:`InsiderwatchError`; it carries
where the problem came from (file, line, day, agent) so that the CLI can say it in one line.
"""

from __future__ import annotations


class InsiderwatchError(Exception):
    """Root of every error insiderwatch raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong, in words a user understands.
    **context
        Where it happened: ``file``, ``line``, ``day``, ``agent``, ``column``... Only the
        keys given are shown.
    """

    #: exit code the CLI uses for this kind of error
    exit_code = 1

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.context:
            return self.message
        where = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({where})"


class UsageError(InsiderwatchError):
    """The request cannot be carried out as asked (bad option values, bad spec)."""

    exit_code = 2


class InputError(InsiderwatchError):
    """An input file is unusable as a whole (missing, unreadable, missing a required column)."""

    exit_code = 2
