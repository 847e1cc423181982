"""Fixtures shared by the billing and catalog tests live in tests/support_direct_partners.py."""

from support_direct_partners import (
    Auth,
    MakePartner,
    api,
    auth,
    events,
    fake_authenticator,
    make_partner,
    seeded,
)

__all__ = ["Auth", "MakePartner", "api", "auth", "events", "fake_authenticator", "make_partner", "seeded"]
