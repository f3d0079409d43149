"""install_seaorm / SeaOrmModule: Database and AsyncSession injected (SQLite files, PostgreSQL).

Everything goes through the real ASGI entry point (the in-process client runs the lifespan, so
the container starts and stops the database like a server would).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import pytest
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from armature import App, Body, JSONResponse, Request, Response, StreamingResponse, WebSocket
from armature.di import DependencyError
from armature.exceptions import Conflict
from armature.health import HealthCheck
from armature.modules import Application, controller, get, module, post
from armature.testing import AsyncTestClient
from armature_ext.diesel.config import DatabaseConfig
from armature_ext.seaorm import (
    ActiveModel,
    Database,
    SeaOrmModule,
    SessionCommitMiddleware,
    current_session,
    install_seaorm,
)
from armature_ext.seaorm._context import bound_session, in_unit_of_work

pytest_plugins = ["test_seaorm_support"]
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Base(DeclarativeBase):
    pass


class Note(ActiveModel, Base):
    __tablename__ = "di_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100), unique=True)


class Parent(ActiveModel, Base):
    __tablename__ = "di_parents"

    id: Mapped[int] = mapped_column(primary_key=True)


class Child(ActiveModel, Base):
    __tablename__ = "di_children"

    id: Mapped[int] = mapped_column(primary_key=True)
    # NOTE: checked at COMMIT, not at INSERT: the way to make a commit fail on both databases.
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("di_parents.id", deferrable=True, initially="DEFERRED")
    )


@pytest.fixture
async def url(db_url: str) -> AsyncIterator[str]:
    """An empty database with the tables of this module (dropped afterwards)."""
    async with Database(db_url) as setup:
        await setup.drop_all(Base)
        await setup.create_all(Base)
        try:
            yield db_url
        finally:
            await setup.drop_all(Base)


async def notes(url: str) -> list[str]:
    """What is committed, read through a database of its own."""
    async with Database(url) as other, other.session():
        return [n.text for n in await Note.query().order_by("text").all()]


def checked_out(db: Database) -> int:
    return int(db.engine.pool.checkedout())  # type: ignore[attr-defined]


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


# -- the default mode: bind the request's session, close it after the response ---------------


def default_app(url: str) -> tuple[App, Database]:
    app = App()
    db = install_seaorm(app, url)

    @app.post("/notes/{text}", status_code=201)
    async def create(text: str, session: AsyncSession) -> dict[str, Any]:
        assert current_session() is session  # active-record calls use the injected session
        note = await Note.create(text=text)  # commits by itself outside a transaction
        return {"id": note.id, "in_unit_of_work": in_unit_of_work(session)}

    @app.post("/pending/{text}")
    async def pending(text: str, session: AsyncSession) -> dict[str, int]:
        session.add(Note(text=text))
        await session.flush()  # sent to the database, never committed
        return {"count": await Note.count()}

    @app.post("/pair/{a}/{b}", status_code=201)
    async def pair(a: str, b: str, session: AsyncSession) -> None:
        async with db.transaction():
            await Note.create(text=a)
            await Note.create(text=b)  # a unique violation rolls both back

    @app.get("/same")
    async def same(session: AsyncSession, again: AsyncSession, engine: AsyncEngine) -> dict:
        return {"same": session is again, "engine": engine is db.engine}

    @app.get("/unbound")
    async def unbound() -> dict[str, bool]:
        return {"bound": bound_session() is not None}

    return app, db


async def test_engine_created_at_startup_and_disposed_at_shutdown(url: str) -> None:
    app, db = default_app(url)
    assert not db.started
    async with AsyncTestClient(app) as client:
        assert db.started
        assert (await client.get("/same")).json() == {"same": True, "engine": True}
    assert not db.started


async def test_writes_commit_by_themselves_and_the_session_is_released(url: str) -> None:
    app, db = default_app(url)
    async with AsyncTestClient(app) as client:
        created = await client.post("/notes/alpha")
        assert created.status_code == 201
        assert created.json() == {"id": 1, "in_unit_of_work": False}
        # a flushed but uncommitted row is visible inside the request, gone after it
        assert (await client.post("/pending/beta")).json() == {"count": 2}
        assert checked_out(db) == 0  # the session was closed: its connection is back
        assert await notes(url) == ["alpha"]


async def test_transaction_in_a_request_is_all_or_nothing(url: str) -> None:
    app, _ = default_app(url)
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        assert (await client.post("/pair/a/b")).status_code == 201
        assert (await client.post("/pair/c/a")).status_code == 500  # "a" exists: rolled back
        assert await notes(url) == ["a", "b"]


async def call_in_this_task(
    app: App, method: str, path: str, *, disconnect: bool = False
) -> list[dict[str, Any]]:
    """Call the ASGI app in the caller's own task and return what it sent.

    Args:
        app: The started app.
        method: The HTTP method.
        path: The path.
        disconnect: The client goes away right after sending the request.
    """
    sent: list[dict[str, Any]] = []
    received: list[bool] = []

    async def receive() -> dict[str, Any]:
        if received:
            if disconnect:
                return {"type": "http.disconnect"}
            await anyio.sleep_forever()  # the client stays connected
        received.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
    }
    await app(scope, receive, send)
    return sent


async def test_the_binding_ends_with_the_request(url: str) -> None:
    """In this very task: a binding left behind by the request would be visible here."""
    app, _ = default_app(url)
    async with AsyncTestClient(app):
        sent = await call_in_this_task(app, "POST", "/notes/direct")
        assert sent[0]["status"] == 201
        assert bound_session() is None


async def test_concurrent_requests_each_get_their_own_session(url: str) -> None:
    app = App()
    install_seaorm(app, url)
    sessions: list[AsyncSession] = []  # kept alive, so identities cannot be reused

    @app.get("/who/{n:int}")
    async def who(n: int, session: AsyncSession) -> dict[str, int]:
        sessions.append(session)
        await anyio.sleep(0.01 * (n % 3))  # interleave the requests
        assert current_session() is session
        return {"n": n, "count": await Note.count()}

    async with AsyncTestClient(app) as client:
        results: list[dict[str, Any]] = []

        async def call(n: int) -> None:
            results.append((await client.get(f"/who/{n}")).json())

        async with anyio.create_task_group() as group:
            for n in range(6):
                group.start_soon(call, n)
    assert sorted(r["n"] for r in results) == list(range(6))
    assert len({id(s) for s in sessions}) == 6


async def test_a_handler_without_the_session_has_none_bound(url: str) -> None:
    app, _ = default_app(url)
    async with AsyncTestClient(app) as client:
        await client.post("/notes/x")
        assert (await client.get("/unbound")).json() == {"bound": False}


# -- commit_on_success: the request is the unit of work -------------------------------------


def committing_app(url: str, **options: Any) -> tuple[App, Database]:
    app = App()
    db = install_seaorm(app, url, commit_on_success=True, **options)

    @app.post("/notes", status_code=201)
    async def create(texts: Annotated[list[str], Body()], session: AsyncSession) -> dict[str, Any]:
        for text in texts:
            await Note.create(text=text)  # only flushed
        return {"in_unit_of_work": in_unit_of_work(session), "count": await Note.count()}

    @app.post("/refuse")
    async def refuse(session: AsyncSession) -> None:
        await Note.create(text="refused")
        raise Conflict("no thanks")

    @app.post("/crash")
    async def crash(session: AsyncSession) -> None:
        await Note.create(text="crashed")
        raise RuntimeError("boom")

    @app.post("/bad-request")
    async def bad_request(session: AsyncSession) -> Response:
        await Note.create(text="bad")
        return JSONResponse({"error": "bad"}, status_code=400)

    @app.post("/orphan", status_code=201)
    async def orphan(session: AsyncSession) -> dict[str, int]:
        child = await Child.create(parent_id=999)  # flushes; the FK is checked at COMMIT
        return {"id": child.id}

    @app.post("/savepoint", status_code=201)
    async def savepoint(session: AsyncSession) -> None:
        await Note.create(text="outer")
        try:
            async with db.transaction():  # nested in the request: a SAVEPOINT
                await Note.create(text="inner")
                raise ValueError("undo the inner block only")
        except ValueError:
            pass

    @app.post("/stream")
    async def stream(session: AsyncSession) -> StreamingResponse:
        await Note.create(text="streamed")

        async def body() -> AsyncIterator[bytes]:
            # the commit happened before the response started: another connection sees it
            yield ",".join(await notes(url)).encode()

        return StreamingResponse(body(), media_type="text/plain")

    return app, db


async def test_commit_on_success_commits_before_the_response(url: str) -> None:
    app, db = committing_app(url)
    async with AsyncTestClient(app) as client:
        created = await client.post("/notes", json=["one", "two"])
        assert created.status_code == 201
        assert created.json() == {"in_unit_of_work": True, "count": 2}
        assert (await client.post("/stream")).text == "one,streamed,two"
        assert checked_out(db) == 0
    assert await notes(url) == ["one", "streamed", "two"]


async def test_commit_on_success_rolls_back_errors(url: str) -> None:
    app, db = committing_app(url)
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        assert problem(await client.post("/refuse"), 409)["detail"] == "no thanks"
        problem(await client.post("/crash"), 500)
        assert (await client.post("/bad-request")).status_code == 400
        assert (await client.post("/notes", json=["dup", "dup"])).status_code == 500
        assert checked_out(db) == 0
    assert await notes(url) == []


async def test_an_unused_session_ends_without_a_commit(url: str) -> None:
    app, db = committing_app(url)
    seen: list[AsyncSession] = []

    @app.get("/idle")
    async def idle(session: AsyncSession) -> dict[str, bool]:
        seen.append(session)
        return {"in_transaction": session.in_transaction()}

    async with AsyncTestClient(app) as client:
        assert (await client.get("/idle")).json() == {"in_transaction": False}
        assert not seen[0].in_transaction()  # nothing was begun to end it
        assert checked_out(db) == 0


async def test_a_failed_commit_becomes_the_error_response(url: str) -> None:
    app, db = committing_app(url)
    async with AsyncTestClient(app) as client:
        failed = problem(await client.post("/orphan"), 500)
        assert failed["instance"] == "/orphan"
        assert checked_out(db) == 0
        # the connection is clean: the next unit of work commits
        assert (await client.post("/notes", json=["after"])).status_code == 201
    assert await notes(url) == ["after"]
    async with Database(url) as other, other.session():
        assert await Child.count() == 0


async def test_a_failed_commit_goes_through_the_apps_exception_handlers(url: str) -> None:
    app, _ = committing_app(url)

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"conflict": True}, status_code=409)

    app.add_exception_handler(IntegrityError, conflict)
    async with AsyncTestClient(app) as client:
        response = await client.post("/orphan")
        assert (response.status_code, response.json()) == (409, {"conflict": True})


async def test_nested_transaction_is_a_savepoint_of_the_request(url: str) -> None:
    app, _ = committing_app(url)
    async with AsyncTestClient(app) as client:
        assert (await client.post("/savepoint")).status_code == 201
    assert await notes(url) == ["outer"]


async def test_a_client_gone_before_the_response_commits_nothing(url: str) -> None:
    app, db = committing_app(url)

    @app.post("/slow")
    async def slow(session: AsyncSession) -> None:
        await Note.create(text="abandoned")
        await anyio.sleep(30)  # cancelled when the client disconnects

    async with AsyncTestClient(app) as client:
        with anyio.fail_after(10):
            sent = await call_in_this_task(app, "POST", "/slow", disconnect=True)
        assert sent == []  # no response for a client that left
        assert checked_out(db) == 0
        assert (await client.post("/notes", json=["kept"])).status_code == 201
    assert await notes(url) == ["kept"]


async def test_a_websocket_gets_a_session_without_a_unit_of_work(url: str) -> None:
    app, _ = committing_app(url)

    @app.websocket("/ws")
    async def socket_note(websocket: WebSocket, session: AsyncSession) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await Note.create(text=text)  # commits by itself: no response status to wait for
        await websocket.send_json({"in_unit_of_work": in_unit_of_work(session)})

    async with AsyncTestClient(app) as client, client.websocket_connect("/ws") as ws:
        await ws.send_text("over a socket")
        assert await ws.receive_json() == {"in_unit_of_work": False}
    assert await notes(url) == ["over a socket"]


async def test_commit_on_success_without_the_middleware_is_a_clear_error(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    @controller("/notes")
    class Notes:
        @post("/{text}", status_code=201)
        async def create(self, text: str, session: AsyncSession) -> None:
            await Note.create(text=text)

    Db = SeaOrmModule.register(url, commit_on_success=True)

    @module(imports=[Db], controllers=[Notes])
    class Forgot:
        pass

    app = Application.create(Forgot)
    with caplog.at_level(logging.ERROR):
        async with AsyncTestClient(app, raise_server_exceptions=False) as client:
            problem(await client.post("/notes/x"), 500)
    assert "needs SessionCommitMiddleware" in caplog.text
    assert await notes(url) == []


# -- health, overrides, installation errors -------------------------------------------------


async def test_readiness_reports_the_database(url: str) -> None:
    app = App()
    health = HealthCheck()
    install_seaorm(app, url, health=health)
    app.include_router(health.router())
    async with AsyncTestClient(app) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        check = ready.json()["checks"]["seaorm"]
        assert check["status"] == "up"
        details = check["details"]
        assert details["dialect"] in ("sqlite", "postgresql")
        assert details["pool"]["checked_out"] == 0
        assert details["url"] == Database(url).url.render_as_string(hide_password=True)


async def test_readiness_is_down_when_the_database_does_not_answer() -> None:
    app = App()
    health = HealthCheck()
    unreachable = DatabaseConfig(url="postgresql://app:s3cret@127.0.0.1:1/none", connect_timeout=2)
    install_seaorm(app, Database(unreachable, ping_on_startup=False), health=health, name="orm")
    app.include_router(health.router())
    async with AsyncTestClient(app) as client:
        check = problem(await client.get("/health/ready"), 503)["checks"]["orm"]
    assert check["status"] == "down"
    assert check["details"]["dialect"] == "postgresql"
    assert check["details"]["error"]
    assert "s3cret" not in str(check)


async def test_readiness_before_startup_is_down(url: str) -> None:
    health = HealthCheck()
    install_seaorm(App(), url, health=health)
    report = await health.run(("ready",))
    assert report["checks"]["seaorm"]["details"]["error"] == "the database is not started"


async def test_a_database_that_does_not_answer_fails_the_startup() -> None:
    app = App()
    install_seaorm(app, DatabaseConfig(url="postgresql://x@127.0.0.1:1/none", connect_timeout=2))
    with pytest.raises(Exception, match="startup failed"):
        async with AsyncTestClient(app):
            pass


async def test_an_overridden_database_is_used_and_reported(url: str, tmp_path: Any) -> None:
    app = App()
    health = HealthCheck()
    installed = install_seaorm(app, f"sqlite:///{tmp_path}/unused.db", health=health)
    app.include_router(health.router())

    @app.post("/notes/{text}", status_code=201)
    async def create(text: str, session: AsyncSession, db: Database) -> dict[str, str]:
        await Note.create(text=text)
        return {"url": str(db.url)}

    async with Database(url) as replacement:
        app.dependency_overrides[Database] = replacement
        async with AsyncTestClient(app) as client:
            assert (await client.post("/notes/over")).json() == {"url": str(replacement.url)}
            ready = (await client.get("/health/ready")).json()
            assert ready["checks"]["seaorm"]["details"]["dialect"] == replacement.dialect
        assert not installed.started  # the installed database was never opened
    assert await notes(url) == ["over"]


async def test_a_database_started_by_its_owner_is_borrowed(url: str) -> None:
    async with Database(url) as db:
        for _ in range(2):  # two apps in a row on the same database
            app = App()
            assert install_seaorm(app, db) is db

            @app.get("/count")
            async def count(session: AsyncSession) -> int:
                return await Note.count()

            async with AsyncTestClient(app) as client:
                assert (await client.get("/count")).json() == 0
            assert db.started  # not disposed of by the app: its owner does that
    assert not db.started


def test_installing_twice_is_refused(tmp_path: Any) -> None:
    app = App()
    install_seaorm(app, f"sqlite:///{tmp_path}/a.db")
    with pytest.raises(DependencyError, match="already called"):
        install_seaorm(app, f"sqlite:///{tmp_path}/b.db")


def test_a_bad_url_fails_at_install() -> None:
    with pytest.raises(ValueError, match="invalid database URL"):
        install_seaorm(App(), "not a url")


# -- the module style -----------------------------------------------------------------------


class NoteService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def total(self) -> int:
        async with self.db.session(bind=False) as session:
            return int(await session.scalar(select(func.count()).select_from(Note)) or 0)


@controller("/orphans")
class OrphanController:
    @post("", status_code=201)
    async def create(self, session: AsyncSession) -> None:
        await Child.create(parent_id=999)  # the deferred FK fails the COMMIT


@controller("/notes")
class NotesController:
    def __init__(self, service: NoteService) -> None:
        self.service = service

    @post("", status_code=201)
    async def create(self, texts: Annotated[list[str], Body()], session: AsyncSession) -> None:
        for text in texts:
            await Note.create(text=text)

    @get("/total")
    async def total(self) -> dict[str, int]:
        return {"total": await self.service.total()}


async def test_module_style_provides_database_and_sessions(url: str) -> None:
    health = HealthCheck()
    Db = SeaOrmModule.register(url, health=health, commit_on_success=True)
    assert isinstance(Db.database, Database)
    assert Db.middleware.cls is SessionCommitMiddleware

    # NOTE: no import of Db: a global module's exports are visible everywhere.
    @module(providers=[NoteService], controllers=[NotesController])
    class NotesModule:
        pass

    @module(imports=[Db, NotesModule])
    class Root:
        pass

    app = Application.create(Root, middleware=[Db.middleware])
    app.include_router(health.router())
    async with AsyncTestClient(app) as client:
        assert (await client.post("/notes", json=["m1", "m2"])).status_code == 201
        assert (await client.post("/notes", json=["m3", "m3"])).status_code == 500
        assert (await client.get("/notes/total")).json() == {"total": 2}
        assert (await client.get("/health/ready")).json()["checks"]["seaorm"]["status"] == "up"
    assert not Db.database.started


async def test_module_style_failed_commit_is_a_problem_500(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    Db = SeaOrmModule.register(url, commit_on_success=True)

    @module(imports=[Db], controllers=[OrphanController, NotesController], providers=[NoteService])
    class Root:
        pass

    app = Application.create(Root, middleware=[Db.middleware])
    with caplog.at_level(logging.ERROR, "armature_ext.seaorm"):
        async with AsyncTestClient(app) as client:
            failed = problem(await client.post("/orphans"), 500)
            assert failed["instance"] == "/orphans"
            assert (await client.post("/notes", json=["fine"])).status_code == 201
    assert "COMMIT failed for POST /orphans" in caplog.text
    assert await notes(url) == ["fine"]


async def test_module_not_global_must_be_imported(tmp_path: Any) -> None:
    Db = SeaOrmModule.register(f"sqlite:///{tmp_path}/m.db", global_=False)

    @module(providers=[NoteService])  # NoteService needs Database
    class Feature:
        pass

    @module(imports=[Db, Feature])
    class Root:
        pass

    with pytest.raises(Exception, match="Feature does not import"):
        async with AsyncTestClient(Application.create(Root)):
            pass
