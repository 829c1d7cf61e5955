"""The one error type a user sees: a clear line that names the file or setting and what to do."""


class ToolError(Exception):
    """Bad input or a refused operation; the task layer prints it as one line and exits non-zero."""


class ConflictError(ToolError):
    """A conditional write lost a race (HTTP 412/409): re-read, re-merge, retry."""


class Reported(ToolError):
    """A failure already printed line by line (each broken chart): exit 1 with nothing more on stderr."""
