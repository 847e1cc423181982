"""Charging has no HTTP routes of its own: the capability API (gateway/api.py) drives it, and usage
read APIs live with the billing/usage pages. Kept so app.DOMAIN_INSTALLERS finds the domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from openability.bootstrap import Container


def install(app: FastAPI, container: Container) -> None:
    """Nothing to install: gateway.api.install() builds the charging runtime at start-up."""
    return None
