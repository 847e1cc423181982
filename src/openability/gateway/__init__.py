"""Capability API data plane: auth, entitlement, rate limits, rating and charging, connectors, receipts."""
