"""A misbehaving network between the terminal and the real back office, for fault tests.

An HTTP proxy (Starlette on uvicorn, in a thread) in front of the back office process.  By
default it forwards every request unchanged; a test arms faults for requests whose path
starts with a prefix: answer late, answer 500 (or 503 with ``Retry-After``), cut the body
short after its headers promised more, or flip its bytes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "te",
               "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}  # fmt: skip


@dataclass
class Fault:
    #: "delay", "status" (instead of forwarding), "lost" (forwarded, then the answer is
    #: replaced by ``status``: the back office did the work, the terminal never hears of it),
    #: "truncate", "corrupt"
    kind: str
    prefix: str = "/"
    times: int = 1_000_000
    seconds: float = 0.0
    status: int = 500
    retry_after: str | None = None


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def arm(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def _take(self, path: str) -> Fault | None:
        for fault in self.faults:
            if path.startswith(fault.prefix) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    async def _forward(self, request: Request) -> Response:
        path = request.url.path
        self.requests.append((request.method, path, dict(request.headers)))
        fault = self._take(path)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return Response(b'{"error":"injected","message":"fault proxy"}', fault.status,
                            headers=headers, media_type="application/json")  # fmt: skip
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with httpx.AsyncClient(base_url=self.upstream, timeout=60) as client:
            answer = await client.request(
                request.method, path, params=request.query_params,
                content=await request.body(), headers=headers,
            )  # fmt: skip
        if fault is not None and fault.kind == "lost":
            return Response(b"", fault.status)
        body = answer.content
        out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        if fault is not None and fault.kind == "corrupt" and body:
            body = bytes(b ^ 0x5A for b in body)
        if fault is not None and fault.kind == "truncate" and len(body) > 1:
            out_headers["content-length"] = str(len(body))
            return _ShortResponse(body[: len(body) // 2], answer.status_code, out_headers)
        out_headers["content-length"] = str(len(body))
        return Response(body, answer.status_code, headers=out_headers)

    def start(self) -> FaultProxy:
        app = Starlette(routes=[Route("/{path:path}", self._forward,
                                     methods=["GET", "POST", "HEAD"])])  # fmt: skip
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="critical", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                break
            threading.Event().wait(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


class _ShortResponse(Response):
    """Headers promising the whole body, then half of it, then the connection drops."""

    def __init__(self, partial: bytes, status: int, headers: dict[str, str]) -> None:
        super().__init__(b"", status)
        self._partial = partial
        self.raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: object, receive: object, send: object) -> None:  # type: ignore[override]
        await send({"type": "http.response.start", "status": self.status_code,  # type: ignore[operator]
                    "headers": self.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": self._partial, "more_body": True})  # type: ignore[operator]
        raise ConnectionResetError("fault proxy: body cut short")
