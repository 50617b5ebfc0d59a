"""The errors a planner can cause or meet, each turned into one message by the CLI."""

from __future__ import annotations


class AllocatorError(Exception):
    """Base of every error the tool reports as a message rather than a traceback."""

    exit_code = 1
    #: A report (a diagnosis) keeps its lines; any other message is shown as one line.
    multiline = False


class InputError(AllocatorError):
    """A scenario file or data table is wrong; the message names the file and the place."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        prefix = ": ".join(part for part in (source, where) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class SolveFailed(AllocatorError):
    """The solver found no usable allocation (infeasible, unbounded, no solution in time, error).

    ``report`` is the longer text (for an infeasible scenario, its diagnosis) written beside the manifest.
    """

    exit_code = 3
    multiline = True

    def __init__(self, message: str, *, status: str, report: str = "", progress: dict[str, object] | None = None):
        self.status = status
        self.report = report or message
        self.progress = progress  # how far the solve got: model size, the LP relaxation, bound and incumbent (manifest.json)
        super().__init__(message)


class InternalError(AllocatorError):
    """A bug in allocator, not a mistake in its inputs: reported in one line with exit code 4, nothing written."""

    exit_code = 4


class VerificationError(InternalError):
    """A solved allocation breaks a rule it should satisfy: a bug, never silently written."""
