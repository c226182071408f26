"""A user's first steps work: the rendered README's install and test commands, in a new virtualenv.

The other render checks borrow this repo's environment; this one builds the project's own from its
``pyproject.toml`` alone, so a dependency missing from the rendered list fails here.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from helpers import clean_env, explain, require_success, run
from uv import find_uv_bin

# uv is in this repo's dev group, so its binary is here wherever these tests run. Called directly,
# not as `python -m uv`, which would point uv at this repo's virtualenv through VIRTUAL_ENV.
UV = find_uv_bin()
# (what the rendered README tells a user to type, the uv arguments this test runs for it)
README_STEPS = (("uv sync", ("sync",)), ("uv run pytest", ("run", "pytest", "-q")))
# The Dockerfile's install step, which needs the uv.lock that the first `uv sync` wrote.
IMAGE_INSTALL = ("sync", "--locked", "--no-dev")


def test_readme_install_and_test_commands_pass(
    render: Callable[[str], Path], tmp_path: Path
) -> None:
    # A copy, so the new .venv does not leak into the other checks on the shared render.
    project = shutil.copytree(render("defaults"), tmp_path / "project")
    readme = (project / "README.md").read_text()
    env = clean_env(ENVIRONMENT="test", UV_PYTHON_DOWNLOADS="never")

    for step, uv_args in README_STEPS:
        assert step in readme, f"the rendered README no longer says `{step}`"
        result = run((UV, *uv_args), cwd=project, env=env)
        require_success(result)
    assert "passed" in result.stdout, explain(result)
    assert (project / ".venv").is_dir(), "uv sync made no .venv in the project"


def test_image_install_step_takes_the_lock_uv_sync_wrote(
    render: Callable[[str], Path], tmp_path: Path
) -> None:
    project = shutil.copytree(render("defaults"), tmp_path / "project")
    image_venv = tmp_path / "image-venv"
    env = clean_env(UV_PYTHON_DOWNLOADS="never")
    assert f"uv {' '.join(IMAGE_INSTALL)}" in (project / "Dockerfile").read_text()

    require_success(run((UV, "sync"), cwd=project, env=env))
    assert (project / "uv.lock").is_file(), "uv sync wrote no uv.lock"
    image_env = {**env, "UV_PROJECT_ENVIRONMENT": str(image_venv)}
    require_success(run((UV, *IMAGE_INSTALL), cwd=project, env=image_env))

    installed = run(
        (UV, "pip", "list", "--python", image_venv / "bin" / "python"), cwd=project, env=env
    )
    require_success(installed)
    assert "fastapi " in installed.stdout
    assert "pytest " not in installed.stdout, "the image would carry the dev group"
