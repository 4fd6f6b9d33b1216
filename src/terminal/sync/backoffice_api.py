"""The back office's API (``<backoffice_url>/api/v1/…``, docs/protocol.md): time, enrolment,
usage ingest.  Answers come back as bytes plus their detached signature; checking them is the
caller's job (it holds the trusted keys)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from offline_store.errors import DocumentRejected
from offline_store.exchange import SIGNATURE_HEADER, parse_signature_header, signature_header
from offline_store.trust import Signature
from terminal.clock import ClockSample
from terminal.sync.transport import RetryPolicy, Transient, check_status, with_retries


@dataclass(frozen=True, slots=True)
class SignedAnswer:
    body: bytes
    signature: Signature


@dataclass(frozen=True, slots=True)
class TimedAnswer:
    answer: SignedAnswer
    sent: ClockSample
    received: ClockSample

    @property
    def round_trip(self) -> float:
        return self.received.monotonic - self.sent.monotonic


class BackOfficeApi:
    def __init__(
        self,
        base_url: str,
        client: httpx.Client,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._policy = policy
        self._sleep = sleep

    def time(self, nonce: str, sample: Callable[[], ClockSample]) -> TimedAnswer:
        """The back office's signed time; ``sample`` reads the terminal's clocks around it."""

        def attempt() -> TimedAnswer:
            sent = sample()
            response = self._client.get(f"{self.base_url}/api/v1/time", params={"nonce": nonce})
            received = sample()
            return TimedAnswer(self._signed(response, "asking the back office's time"), sent,
                               received)  # fmt: skip

        return with_retries(self._policy, "asking the back office's time", attempt,
                            sleep=self._sleep)  # fmt: skip

    def enrol(self, terminal_id: str, token: str, public_key: str) -> SignedAnswer:
        body = {"terminal_id": terminal_id, "token": token, "public_key": public_key}

        def attempt() -> SignedAnswer:
            response = self._client.post(f"{self.base_url}/api/v1/enrol", json=body)
            return self._signed(response, "enrolling")

        return with_retries(self._policy, "enrolling", attempt, sleep=self._sleep)

    def post_usage(self, batch: bytes, signature: Signature, batch_id: str) -> SignedAnswer:
        what = f"uploading batch {batch_id}"

        def attempt() -> SignedAnswer:
            response = self._client.post(
                f"{self.base_url}/api/v1/usage",
                content=batch,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: signature_header(signature),
                },
            )
            return self._signed(response, what)

        return with_retries(self._policy, what, attempt, sleep=self._sleep)

    def _signed(self, response: httpx.Response, what: str) -> SignedAnswer:
        check_status(response, what)
        header = response.headers.get(SIGNATURE_HEADER)
        if not header:
            # an answer without its signature is no answer (a proxy's page, a cut response)
            raise Transient(f"{what}: the answer carries no {SIGNATURE_HEADER}")
        try:
            signature = parse_signature_header(header)
        except DocumentRejected as error:  # nor is one with a garbled signature
            raise Transient(f"{what}: {error.message}") from error
        return SignedAnswer(response.content, signature)
