"""Bombs: inputs that are small on disk and huge once expanded, refused within Helm's limits in bounded memory.

Each runs `invoke` as a subprocess under an address-space cap (RLIMIT_AS), so a regression that expands
a bomb fails with MemoryError instead of swapping the CI machine; its peak resident memory is measured
(wait4's ru_maxrss) and bounded too. A plain `invoke repo.publish` peaks near 90 MiB resident here.
"""

import gzip
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import copy_project

# Address space: Helm's Go runtime reserves ~1.6 GiB of it (a publish peaks there, with ~90 MiB resident) and glibc
# 64 MiB per malloc arena (MALLOC_ARENA_MAX keeps that in check); a billion laughs or a whole gzip bomb needs more.
CAP = 3 * 1024 ** 3
PEAK = 400 * 1024 * 1024  # resident memory any of these may reach: Helm's 100 MiB chart limit, and the tool
LAUGHS = "\n".join(["x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]" for i in range(1, 10)]) + "\n"  # 9^10 = 3.5e9 nodes expanded


def gzip_bomb(members):
    """A .tgz of zero-filled files {name: size}, as concatenated gzip members: 1 GiB costs about 1 MB."""
    zeros = gzip.compress(bytes(1024 * 1024), compresslevel=9)
    parts = []
    for name, size in members.items():
        info = tarfile.TarInfo(name)
        info.size = size
        parts.append(gzip.compress(info.tobuf(format=tarfile.PAX_FORMAT)))
        parts += [zeros] * (size // (1024 * 1024))  # sizes are whole MiB: the member needs no padding
    return b"".join(parts) + zeros  # the end-of-archive blocks are zeros too


def capped(project, *args):
    """(exit code, stderr, peak resident bytes) of `invoke ARGS` run in `project` under CAP.

    The child caps itself before Invoke starts (a preexec_fn could deadlock with the test session's threads).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "PLUGIN_", "DRONE"))}
    start = (f"import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP})); "
             "sys.argv[0] = 'invoke'; runpy.run_module('invoke', run_name='__main__', alter_sys=True)")
    child = subprocess.Popen(
        [sys.executable, "-c", start, *args], cwd=project, env={**env, "CI": "true", "MALLOC_ARENA_MAX": "2"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    stderr = child.stderr.read().decode()  # type: ignore[union-attr]
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, stderr, usage.ru_maxrss * 1024


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("bombs") / "project")
    subprocess.run([sys.executable, "-m", "invoke", "repo.publish"], cwd=project, check=True, capture_output=True,
                   env={**os.environ, "CI": "true"})
    return project


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def changed_chart(project):
    """hello-world changed but not its version: publishing compares it with the published archive."""
    write(project / "charts" / "hello-world" / "templates" / "extra.yaml", "# changed\n")


def huge_helmignore(project):
    """The chart's .helmignore a link to a 1 GiB file elsewhere in the checkout."""
    (project / "docs").mkdir(exist_ok=True)
    sparse(project / "docs" / "huge.txt", 1024 ** 3)
    link = project / "charts" / "hello-world" / ".helmignore"
    link.unlink(missing_ok=True)
    link.symlink_to("../../docs/huge.txt")


def sparse(path, size):
    """A file of `size` bytes that takes no disk space."""
    with open(path, "wb") as handle:
        handle.truncate(size)


BOMBS = {
    "index.yaml, billion laughs": (
        lambda p: write(p / "dist" / "repo" / "index.yaml", "apiVersion: v1\nentries: {}\n" + LAUGHS),
        ["repo.list"], "dist/repo/index.yaml: yaml: document contains excessive aliasing"),
    "values file, billion laughs": (
        lambda p: write(p / "bomb.yaml", LAUGHS),
        ["release.deploy", "--env", "staging", "--values", "bomb.yaml"],
        "--values: bomb.yaml: yaml: document contains excessive aliasing"),
    "Chart.yaml, billion laughs": (
        lambda p: write(p / "charts" / "hello-world" / "Chart.yaml",
                        "apiVersion: v2\nname: hello-world\nversion: 0.1.0\n" + LAUGHS),
        ["repo.package"], "yaml: document contains excessive aliasing"),
    "invoke.yaml, billion laughs": (
        lambda p: write(p / "invoke.yaml", LAUGHS), ["repo.list"],
        "invoke.yaml: yaml: document contains excessive aliasing"),
    "published package, one file of 1 GiB": (
        lambda p: (write(p / "dist" / "repo" / "hello-world-0.1.0.tgz",
                         gzip_bomb({"hello-world/Chart.yaml": 1024 ** 3})), changed_chart(p)),
        ["repo.publish"], "decompressed chart is larger than the maximum size 104857600 (Helm's limit)"),
    "published package, 30 files of 4 MiB": (
        lambda p: (write(p / "dist" / "repo" / "hello-world-0.1.0.tgz",
                         gzip_bomb({f"hello-world/f{i}.txt": 4 * 1024 ** 2 for i in range(30)})), changed_chart(p)),
        ["repo.publish"], "decompressed chart is larger than the maximum size 104857600 (Helm's limit)"),
    "published package, a file of 6 MiB": (
        lambda p: (write(p / "dist" / "repo" / "hello-world-0.1.0.tgz",
                         gzip_bomb({"hello-world/big.bin": 6 * 1024 ** 2})), changed_chart(p)),
        ["repo.publish"], 'decompressed chart file "hello-world/big.bin" is larger than the maximum file size 5242880'),
    "chart with a 1 GiB file": (
        lambda p: sparse(p / "charts" / "hello-world" / "big.bin", 1024 ** 3),
        ["repo.package"], 'chart file "big.bin" is larger than the maximum file size 5242880'),
    "chart with a 1 GiB template": (
        lambda p: sparse(p / "charts" / "hello-world" / "templates" / "big.yaml", 1024 ** 3),
        ["repo.package"], 'chart file "big.yaml" is larger than the maximum file size 5242880'),
    ".helmignore, a link to a 1 GiB file in the checkout": (
        huge_helmignore,
        ["repo.package"], '.helmignore: chart file ".helmignore" is larger than the maximum file size 5242880'),
}


@pytest.mark.parametrize("name", BOMBS)
def test_a_bomb_is_refused_in_one_line_in_bounded_memory(published, tmp_path, name):
    prepare, args, expected = BOMBS[name]
    project = copy_project(tmp_path / "project")
    shutil.copytree(published / "dist" / "repo", project / "dist" / "repo")
    prepare(project)

    code, stderr, peak = capped(project, *args)

    print(f"\n{name}: exit {code}, peak {peak / 2 ** 20:.0f} MiB")
    lines = stderr.strip().splitlines()
    assert code == 1, stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], stderr
    assert peak < PEAK, f"{name}: peak resident memory {peak / 2 ** 20:.0f} MiB"
