"""What a `meetnet` command tells its user when something outside it is wrong: one line that says
what to fix and a non-zero exit status, never a traceback."""

from __future__ import annotations

from pydantic import ValidationError

# Exit statuses: 1 for a service that is missing, refuses or is occupied; 2 for a setting or an
# option that is wrong (as for a usage error); 70 (EX_SOFTWARE) for a bug in meetnet itself.
UNAVAILABLE = 1
CONFIGURATION = 2
BUG = 70
INTERRUPTED = 130


class CommandError(Exception):
    """A condition the user must fix; its message is the one line the command prints."""

    def __init__(self, message: str, exit_code: int = UNAVAILABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def settings_error(exc: ValidationError) -> CommandError:
    """An invalid `MEETNET_*` variable, named as the user sets it (not as pydantic's field)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        variable = "MEETNET_" + "__".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{variable}: {message}")
    return CommandError("; ".join(problems), CONFIGURATION)


def unexpected(exc: BaseException) -> str:
    """The line for an error meetnet did not foresee: what it was, and how to see more."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"unexpected error ({what}); run again with --verbose for the traceback and report it"
