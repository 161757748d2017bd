"""User-facing errors: the CLI turns these into one line on stderr and a non-zero exit."""


class EdgecamError(Exception):
    """A problem with the user's input or environment (not a bug): shown without a traceback."""

    exit_code = 1


class MissingExtraError(EdgecamError):
    """An optional dependency (torch, the pretrained weight packages...) is not installed."""


class UsageError(EdgecamError):
    """An option's text that cannot be read at all: exit code 2, like the command line's own
    usage errors."""

    exit_code = 2
