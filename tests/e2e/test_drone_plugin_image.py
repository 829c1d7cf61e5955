"""The plugin image, checked without Docker: what its Dockerfile copies exists, and its entrypoint runs from a
filesystem holding only those copies (with this project's python, which has what `pip install` puts there)."""

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

DOCKERFILE = ROOT / "scripts" / "drone-plugin.Dockerfile"


def instructions() -> list[tuple[str, str]]:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def image_filesystem(root: Path) -> tuple[Path, list[str]]:
    """`root` laid out as the image's files (WORKDIR, each COPY), and the ENTRYPOINT with its paths under `root`."""
    workdir, copied, entrypoint = Path("/"), set(), []
    for instruction, argument in instructions():
        if instruction == "WORKDIR":
            workdir = workdir / argument
        elif instruction == "COPY":
            *sources, destination = shlex.split(argument)
            target = root / (workdir / destination).relative_to("/")
            for source in sources:
                assert (ROOT / source).exists(), f"{DOCKERFILE.name}: COPY {source}: no such file in the repository"
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / source, target / Path(source).name if destination.endswith("/") else target)
                copied.add(source.rstrip("/"))
        elif instruction == "RUN" and " -r " in argument:
            assert argument.split(" -r ")[1].split()[0] in copied, f"{argument}: copy the requirements first"
        elif instruction == "RUN" and argument.startswith("python -m compileall "):
            subprocess.run([sys.executable, *shlex.split(argument)[1:]], cwd=root / workdir.relative_to("/"),
                           check=True)
        elif instruction == "ENTRYPOINT":
            entrypoint = json.loads(argument)
    assert entrypoint, f"{DOCKERFILE.name} has no ENTRYPOINT"
    return root, [sys.executable if word == "python" else
                  str(root / Path(word).relative_to("/")) if word.startswith("/") else word for word in entrypoint]


def test_every_path_the_dockerfile_copies_exists_and_its_entrypoint_runs_with_help(tmp_path):
    _, entrypoint = image_filesystem(tmp_path / "image")
    workspace = tmp_path / "drone" / "src"  # Drone runs a plugin in the workspace, not in its WORKDIR
    workspace.mkdir(parents=True)
    result = subprocess.run([*entrypoint, "--help"], cwd=workspace, env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "supported: add_repos (helm_repos)" in result.stdout
    assert "refused (the step fails): " in result.stdout and "skip_tls_verify" in result.stdout


def test_the_image_holds_the_tasks_bytecode(tmp_path):
    """Compiled when the image is built: a step that runs it compiles nothing."""
    root, _ = image_filesystem(tmp_path / "image")
    tasks = next(root.rglob("tasks/cli.py")).parent
    compiled = {path.name.split(".")[0] for path in (tasks / "__pycache__").glob("*.pyc")}
    assert compiled == {path.stem for path in tasks.glob("*.py")}
