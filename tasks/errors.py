"""The one error type a user sees: a clear line that names the file or setting and what to do."""

import errno

REMEDIES = {  # what the machine refused (an OSError's errno), not a bug: what to do about it
    errno.EACCES: "check its permissions and owner", errno.EPERM: "check its permissions and owner",
    errno.EROFS: "it is on a read-only file system: point repo.build_dir (or repo.url) at a writable folder",
    errno.ENOSPC: "free space on that disk, then run again", errno.EDQUOT: "free space in your quota, then run again",
    errno.ENOTDIR: "a file stands where a folder should be: move it or fix the setting",
    errno.EISDIR: "a folder stands where a file should be: move it or fix the setting",
    errno.ENAMETOOLONG: "shorten the path (rename or flatten its folders): it is longer than the system takes",
    errno.ELOOP: "a symlink loop: fix the link",
    errno.EFBIG: "a file size limit (ulimit -f) is below what is written: raise it",
    errno.EIO: "the disk could not read or write it: check the disk, or clone again",
}


class ToolError(Exception):
    """Bad input or a refused operation; the task layer prints it as one line and exits non-zero."""


class ConflictError(ToolError):
    """A conditional write lost a race (HTTP 412/409): re-read, re-merge, retry."""


class Reported(ToolError):
    """A failure already printed line by line (each broken chart): exit 1 with nothing more on stderr."""
