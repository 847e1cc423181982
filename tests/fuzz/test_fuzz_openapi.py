"""Property-based fuzzing of the whole OpenAPI document (schemathesis): bad input never yields a 5xx, and
every 4xx carries the error body {"status", "code", "message"} (DESIGN.md, Errors; issue 2).

Each test class builds its own world: a fresh SQLite database with the demo data (seed_demo: catalog, operators,
the AP ap-demo with money and orders, the SI si-demo), the whole app in-process with fake network elements,
and bearer tokens obtained the way a client does (POST /api/v1/auth/login, POST /oauth/token). Schemathesis
calls the app through its ASGI transport (its own event loop thread), so the world is seeded on a separate
engine first and the app gets an engine of its own that only that loop touches.

Generation is seeded and bounded (max_examples per operation, coverage + fuzzing phases, positive and
negative data), so a run is reproducible and takes a bounded time."""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CHECKS as ALL_CHECKS
from schemathesis.checks import load_all_checks
from schemathesis.python import asgi
from sqlalchemy import select

from openability.billing.models import Payment
from openability.bootstrap import build_container
from openability.catalog.models import Product, ProductOrder
from openability.config import Settings
from openability.connectors.base import SmsSubmission, Submitted
from openability.connectors.sms_codec import count_segments
from openability.kernel.clock import FrozenClock
from openability.kernel.db import make_engine
from openability.models import metadata
from openability.partners.models import ApiClient

pytestmark = pytest.mark.slow

SEED = 20261129
# CI runs a bounded budget; a nightly-size run sets OPENABILITY_FUZZ_EXAMPLES=200 (docs/reliability.md).
MAX_EXAMPLES = int(os.environ.get("OPENABILITY_FUZZ_EXAMPLES", "25"))
STATEFUL_SCENARIOS = 4


class _Network:
    """Stands in for the SMSC, MMSC and voice platform (like the gateway tests' fakes): always accepts."""

    available = True

    async def submit(self, msg: Any, *rest: Any) -> Submitted:
        parts = count_segments(msg.text)[1] if isinstance(msg, SmsSubmission) else 1
        return Submitted(network_ids=[f"N{i}" for i in range(parts)], parts=parts)

    async def call(self, recipient: str, text: str, repeat: int) -> Submitted:
        return Submitted(network_ids=["V1"], parts=1, duration_seconds=65)


class OneLifespan:
    """The app behind a lifespan of its own that starts the app's lifespan once and stops it only when
    `closing` is set. Schemathesis's pytest plugin ends every ASGI lifespan at each test's teardown, and
    the next request starts it again: a world (one per class) would restart its whole platform (engine,
    charging engine, spool, scheduler) between two tests, hundreds of times a run, where a server starts
    it once. The app's lifespan runs as a task on schemathesis's event loop thread, the loop every request
    of the world runs on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.closing = False
        self._task: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        assert (await receive())["type"] == "lifespan.startup"
        if self._task is None:
            self._task = asyncio.create_task(self._run())
            await self._to_app.put({"type": "lifespan.startup"})
            answer = await self._from_app.get()
            if answer["type"] != "lifespan.startup.complete":
                await asyncio.gather(self._task, return_exceptions=True)
                self._task = None  # not started: the next startup tries again
                await send({"type": "lifespan.startup.failed", "message": answer.get("message", "")})
                return
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        if self.closing and self._task is not None:
            await self._to_app.put({"type": "lifespan.shutdown"})
            answer = await self._from_app.get()
            await self._task
            if answer["type"] != "lifespan.shutdown.complete":
                await send({"type": "lifespan.shutdown.failed", "message": answer.get("message", "")})
                return
        await send({"type": "lifespan.shutdown.complete"})

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        await self.app(scope, self._to_app.get, self._from_app.put)


@dataclass
class FuzzWorld:
    app: Any
    tokens: dict[str, str]  # role -> bearer token
    # Real ids by parameter name, the acting partner's and the other partner's alike: random strings only
    # ever reach the "unknown id" branch, these reach the lookups, the visibility rules and the state rules.
    ids: dict[str, list[str]]
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))


def _now() -> datetime:
    # 2026-11-02 10:00 Asia/Shanghai, a working day (the suite's default clock).
    return datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, smsc_enabled=False, run_test_smsc=False, _env_file=None)  # type: ignore[call-arg]


def _openapi_document() -> dict[str, Any]:
    """The document the app serves, built without a database (schemathesis parametrizes at collection)."""
    from openability.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        container = build_container(_settings(Path(tmp)), engine=make_engine("sqlite+aiosqlite://"))
        doc: dict[str, Any] = create_app(container, manage_container=False).openapi()
    return doc


async def _prepare_database(url: str, data_dir: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    from openability.seed import seed_demo

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        creds = await seed_demo(
            build_container(_settings(data_dir), clock=FrozenClock(_now()), engine=engine)
        )
        async with engine.connect() as conn:
            ids = {
                "partner_id": [creds["partners"]["ap"]["id"], creds["partners"]["si"]["id"]],
                "order_id": list((await conn.scalars(select(ProductOrder.id))).all()),
                "payment_id": list((await conn.scalars(select(Payment.id))).all()),
                "client_id": list((await conn.scalars(select(ApiClient.id))).all()),
                "product_ref": list((await conn.scalars(select(Product.code))).all()),
            }
        return creds, ids
    finally:
        await engine.dispose()


def _ok(resp: Any, what: str) -> dict[str, Any]:
    assert resp.status_code == 200, f"{what}: {resp.status_code} {resp.text}"
    body: dict[str, Any] = resp.json()
    return body


@pytest.fixture(scope="class")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    """A fresh world per test class, so what one role's run changes cannot steer another's."""
    from openability.app import create_app

    tmp = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}"
    # Seeded on an engine of its own: the app's engine is used only on schemathesis's event loop thread.
    creds, ids = asyncio.run(_prepare_database(url, tmp / "data"))
    container = build_container(_settings(tmp / "data"), clock=FrozenClock(_now()), engine=make_engine(url))
    container.connectors.sms = container.connectors.mms = container.connectors.voice = _Network()
    # manage_container: the lifespan shutdown disposes the engine on the loop that used it.
    app = OneLifespan(create_app(container, manage_container=True))
    ap, si = creds["partners"]["ap"], creds["partners"]["si"]
    try:
        with asgi.get_client(app) as client:
            login = "/api/v1/auth/login"
            operator = _ok(client.post(login, json={"username": "admin", "password": "admin1234"}), "login")
            partner = _ok(
                client.post(login, json={"username": ap["username"], "password": ap["password"]}), "login"
            )
            form = {
                "grant_type": "client_credentials",
                "client_id": ap["client_id"],
                "client_secret": ap["client_secret"],
            }
            client_token = _ok(client.post("/oauth/token", data=form), "client token")
            # One ticket of each partner, for the ticket routes' ids.
            other = _ok(
                client.post(login, json={"username": si["username"], "password": si["password"]}), "login"
            )
            ids["ticket_id"] = []
            for token in (partner["access_token"], other["access_token"]):
                ticket = client.post(
                    "/api/v1/tickets",
                    json={"type": "consultation", "subtype": "tariffs", "subject": "资费咨询"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert ticket.status_code == 201, ticket.text
                ids["ticket_id"].append(ticket.json()["id"])
        tokens = {
            "operator": operator["access_token"],
            "partner": partner["access_token"],
            "client": client_token["access_token"],
        }
        yield FuzzWorld(app, tokens, ids)
    finally:
        asgi.shutdown_lifespans()  # what the last test left started
        app.closing = True
        with asgi.get_client(app):  # started again, and now shut down for good: the app's own shutdown
            pass
        asgi.shutdown_lifespans()


def error_body_is_camara(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx answers with {"status", "code", "message"}, status equal to the HTTP status."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except Exception as exc:
        raise AssertionError(f"{response.status_code} body is not JSON: {response.text[:200]!r}") from exc
    assert isinstance(body, dict), f"{response.status_code} body is not an object: {body!r}"
    missing = {"status", "code", "message"} - body.keys()
    assert not missing, f"{response.status_code} body lacks {sorted(missing)}: {body!r}"
    assert body["status"] == response.status_code, f"body status {body['status']} != {response.status_code}"
    assert isinstance(body["code"], str) and body["code"], f"empty code: {body!r}"
    assert isinstance(body["message"], str) and body["message"], f"empty message: {body!r}"
    return True


load_all_checks()
# Every check schemathesis has (status codes, content types, headers and response schemas as documented,
# negative data refused, Allow on 405, auth not ignored, use after delete, …) and our error body — but
# `positive_data_acceptance`: the API validates more than the document can say (a month is a real
# month, an amount a money string, a phone number a number, an id one that exists), so a schema-valid
# request can rightly be a 400 or a 422 (docs/reliability.md).
CHECKS = [
    *(c for c in ALL_CHECKS.get_all() if c.__name__ != "positive_data_acceptance"),
    error_body_is_camara,
]

REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
schema = schemathesis.openapi.from_dict(
    _openapi_document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
            # Coverage (boundary and negative values per field) and fuzzing; the document has no examples
            # worth replaying; the stateful links are inferred from the schemas (ids produced and consumed).
            "phases": {
                "examples": {"enabled": False},
                "stateful": {"enabled": True, "inference": {"algorithms": ["dependency-analysis"]}},
            },
            "warnings": False,
            # a body over the size limit is refused before it is read: 413 is a rejection too
            "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
        }
    ),
)
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
MANAGEMENT = r"^/(api/v1|oauth)/"


def _use_real_ids(case: Any, world: FuzzWorld) -> None:
    """Half the time put a real id (own or another partner's) where the schema only says "string".
    A seeded Random rather than a Hypothesis strategy: `@schema.given` would switch the coverage phase off."""
    for where in (case.path_parameters, case.query, case.body if isinstance(case.body, dict) else None):
        if not where:
            continue
        for name, known in world.ids.items():
            if name in where and known and world.rng.random() < 0.5:
                where[name] = world.rng.choice(known)


# Routes that authenticate by their body, not by the bearer token.
CREDENTIAL_ROUTES = {"POST /api/v1/auth/login", "POST /oauth/token"}


def _call(case: Any, world: FuzzWorld, role: str) -> None:
    _use_real_ids(case, world)
    response = case.call_and_validate(
        app=world.app, headers={"Authorization": f"Bearer {world.tokens[role]}"}, checks=CHECKS
    )
    # The token must stay good for the whole run: a run that only ever met the auth wall proves nothing.
    if case.operation.label not in CREDENTIAL_ROUTES:
        assert response.status_code != 401, f"{role} token refused: {response.text}"


# Logout is left out: it revokes the bearer token the rest of the run uses, and takes no input but the token.
class TestFuzzAsOperator:
    @schema.include(path_regex=MANAGEMENT).exclude(path="/api/v1/auth/logout").parametrize()
    @HYPOTHESIS
    def test_management_api(self, case: Any, world: FuzzWorld) -> None:
        _call(case, world, "operator")


class TestFuzzAsPartner:
    @schema.include(path_regex=MANAGEMENT).exclude(path="/api/v1/auth/logout").parametrize()
    @HYPOTHESIS
    def test_management_api(self, case: Any, world: FuzzWorld) -> None:
        _call(case, world, "partner")


class TestFuzzWithClientToken:
    @schema.include(path_regex=r"^/capabilities/").parametrize()
    @HYPOTHESIS
    def test_capability_api(self, case: Any, world: FuzzWorld) -> None:
        _call(case, world, "client")


# Stateful: sequences of calls where one answer's ids feed the next call (links inferred by schemathesis
# from the document: a created partner's id into its orders, a ticket's into its comments, …), every
# step checked with every check. Bounded here; the nightly-size run raises OPENABILITY_FUZZ_EXAMPLES.
STATEFUL = settings(
    # generate only: the world is shared and changes, so a replay (shrinking) would not meet the
    # state the first run met; a failure is reported as found. Few scenarios of many steps: past about
    # a dozen scenarios on one world Hypothesis sees the changed state as a flaky strategy (bundles that
    # were full are empty), so a longer run uses more worlds, not more scenarios (docs/reliability.md).
    phases=[Phase.generate],
    max_examples=STATEFUL_SCENARIOS,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _workflow(world: FuzzWorld, role: str) -> Any:
    machine = (
        schema.include(path_regex=MANAGEMENT)
        .exclude(path="/api/v1/auth/logout")
        .exclude(path_regex=r"/(auth/login|oauth/token)$")
        .as_state_machine()
    )

    class Workflow(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            _use_real_ids(case, world)
            return {"app": world.app, "headers": {"Authorization": f"Bearer {world.tokens[role]}"}}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, recorder=getattr(self, "recorder", None))
            assert response.status_code != 401, f"{role} token refused: {response.text}"
            steps.append((case.operation.label, response.status_code))

    steps: list[tuple[str, int]] = []
    Workflow.steps = steps
    return Workflow


def _run_workflows(world: FuzzWorld, role: str) -> None:
    workflow = _workflow(world, role)
    workflow.run(settings=STATEFUL)
    steps = workflow.steps
    ok = sum(1 for _, status in steps if status < 300)
    print(f"stateful as {role}: {len(steps)} steps, {len({s for s, _ in steps})} operations, {ok} 2xx")
    # the run did walk the API: many steps, over many operations, several of them successful
    assert len(steps) >= 20, steps
    assert len({label for label, _ in steps}) >= 10, steps
    assert sum(1 for _, status in steps if status < 300) >= 5, steps


class TestStatefulAsOperator:
    def test_workflows(self, world: FuzzWorld) -> None:
        _run_workflows(world, "operator")


class TestStatefulAsPartner:
    def test_workflows(self, world: FuzzWorld) -> None:
        _run_workflows(world, "partner")
