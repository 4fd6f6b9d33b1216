"""Reading a social security card: the session against one card.

The card's shape is declared in :mod:`apdu.ssc.elements`; this module holds only what a
session does with it, in order:

1. SELECT the SSSE application; its FCI may name the card's algorithm (``9F0C``).
2. SELECT EF05 and read, by tag, the identification code and spec version (free on every
   generation): the generation follows from the spec version, the region from the code.
3. With a security module: INTERNAL AUTHENTICATE with fresh terminal randomness (the card
   proves it is genuine); for generation 3 then GET CHALLENGE + EXTERNAL AUTHENTICATE key
   ``0A`` (the terminal proves itself, and the protected data opens).
4. Read the remaining EF05 elements and EF06 by tag.  Generation-3 protected elements that
   could not be unlocked are left out and named in ``unavailable``.

Any failure raises; a partial record is never returned as if it were complete.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from apdu.atr import parse_atr
from apdu.errors import CardDataError, NotSocialSecurityCard, SecurityModuleMissing, StatusError
from apdu.security import CardAlgorithm, CardKey, Diversification, SecurityModule
from apdu.ssc import commands
from apdu.ssc.elements import (
    EF05,
    EF06,
    SSSE_AID,
    DataElement,
    elements_of,
    generation_of,
)
from apdu.ssc.record import Authenticity, CardRecord
from apdu.status import describe
from apdu.tlv import decode_simple_tlv, iter_ber_tlv
from apdu.transport import CardChannel

RandomSource = Callable[[int], bytes]

_FIRST_FIELDS = ("card_id", "spec_version")


def parse_fci(fci: bytes) -> CardAlgorithm:
    """The card's algorithm from its FCI (``9F0C 03 86 01 <alg>``); 3DES when not stated."""
    if not fci:
        return CardAlgorithm.TDES
    objects = iter_ber_tlv(fci, "SSSE FCI")
    if len(objects) != 1 or objects[0][0] != 0x6F:
        raise CardDataError("SSSE FCI: the application answered without an FCI template (6F)")
    children = iter_ber_tlv(objects[0][1], "SSSE FCI 6F")
    candidates = list(children)
    for tag, value in children:
        if tag == 0x84 and value != SSSE_AID:
            raise NotSocialSecurityCard(
                f"the selected application is {value.hex().upper()}, not the SSSE application",
                0x9000,
            )
        if tag == 0xA5:
            candidates.extend(iter_ber_tlv(value, "SSSE FCI A5"))
    for tag, value in candidates:
        if tag == 0x9F0C:
            inner = iter_ber_tlv(value, "SSSE FCI 9F0C")
            for inner_tag, inner_value in inner:
                if inner_tag == 0x86 and len(inner_value) == 1:
                    try:
                        return CardAlgorithm(inner_value[0])
                    except ValueError:
                        raise CardDataError(
                            f"SSSE FCI: algorithm {inner_value[0]:02X} is not 01, 02 or 03"
                        ) from None
            raise CardDataError(f"SSSE FCI: 9F0C {value.hex().upper()} does not hold 86 01 <alg>")
    return CardAlgorithm.TDES


class CardSession:
    """One read of one card through a channel (state: what is selected and unlocked)."""

    def __init__(
        self,
        channel: CardChannel,
        security_module: SecurityModule | None = None,
        random: RandomSource = secrets.token_bytes,
    ) -> None:
        self.channel = channel
        self.security_module = security_module
        self.random = random
        self.values: dict[str, object] = {}

    def _require_ok(self, response_sw: int, step: str) -> None:
        if response_sw != 0x9000:
            raise StatusError(f"the card refused {step}: {describe(response_sw)}", response_sw)

    def select_application(self) -> CardAlgorithm:
        response = self.channel.send(commands.select_application(SSSE_AID))
        if not response.ok:
            raise NotSocialSecurityCard(
                "not a social security card: it has no social security application "
                f"(SELECT answered {describe(response.sw)}). Bank, transport and ID cards "
                "cannot be read here.",
                response.sw,
            )
        return parse_fci(response.data)

    def select_file(self, ef: int) -> None:
        response = self.channel.send(commands.select_file(ef))
        self._require_ok(response.sw, f"SELECT EF{ef & 0xFF:02X}")

    def read_element(self, element: DataElement) -> object | None:
        """The decoded element; ``None`` when an optional element is not on the card."""
        response = self.channel.send(commands.read_record_by_tag(element.tag, element.length))
        if response.sw == 0x6A83:
            if element.field == "name_extension":
                return None
            raise CardDataError(f"{element.where}: the card has no such record")
        self._require_ok(response.sw, f"READ RECORD {element.where}")
        tag, value = decode_simple_tlv(response.data, element.where)
        if tag != element.tag:
            raise CardDataError(f"{element.where}: the card returned tag {tag:02X} instead")
        return element.decode_value(value)

    def _module(self) -> SecurityModule:
        if self.security_module is None:
            raise SecurityModuleMissing("this step needs a security module")
        return self.security_module

    def authenticate_card(
        self, algorithm: CardAlgorithm, diversification: Diversification
    ) -> tuple[Authenticity, str]:
        module = self._module()
        process, source = self.random(8), self.random(8)
        expected = module.cryptogram(
            CardKey.INTERNAL_AUTHENTICATION, algorithm, diversification, process, source
        )
        response = self.channel.send(commands.internal_authenticate(process, source))
        if not response.ok:
            return Authenticity.FAILED, (
                f"the card refused internal authentication ({describe(response.sw)})"
            )
        if not hmac.compare_digest(response.data, expected):
            return Authenticity.FAILED, (
                "the card's cryptogram does not match the security module: possible clone"
            )
        return Authenticity.VERIFIED, f"verified by {module.description}"

    def unlock_protected(self, algorithm: CardAlgorithm, diversification: Diversification) -> bool:
        module = self._module()
        challenge_response = self.channel.send(commands.get_challenge(8))
        self._require_ok(challenge_response.sw, "GET CHALLENGE")
        challenge = challenge_response.data
        if len(challenge) != 8:
            raise CardDataError(f"GET CHALLENGE returned {len(challenge)} bytes instead of 8")
        proof = module.cryptogram(CardKey.RKSSSE, algorithm, diversification, challenge, challenge)
        response = self.channel.send(
            commands.external_authenticate(CardKey.RKSSSE.value, proof, challenge)
        )
        return response.ok

    def read_remaining(self, generation: int, unlocked: bool) -> set[str]:
        """Read every element not read yet; return the protected ones left unread."""
        values = self.values
        unavailable: set[str] = set()
        for ef in (EF05, EF06):
            wanted = []
            for element in elements_of(ef):
                if element.field in values or generation < element.min_generation:
                    continue
                if element.protected_gen3 and not unlocked:
                    unavailable.add(element.field)
                else:
                    wanted.append(element)
            if wanted and ef == EF06:
                self.select_file(EF06)
            for element in wanted:
                values[element.field] = self.read_element(element)

        return unavailable

    def read(self) -> CardRecord:
        transport = self.channel.transport
        atr = parse_atr(transport.atr)
        algorithm = self.select_application()
        self.select_file(EF05)
        ef05 = elements_of(EF05)
        first = {e.field: e for e in ef05 if e.field in _FIRST_FIELDS}
        values = self.values
        for name in _FIRST_FIELDS:
            values[name] = self.read_element(first[name])
        generation = generation_of(str(values["spec_version"])) or 0
        card_id = str(values["card_id"])

        authentic, detail = (
            Authenticity.NOT_CHECKED,
            "no security module: a clone cannot be detected",
        )
        unlocked = generation < 3
        if self.security_module is not None:
            diversification = Diversification.for_card(atr.raw, card_id[:6])
            authentic, detail = self.authenticate_card(algorithm, diversification)
            if not unlocked and authentic is Authenticity.VERIFIED:
                unlocked = self.unlock_protected(algorithm, diversification)
                if not unlocked:
                    authentic = Authenticity.FAILED
                    detail = "the card rejected the security module's key (EXTERNAL AUTHENTICATE)"

        unavailable = self.read_remaining(generation, unlocked)
        holder_name = values.pop("name", None)
        extension = values.pop("name_extension", None)
        if isinstance(holder_name, str) and isinstance(extension, str):
            values["name"] = holder_name + extension
        elif holder_name is not None:
            values["name"] = holder_name
        unavailable.discard("name_extension")  # part of the name: "name" says it all
        return CardRecord(
            reader=transport.reader,
            atr=atr.raw,
            generation=generation,
            algorithm=algorithm,
            authentic=authentic,
            authentication_detail=detail,
            unavailable=frozenset(unavailable),
            **values,  # type: ignore[arg-type]
        )


def read_card(
    channel: CardChannel,
    security_module: SecurityModule | None = None,
    random: RandomSource = secrets.token_bytes,
) -> CardRecord:
    """Read the card in ``channel``'s reader; see the module docstring for the steps."""
    return CardSession(channel, security_module, random).read()
