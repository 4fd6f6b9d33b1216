"""A security module in software: master keys from a TOML file.

File format (hex strings, 16-byte keys; one entry per key and algorithm)::

    test_keys = true          # published test keys: a production terminal refuses them

    [keys.internal-authentication]
    3des = "00112233445566778899AABBCCDDEEFF"
    sm4  = "..."

    [keys.rkssse]
    3des = "..."
    sm4  = "..."
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from apdu.errors import AlgorithmUnsupported, KeyMissing, SecurityModuleError, SecurityModuleMissing
from apdu.security._crypto import CardAlgorithm, card_key, cryptogram
from apdu.security.module import CardKey, Diversification

_KEY_NAMES = {"internal-authentication": CardKey.INTERNAL_AUTHENTICATION, "rkssse": CardKey.RKSSSE}
_ALGORITHM_NAMES = {
    "3des": CardAlgorithm.TDES,
    "sm4": CardAlgorithm.SM4,
    "ssf33": CardAlgorithm.SSF33,
}


class SoftwareSecurityModule:
    def __init__(
        self,
        masters: dict[tuple[CardKey, CardAlgorithm], bytes],
        *,
        description: str = "software keys",
        test_keys: bool = False,
    ) -> None:
        self._masters = dict(masters)
        self._description = description
        self._test_keys = test_keys

    @property
    def description(self) -> str:
        return self._description

    @property
    def test_keys(self) -> bool:
        return self._test_keys

    @classmethod
    def from_file(cls, path: Path) -> SoftwareSecurityModule:
        masters, test_keys = read_master_key_file(path)
        description = f"software keys from {path}"
        if test_keys:
            description += " (published TEST keys: development only)"
        return cls(masters, description=description, test_keys=test_keys)

    def master(self, key: CardKey, algorithm: CardAlgorithm) -> bytes:
        if algorithm is CardAlgorithm.SSF33:
            raise AlgorithmUnsupported(
                "the card uses SSF33, which a software security module cannot compute: "
                "use a PSAM that has the SSF33 algorithm"
            )
        try:
            return self._masters[(key, algorithm)]
        except KeyError:
            if not any(k == key for k, _ in self._masters):
                raise KeyMissing(
                    f"{self._description} has no {key.label} key: add it to the key file"
                ) from None
            raise AlgorithmUnsupported(
                f"{self._description} has no {algorithm.label} {key.label} key: add it"
            ) from None

    def cryptogram(
        self,
        key: CardKey,
        algorithm: CardAlgorithm,
        diversification: Diversification,
        process: bytes,
        source: bytes,
    ) -> bytes:
        master = self.master(key, algorithm)
        per_card = card_key(algorithm, master, diversification.city, diversification.card)
        return cryptogram(algorithm, per_card, process, source)


MasterKeys = dict[tuple[CardKey, CardAlgorithm], bytes]


def read_master_key_file(path: Path) -> tuple[MasterKeys, bool]:
    """The master keys in ``path`` and whether the file declares them test keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SecurityModuleMissing(f"security module key file {path} does not exist") from exc
    except OSError as exc:
        raise SecurityModuleMissing(f"cannot read key file {path}: {exc.strerror}") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SecurityModuleError(f"key file {path} is not valid TOML: {exc}") from exc
    return _parse_keys(document, str(path)), document.get("test_keys") is True


def _parse_keys(document: dict[str, object], where: str) -> MasterKeys:
    keys = document.get("keys")
    if not isinstance(keys, dict):
        raise SecurityModuleError(f"key file {where} has no [keys.*] tables")
    masters: MasterKeys = {}
    for key_name, table in keys.items():
        card_key_ref = _KEY_NAMES.get(key_name)
        if card_key_ref is None:
            raise SecurityModuleError(
                f"key file {where}: unknown key [keys.{key_name}] (known: {', '.join(_KEY_NAMES)})"
            )
        if not isinstance(table, dict):
            raise SecurityModuleError(f"key file {where}: [keys.{key_name}] must be a table")
        for algorithm_name, hex_value in table.items():
            algorithm = _ALGORITHM_NAMES.get(algorithm_name)
            if algorithm is None or algorithm is CardAlgorithm.SSF33:
                raise SecurityModuleError(
                    f"key file {where}: keys.{key_name}.{algorithm_name}: algorithm must be "
                    "3des or sm4"
                )
            if not isinstance(hex_value, str):
                raise SecurityModuleError(
                    f"key file {where}: keys.{key_name}.{algorithm_name} must be a quoted hex "
                    'string ("0011...")'
                )
            try:
                value = bytes.fromhex(hex_value)
            except ValueError as exc:
                raise SecurityModuleError(
                    f"key file {where}: keys.{key_name}.{algorithm_name} is not hex"
                ) from exc
            if len(value) != 16:
                raise SecurityModuleError(
                    f"key file {where}: keys.{key_name}.{algorithm_name} must be 16 bytes "
                    f"(32 hex digits), got {len(value)}"
                )
            masters[(card_key_ref, algorithm)] = value
    if not masters:
        raise SecurityModuleError(f"key file {where} holds no keys")
    return masters
