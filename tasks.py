"""The front door: `invoke --list` shows the repo and release collections built here."""

from pathlib import Path

from invoke import Collection

# Invoke loads tasks.py before a tasks/ package, so tasks.py is made the package of the tasks/ folder.
__path__ = [str(Path(__file__).with_suffix(""))]

from tasks import config, release, repo, settings

ns = Collection(repo.ns, release.ns, config.config)
ns.configure(settings.DEFAULTS)
