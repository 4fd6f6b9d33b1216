"""The HTTP front end (``ykt-backoffice serve``): Starlette on uvicorn.

Routes (``docs/protocol.md``):

* ``/repo/...``: the static repository; ``ETag`` + ``If-None-Match`` → 304, ``Range`` +
  ``If-Range`` → 206 (Starlette's ``StaticFiles``), ``Cache-Control`` immutable for ``lists/``
  and ``objects/``, ``no-cache`` for ``index.json``;
* ``GET /api/v1/time?nonce=``, ``POST /api/v1/enrol``, ``POST /api/v1/usage``: signed answers,
  errors as ``{"error", "message"}``;
* ``GET /api/v1/health``.

Blocking work (SQLite, key files) runs in the thread pool; the database's lock and
``BEGIN IMMEDIATE`` serialise the writes, so concurrent identical uploads are stored once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from backoffice.errors import BackOfficeError, BadSignature, Malformed, RequestRejected, TooLarge
from backoffice.service import BackOffice
from offline_store.bundles import INDEX
from offline_store.errors import DocumentRejected
from offline_store.exchange import (
    MAX_BATCH_BYTES,
    SIGNATURE_HEADER,
    parse_signature_header,
    signature_header,
)

log = logging.getLogger(__name__)
MAX_ENROL_BYTES = 64 * 1024
IMMUTABLE = "public, max-age=31536000, immutable"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RepositoryFiles(StaticFiles):
    """The repository as static files, with the caching the protocol allows."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        name = Path(full_path).name
        response.headers["cache-control"] = "no-cache" if name == INDEX else IMMUTABLE
        return response


def error_response(error: BackOfficeError) -> JSONResponse:
    if isinstance(error, RequestRejected):
        return JSONResponse({"error": error.code, "message": error.message}, error.status)
    log.warning("request failed: %s", error.message)
    return JSONResponse(
        {"error": "unavailable", "message": error.message}, 503, headers={"Retry-After": "5"}
    )


def signed(document: bytes, signature_text: str) -> Response:
    return Response(
        document, media_type="application/json", headers={SIGNATURE_HEADER: signature_text}
    )


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise TooLarge(f"the body is {length} bytes, over the limit of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the body is over the limit of {limit} bytes")
    return bytes(body)


def create_app(
    root: Path,
    *,
    public_url: str,
    repository_url: str | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> Starlette:
    """The app for the data directory ``root``; ``public_url`` goes into enrolment grants."""
    office = BackOffice.open(root)  # fail here, before serving, when the directory is wrong

    async def time(request: Request) -> Response:
        def answer() -> Response:
            document = office.time_statement(request.query_params.get("nonce"), now=clock())
            return signed(document, signature_header(office.sign_statement(document)))

        return await _guarded(answer)

    async def enrol(request: Request) -> Response:
        try:
            raw = await read_body(request, MAX_ENROL_BYTES)
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise Malformed("the enrolment request is not JSON") from exc
        except BackOfficeError as error:
            return error_response(error)

        def answer() -> Response:
            document = office.enrol(
                body, backoffice_url=public_url, repository_url=repository_url, now=clock()
            )
            return signed(document, signature_header(office.sign_statement(document)))

        return await _guarded(answer)

    async def usage(request: Request) -> Response:
        try:
            try:
                signature = parse_signature_header(request.headers.get(SIGNATURE_HEADER))
            except DocumentRejected as exc:
                raise BadSignature(exc.message) from exc
            raw = await read_body(request, MAX_BATCH_BYTES)
        except BackOfficeError as error:
            return error_response(error)

        def answer() -> Response:
            receipt = office.receive(raw, [signature], now=clock())
            document = receipt.acknowledgement.to_bytes()
            return signed(document, signature_header(office.sign_statement(document)))

        return await _guarded(answer)

    async def health(request: Request) -> Response:
        def answer() -> Response:
            with office.db.reading() as connection:
                connection.execute("SELECT 1").fetchone()
            return JSONResponse({"status": "ok", "protocol": "ykt-link/1"})

        return await _guarded(answer)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            office.close()

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s: %s", request.url.path, type(exc).__name__)
        return JSONResponse({"error": "internal", "message": "the back office failed"}, 500)

    app = Starlette(
        exception_handlers={Exception: internal_error},
        routes=[
            Route("/api/v1/time", time, methods=["GET"]),
            Route("/api/v1/enrol", enrol, methods=["POST"]),
            Route("/api/v1/usage", usage, methods=["POST"]),
            Route("/api/v1/health", health, methods=["GET"]),
            Mount("/repo", RepositoryFiles(directory=office.data.repo, check_dir=False)),
        ],
        lifespan=lifespan,
    )
    app.state.office = office
    return app


async def _guarded(answer: Callable[[], Response]) -> Response:
    try:
        return await run_in_threadpool(answer)
    except BackOfficeError as error:
        return error_response(error)


class _Server(uvicorn.Server):
    """uvicorn, saying where it listens once it accepts connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            sys.stdout.write(f"listening on {self.url}\n")
            sys.stdout.flush()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP, and an answer written as headers then body would otherwise wait ~40 ms
    # for the client's delayed ACK on every request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BackOfficeError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    return sock


def serve(
    root: Path,
    *,
    host: str,
    port: int,
    public_url: str | None = None,
    repository_url: str | None = None,
    log_level: str = "warning",
) -> None:
    """Serve until SIGTERM or SIGINT (then finish the requests under way and stop)."""
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    app: Any = create_app(root, public_url=public_url or url, repository_url=repository_url)
    config = uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=10)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again under the
    # handlers it found: make those a plain exit 0 (a requested stop is a success)
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_quietly)
    try:
        _Server(config, url).run(sockets=[sock])
    finally:
        sock.close()


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
