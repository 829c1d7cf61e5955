"""The front door: `invoke --list` shows the repo and release collections built here."""

from pathlib import Path

from invoke import Collection

# Invoke loads tasks.py before a tasks/ package, so tasks.py is made the package of the tasks/ folder.
__path__ = [str(Path(__file__).with_suffix(""))]

from tasks import cli, config, release, repo, settings

cli.check_project()  # before Invoke merges invoke.yaml, whose errors there would be tracebacks
ns = Collection(repo.ns, release.ns, config.config)
ns.configure(settings.DEFAULTS)
cli.customize(ns)  # a mistyped task or flag: "did you mean ...?"; placeholders on repeatable flags
