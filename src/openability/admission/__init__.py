"""SI admission (R-ADMIT-01..06, R-EXIT-03), contracts and the SI's standing obligations (R-OBLIG-01..04):
applications with their documents, automatic checks, the reviewer's checklist and decision, the
contract, activation once the funds are confirmed, exit bans and the certificate expiry watch."""
