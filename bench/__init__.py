"""Reproducible benchmarks (`make bench`, `python -m bench [--smoke]`), DESIGN.md "Benchmarks".

Each benchmark prints the ratio measured in one run next to its absolute figures, against a baseline
on the same machine in the same run: charged SMS calls vs. the same server's no-op routes, and CDR
writes through the charging CDR writer vs. a raw bulk insert (COPY on PostgreSQL) of the same rows.
They are benchmarks, not timed tests: CI runs only the smoke size and checks the lines are printed.
"""
