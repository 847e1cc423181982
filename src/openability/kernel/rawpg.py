"""A Core SELECT run on the raw asyncpg connection, for the gateway's cold path on PostgreSQL.

Profiled under a 100,000-partner load (py-spy, partners' first calls), SQLAlchemy's execution of a
statement it has compiled and cached already — cache-key generation, the execution context, the
result object, the greenlet hop — cost several times what asyncpg spends on the round trip. The
statement stays written once, in Core, next to its SQLite twin: `PgQuery` compiles it once for
PostgreSQL (asyncpg's `$n` parameters), sends it with `fetch` (asyncpg prepares it once per connection:
its statement cache), and converts each column with the column type's own result processor, so a
row holds what SQLAlchemy would have returned (enums, JSON, aware datetimes).

Only for a connection in no transaction (autocommit, as the gateway caches read): a statement sent
on the driver connection of a SQLAlchemy transaction that has not begun yet would run outside it.
Parameters are passed as given (no bind processors): use it for statements whose parameters are
plain strings and numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled connection's asyncpg connection, in no transaction (SQLAlchemy begins none until it
    executes something itself). A connection the server ended meanwhile is dropped from the pool,
    never handed back."""
    async with engine.connect() as conn:
        apg: Any = (await conn.get_raw_connection()).driver_connection
        try:
            yield apg
        finally:
            if apg.is_closed():
                await conn.invalidate()


class PgQuery:
    def __init__(self, stmt: Select[*tuple[Any, ...]]) -> None:
        compiled = stmt.compile(dialect=_DIALECT)
        self.sql = compiled.string
        literals = compiled.params
        # (name, value given in the statement): a parameter without one must be given at call time
        self._params: list[tuple[str, Any]] = [(n, literals.get(n)) for n in compiled.positiontup or []]
        self._procs: list[Callable[[Any], Any] | None] = [
            col.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None) for col in stmt.selected_columns
        ]

    def args(self, params: dict[str, Any]) -> list[Any]:
        out = []
        for name, lit in self._params:
            if name in params:
                out.append(params[name])
            elif lit is not None:
                out.append(lit)
            else:
                raise KeyError(f"parameter {name!r} not given")
        return out

    def convert(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(v if p is None or v is None else p(v) for p, v in zip(self._procs, row, strict=True))

    async def fetch(self, apg: Any, **params: Any) -> list[tuple[Any, ...]]:
        """Every row, converted. `apg`: an asyncpg connection in no transaction."""
        rows = await apg.fetch(self.sql, *self.args(params))
        return [self.convert(r) for r in rows]

    async def first(self, apg: Any, **params: Any) -> tuple[Any, ...] | None:
        row = await apg.fetchrow(self.sql, *self.args(params))
        return None if row is None else self.convert(row)
