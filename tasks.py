"""The front door: `invoke --list` shows the repo and release collections built here."""

import gc
import os
import sys
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036 - on an older Python: one line instead of an ImportError
    sys.exit(f"error: Python {sys.version.split()[0]} is too old: these tasks need Python 3.11 or newer; create the "
             "virtualenv with python3.11 or later (README: Requirements)")

# Invoke turns bytecode caching off (its --write-pyc) so a lone tasks.py leaves no clutter; the tasks/ package
# is compiled on every run without it. Cached in tasks/__pycache__ (git-ignored) unless the user opted out.
sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))

from invoke import Collection

# Invoke loads tasks.py before a tasks/ package, so tasks.py is made the package of the tasks/ folder.
__path__ = [str(Path(__file__).with_suffix(""))]

from tasks import cli, config, native_stderr, release, repo, settings

cli.standard_streams()  # a closed one is /dev/null, before anything opens a file; stdout's failures said
native_stderr.guard()  # what Helm's Go code and commands write to stderr themselves is redacted too
cli.check_project()  # before Invoke merges invoke.yaml, whose errors there would be tracebacks
ns = Collection(repo.ns, release.ns, config.config)
ns.configure(settings.DEFAULTS)
cli.customize(ns)  # a mistyped task or flag: "did you mean ...?"; placeholders on repeatable flags
# What start-up loaded (modules, the collection) lives as long as the process: the cyclic GC stops scanning it
# again at each full collection, which cost a push that changes nothing ~6% of its instructions (scripts/bench_publish)
gc.freeze()
