"""A CLI command run where there is no migrated database says so in one line and creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from openability.cli import app


def test_cli_outside_the_data_directory_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("OPENABILITY_DATABASE_URL", "OPENABILITY_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    r = CliRunner().invoke(app, ["partners", "list"], env={"COLUMNS": "80"})
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert "no migrated database found" in lines[0]
    assert str(tmp_path / "var" / "openability.db") in lines[0]
    assert "Traceback" not in r.output
    assert not (tmp_path / "var").exists()  # no empty database (or folder) left behind
