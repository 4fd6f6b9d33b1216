"""Benchmark: ESSC1 ``verify_code`` against a bare ``cryptography`` signature verify, same run.

Target (issue 4): ``verify_code`` p99 at most 1 ms for every case, as the station wires it.

Cases (codes from the issuer simulator's fixture keys, 64 distinct codes per case, cycled):

* ``ES256``       the ``shanghai`` key (P-256), Shanghai cards;
* ``EdDSA``       the ``jiangsu`` key (Ed25519), Jiangsu cards;
* ``shared kid``  signed by ``anhui-next``, whose kid it shares with ``anhui`` (a rotation):
                  the store gives ``anhui`` first, so its signature check fails before
                  ``anhui-next``'s holds, the worst case of "several keys may share a kid".

Timed, interleaved round by round (the order rotates each round):

* ``station``  ``verify_code`` as ``Station.open`` wires it: ``keys_for`` and ``seen`` read
               the store's list connection (issuer keys synced through signed bundles by
               ``seed_demo_store``), text → base45 → zlib → COSE → claims → keys → signature
               → times → credential.  The target is judged on this one;
* ``memory``   the same verifier with the keys in a dict and no replay check: the verifier
               alone, without the store's two small queries;
* ``floor``    the bare signature check ``cryptography`` must do: the same algorithm, the very
               same pre-loaded public key object (the verifier's own cache), the same
               Sig_structure bytes, the signature already in the form ``verify`` takes (DER
               for ES256).  For the shared kid the floor is the two verifies the contract
               forces: under ``anhui`` (fails) and under ``anhui-next`` (holds).

Run: ``.venv/bin/python bench/verify_code.py [--rounds N] [--json FILE]`` (default 20,000
verifies per case and variant); the tests run it with ``--check`` (a few hundred rounds,
every answer checked, no timing asserted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from apdu.ssc import Authenticity
from latency import interleaved, line, ratios, summary
from offline_store.holder_refs import HolderKeyer
from offline_store.issuer_keys import ES256, IssuerKey
from offline_store.store import Store
from terminal.clock import ClockSample
from terminal.codes import essc
from terminal.codes.essc import PREFIX, verify_code
from terminal.codes.issuer import IssuerSimulator
from terminal.credential import Credential, CredentialKind
from terminal.demo_lists import seed_demo_store
from terminal.errors import CodeRejected

TARGET_P99_MS = 1.0
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
SKEW = dt.timedelta(seconds=60)
CODES_PER_CASE = 64
WARM_UP = 300
JOURNAL_KEY = b"benchmark journal key 0123456789"
LIST_KEY = b"benchmark list key 0123456789ab"


@dataclass(frozen=True)
class Case:
    name: str
    key: str  # the simulator key that signs
    region: str  # the cards' issuing region
    tried: tuple[str, ...]  # the keys the verifier tries, in the store's order


CASES = (
    Case("ES256", "shanghai", "310100", ("shanghai",)),
    Case("EdDSA", "jiangsu", "320500", ("jiangsu",)),
    Case("shared kid", "anhui-next", "340100", ("anhui", "anhui-next")),
)


@dataclass(frozen=True)
class Code:
    text: str
    card_id: str
    cti: bytes
    message: bytes  # the COSE Sig_structure the signature covers
    signature: bytes  # COSE form: r||s or the Ed25519 signature


def card_id(region: str, serial: int) -> str:
    return f"{region}D15600000{serial:017X}"[:32]


def signed_parts(text: str) -> tuple[bytes, bytes]:
    """(Sig_structure, signature) of a code, decoded independently of the verifier."""
    cose = zlib.decompress(base45.b45decode(text.removeprefix(PREFIX)))
    item = cbor2.loads(cose)
    protected, _, payload, signature = item.value if isinstance(item, cbor2.CBORTag) else item
    return cbor2.dumps(["Signature1", protected, b"", payload]), bytes(signature)


def make_codes(simulator: IssuerSimulator, case: Case, count: int) -> list[Code]:
    codes = []
    for n in range(count):
        cid = card_id(case.region, 1000 * CASES.index(case) + n)
        cti = (0xB4 << 120 | CASES.index(case) << 64 | n).to_bytes(16, "big")
        text = simulator.issue(
            card_id=cid,
            card_number=f"S{n:08d}",
            iat=NOW - dt.timedelta(seconds=30),
            name="张测试",
            birth_date=dt.date(1985, 2, 14),
            level=1 + n % 2,
            cti=cti,
            key=case.key,
        )
        codes.append(Code(text, cid, cti, *signed_parts(text)))
    return codes


def bare_verify(key: IssuerKey) -> Callable[[Code], None]:
    """The floor's verify under one key: the verifier's own cached key object, nothing else."""
    public = essc._public_key(key.algorithm, key.public_key)  # the very same key object
    if isinstance(public, Ed25519PublicKey):
        eddsa = public

        def verify_eddsa(code: Code) -> None:
            eddsa.verify(code.signature, code.message)

        return verify_eddsa
    assert isinstance(public, ec.EllipticCurvePublicKey)
    p256, algorithm = public, ec.ECDSA(hashes.SHA256())

    def verify_es256(code: Code) -> None:
        # the DER form is made once per code, outside the timing (see der_cache)
        p256.verify(der_cache[code.signature], code.message, algorithm)

    return verify_es256


der_cache: dict[bytes, bytes] = {}


def floor_for(keys: Sequence[IssuerKey]) -> Callable[[Code], None]:
    """All keys but the last fail on the code (checked in --check); the last one holds."""
    verifies = [bare_verify(key) for key in keys]
    failing, holding = verifies[:-1], verifies[-1]
    if not failing:
        return holding

    def floor(code: Code) -> None:
        for verify in failing:
            try:
                verify(code)
            except InvalidSignature:
                continue
            raise AssertionError("a key that did not sign the code verified it")
        holding(code)

    return floor


def check_answers(
    case: Case,
    codes: list[Code],
    verifiers: dict[str, Callable[[str], Credential]],
    simulator: IssuerSimulator,
    keys: Sequence[IssuerKey],
) -> None:
    """Every variant accepts every code with the right facts; a forged one is refused."""
    assert [key.kid for key in keys] == [simulator.key(name).kid for name in case.tried]
    floor = floor_for(keys)
    for code in codes:
        floor(code)
        for credential in (verify(code.text) for verify in verifiers.values()):
            assert credential.kind is CredentialKind.ESSC_QR
            assert credential.authenticity is Authenticity.VERIFIED
            assert credential.card_id == code.card_id
            assert credential.code is not None
            assert credential.code.code_id == code.cti
            assert credential.code.issuer == case.region[:2] + "0000"
            assert not credential.code.replayed
    for key in keys[:-1]:  # the shared kid: the first candidate really fails
        try:
            bare_verify(key)(codes[0])
        except InvalidSignature:
            pass
        else:
            raise AssertionError(f"{case.name}: {key.kid.hex()} should not verify the code")
    forged = simulator.issue(
        card_id=codes[0].card_id,
        card_number="S00000000",
        iat=NOW - dt.timedelta(seconds=30),
        key=case.key,
        bad_signature=True,
    )
    for verify in verifiers.values():
        reason = rejection(verify, forged)
        assert reason == "bad_signature", f"{case.name}: a forged code got {reason}"


def rejection(verify: Callable[[str], Credential], text: str) -> str | None:
    """The reason ``verify`` refuses ``text`` for (None: accepted)."""
    try:
        verify(text)
    except CodeRejected as rejected:
        return rejected.reason
    return None


def bench_case(
    case: Case,
    *,
    simulator: IssuerSimulator,
    station: Callable[[str], Credential],
    memory: Callable[[str], Credential],
    keys: Sequence[IssuerKey],
    rounds: int,
    check: bool,
) -> dict[str, object]:
    codes = make_codes(simulator, case, CODES_PER_CASE)
    for code in codes:
        if keys[-1].algorithm == ES256:
            half = len(code.signature) // 2
            der_cache[code.signature] = encode_dss_signature(
                int.from_bytes(code.signature[:half]), int.from_bytes(code.signature[half:])
            )
    if check:
        check_answers(case, codes, {"station": station, "memory": memory}, simulator, keys)
    floor = floor_for(keys)
    pool = len(codes)
    actions: dict[str, Callable[[int], object]] = {
        "station": lambda i: station(codes[i % pool].text),
        "memory": lambda i: memory(codes[i % pool].text),
        "floor": lambda i: floor(codes[i % pool]),
    }
    interleaved(actions, WARM_UP)
    samples = interleaved(actions, rounds)
    figures = {name: summary(values) for name, values in samples.items()}
    return {
        "case": case.name,
        "keys_tried": len(keys),
        **figures,
        "station_vs_floor": ratios(figures["station"], figures["floor"]),
        "memory_vs_floor": ratios(figures["memory"], figures["floor"]),
    }


def run(rounds: int, check: bool, workdir: Path) -> list[dict[str, object]]:
    simulator = IssuerSimulator()
    keyer = HolderKeyer(LIST_KEY)
    store = Store.open(workdir / "store.db", journal_key=JOURNAL_KEY)
    seed_demo_store(store, keyer, workdir / "repository", sample=ClockSample(NOW, 1000.0, "b"))
    lists = store.reader()
    station = functools.partial(
        verify_code, keys_for=lists.issuer_keys, now=NOW, skew=SKEW, seen=lists.code_seen
    )  # as Station.open wires it (production=False: the fixture keys are test keys)
    by_kid: dict[bytes, list[IssuerKey]] = {}
    for key in simulator.issuer_keys():
        by_kid.setdefault(key.kid, []).append(key)
    memory = functools.partial(
        verify_code, keys_for=lambda kid: by_kid.get(kid, []), now=NOW, skew=SKEW
    )
    rows = []
    try:
        for case in CASES:
            keys = lists.issuer_keys(simulator.key(case.key).kid)
            rows.append(
                bench_case(
                    case,
                    simulator=simulator,
                    station=station,
                    memory=memory,
                    keys=keys,
                    rounds=rounds,
                    check=check,
                )
            )
    finally:
        lists.close()
        store.close()
    return rows


def report(rows: list[dict[str, object]], rounds: int) -> bool:
    print(f"ESSC1 verify_code, {rounds:,} interleaved rounds per case (ms per verify)")
    worst = 0.0
    for row in rows:
        station, memory, floor = row["station"], row["memory"], row["floor"]
        versus, alone = row["station_vs_floor"], row["memory_vs_floor"]
        assert isinstance(station, dict)
        assert isinstance(memory, dict)
        assert isinstance(floor, dict)
        assert isinstance(versus, dict)
        assert isinstance(alone, dict)
        worst = max(worst, station["p99_ms"])
        print(f"{row['case']} ({row['keys_tried']} key(s) tried)")
        print(
            "  "
            + line("verify_code, station", station)
            + f"   {versus['ratio_p50']:5.2f}x / {versus['ratio_p99']:5.2f}x floor (p50/p99)"
        )
        print(
            "  "
            + line("verify_code, keys in memory", memory)
            + f"   {alone['ratio_p50']:5.2f}x / {alone['ratio_p99']:5.2f}x floor (p50/p99)"
        )
        print("  " + line("floor: bare verify", floor))
    met = worst <= TARGET_P99_MS
    print(
        f"target: station p99 <= {TARGET_P99_MS:g} ms in every case "
        f"(worst {worst:.3f} ms: {'met' if met else 'MISSED'})"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20_000, help="timed verifies per case")
    parser.add_argument("--check", action="store_true", help="smoke mode: check every answer")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--workdir", type=Path, default=None, help="where the store is made")
    args = parser.parse_args()
    rounds = min(args.rounds, 300) if args.check else args.rounds
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        rows = run(rounds, args.check, Path(folder))
    met = report(rows, rounds)
    if args.check:
        print("checks passed: every code verified with its facts, forged codes refused")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if met or args.check else 1


if __name__ == "__main__":
    sys.exit(main())
