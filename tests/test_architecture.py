"""The layer contracts of docs/architecture.md (pyproject.toml, [tool.importlinter]) are enforced: a
planted reach-in into another domain's models.py, or an import that runs back up a layer, fails the lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-logo", "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree / "src" / "openability" / module
    path.write_text(path.read_text() + f"\n{line}  # planted\n")


def test_the_real_tree_keeps_every_contract(tree: Path) -> None:
    r = _lint(tree)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "broken" not in r.stdout.lower().replace("0 broken", "")


def test_a_reach_into_another_domains_models_fails(tree: Path) -> None:
    _plant(tree, "gateway/api.py", "from openability.partners.models import Partner as _P")
    r = _lint(tree)
    assert r.returncode != 0
    assert "partners/models.py is private" in r.stdout.replace("\n", " ")
    assert "openability.gateway.api -> openability.partners.models" in r.stdout


def test_an_import_back_up_a_layer_fails(tree: Path) -> None:
    _plant(tree, "ledger/service.py", "from openability.billing import service as _billing")
    r = _lint(tree)
    assert r.returncode != 0
    assert "openability.ledger is not allowed to import openability.billing" in r.stdout


def test_orm_in_a_rules_module_fails(tree: Path) -> None:
    _plant(tree, "catalog/rules.py", "import sqlalchemy as _sa")
    r = _lint(tree)
    assert r.returncode != 0
    assert "openability.catalog.rules -> sqlalchemy" in r.stdout


def test_a_cycle_between_two_modules_of_a_domain_fails(tree: Path) -> None:
    # tickets/views.py imports tickets/api.py; the planted import closes the loop.
    _plant(tree, "tickets/api.py", "from openability.tickets import views as _views")
    r = _lint(tree)
    assert r.returncode != 0
    assert "No import cycles between sibling packages or modules" in r.stdout.replace("\n", " ")


def test_another_domain_calling_a_partners_use_case_module_fails(tree: Path) -> None:
    # Other domains go through partners/service.py; lifecycle/identity/oauth are the partners' own.
    _plant(tree, "tickets/service.py", "from openability.partners import lifecycle as _lifecycle")
    r = _lint(tree)
    assert r.returncode != 0
    assert "openability.tickets.service -> openability.partners.lifecycle" in r.stdout


def test_the_composition_layer_may_call_a_partners_use_case_module(tree: Path) -> None:
    _plant(tree, "app.py", "from openability.partners import oauth as _oauth")
    r = _lint(tree)
    assert r.returncode == 0, r.stdout[-4000:]
