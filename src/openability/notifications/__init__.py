"""Notifications: the in-app inbox of partners and operators, and email delivery of the outbox
(kernel/notify.py) over SMTP with retries, back-off and a delivery log."""
