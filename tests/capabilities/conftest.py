"""Fixtures shared with the other money tests live in tests/support_funded.py."""

from support_funded import Funded, build, build_funded, funded

__all__ = ["Funded", "build", "build_funded", "funded"]
