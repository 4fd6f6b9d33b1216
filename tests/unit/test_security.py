"""apdu.security: software cryptograms against an independent computation, and key-file errors.

The independent computation follows the model in apdu/security/_crypto.py's docstring:

* ``card_key = div(div(master, city_div), card_div)``
* ``session = div(card_key, process)``; ``cryptogram = first 8 bytes of E(session, source)``
* ``div(k, d)``: 3DES ``E(k, d) || E(k, ~d)``; SM4 ``E(k, d || ~d)``
* 3DES is two-key triple DES (K1 K2 K1).  An 8-byte source is one 3DES block; for SM4's
  16-byte block it is padded ISO/IEC 9797-1 method 2 (``80 00 .. 00``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import apdu.emulator as emulator
from apdu.emulator import VirtualCard, load_holders
from apdu.errors import (
    AlgorithmUnsupported,
    KeyMissing,
    SecurityModuleError,
    SecurityModuleMissing,
)
from apdu.security import CardAlgorithm, CardKey, Diversification
from apdu.security.software import MasterKeys, SoftwareSecurityModule, read_master_key_file

H = bytes.fromhex


def _ecb(cipher_algorithm: object, block: bytes) -> bytes:
    encryptor = Cipher(cipher_algorithm, modes.ECB()).encryptor()  # type: ignore[arg-type]
    return encryptor.update(block) + encryptor.finalize()


def _not(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def tdes(key: bytes, block: bytes) -> bytes:
    return _ecb(TripleDES(key[:8] + key[8:16] + key[:8]), block)


def sm4(key: bytes, block: bytes) -> bytes:
    return _ecb(algorithms.SM4(key), block)


def tdes_div(key: bytes, data: bytes) -> bytes:
    return tdes(key, data) + tdes(key, _not(data))


def sm4_div(key: bytes, data: bytes) -> bytes:
    return sm4(key, data + _not(data))


MASTER = H("00112233445566778899AABBCCDDEEFF")
DIVERSIFICATION = Diversification(card=H("0000000000B20002"), city=b"330100sx")
PROCESS = H("0102030405060708")
SOURCE = H("A1A2A3A4A5A6A7A8")


def test_software_3des_cryptogram_matches_independent_computation() -> None:
    card_key = tdes_div(tdes_div(MASTER, b"330100sx"), H("0000000000B20002"))
    session = tdes_div(card_key, PROCESS)
    expected = tdes(session, SOURCE)[:8]

    module = SoftwareSecurityModule({(CardKey.INTERNAL_AUTHENTICATION, CardAlgorithm.TDES): MASTER})
    got = module.cryptogram(
        CardKey.INTERNAL_AUTHENTICATION, CardAlgorithm.TDES, DIVERSIFICATION, PROCESS, SOURCE
    )
    assert got == expected
    assert len(got) == 8


def test_software_sm4_cryptogram_matches_independent_computation() -> None:
    card_key = sm4_div(sm4_div(MASTER, b"330100sx"), H("0000000000B20002"))
    session = sm4_div(card_key, PROCESS)
    expected = sm4(session, SOURCE + H("8000000000000000"))[:8]

    module = SoftwareSecurityModule({(CardKey.RKSSSE, CardAlgorithm.SM4): MASTER})
    got = module.cryptogram(CardKey.RKSSSE, CardAlgorithm.SM4, DIVERSIFICATION, PROCESS, SOURCE)
    assert got == expected
    assert len(got) == 8


def test_cryptogram_depends_on_every_input() -> None:
    module = SoftwareSecurityModule({(CardKey.INTERNAL_AUTHENTICATION, CardAlgorithm.SM4): MASTER})

    def run(div: Diversification = DIVERSIFICATION, process: bytes = PROCESS) -> bytes:
        return module.cryptogram(
            CardKey.INTERNAL_AUTHENTICATION, CardAlgorithm.SM4, div, process, SOURCE
        )

    base = run()
    assert run(Diversification(H("0000000000B20003"), b"330100sx")) != base
    assert run(Diversification(DIVERSIFICATION.card, b"310100sx")) != base
    assert run(process=H("0102030405060709")) != base


@pytest.mark.parametrize("key", ["zj-gen2", "sh-gen3"])
def test_emulated_card_answers_the_independent_cryptogram(key: str) -> None:
    holder = load_holders()[key]
    masters = emulator.testing_masters()
    card = VirtualCard(holder, masters)
    master = masters[(CardKey.INTERNAL_AUTHENTICATION, holder.algorithm)]
    city, card_div = holder.region.encode() + b"sx", card.atr[-8:]
    if holder.algorithm is CardAlgorithm.TDES:
        session = tdes_div(tdes_div(tdes_div(master, city), card_div), PROCESS)
        expected = tdes(session, SOURCE)[:8]
    else:
        session = sm4_div(sm4_div(sm4_div(master, city), card_div), PROCESS)
        expected = sm4(session, SOURCE + H("8000000000000000"))[:8]
    select = card.process(H("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))
    card.process(H("00C00000") + select[1:])
    assert card.process(H("0088000010") + PROCESS + SOURCE) == H("6108")
    assert card.process(H("00C0000008")) == expected + H("9000")


def test_diversification_for_card() -> None:
    atr = H("3B6D0000" + "0053534303" + "0000000000A10001")
    div = Diversification.for_card(atr, "310100")
    assert div == Diversification(atr[-8:], b"310100sx")
    assert Diversification.for_card(H("3B0101"), "310100").card == H("00000000003B0101")
    with pytest.raises(ValueError, match="6 digits"):
        Diversification.for_card(atr, "3101")


# --- software module keys ------------------------------------------------------------------------
def test_ssf33_is_unsupported_in_software() -> None:
    module = SoftwareSecurityModule.from_file(emulator.testing_keys_path())
    with pytest.raises(AlgorithmUnsupported, match="SSF33"):
        module.cryptogram(
            CardKey.INTERNAL_AUTHENTICATION, CardAlgorithm.SSF33, DIVERSIFICATION, PROCESS, SOURCE
        )


def test_missing_key_and_missing_algorithm() -> None:
    module = SoftwareSecurityModule(
        {(CardKey.INTERNAL_AUTHENTICATION, CardAlgorithm.TDES): MASTER}, description="my keys"
    )
    with pytest.raises(KeyMissing, match="my keys has no RKSSSE key"):
        module.master(CardKey.RKSSSE, CardAlgorithm.TDES)
    with pytest.raises(AlgorithmUnsupported, match="my keys has no SM4 internal authentication"):
        module.master(CardKey.INTERNAL_AUTHENTICATION, CardAlgorithm.SM4)


def test_published_test_keys_load_and_say_so() -> None:
    path = emulator.testing_keys_path()
    masters, test_keys = read_master_key_file(path)
    assert test_keys is True
    assert set(masters) == {
        (key, algorithm) for key in CardKey for algorithm in (CardAlgorithm.TDES, CardAlgorithm.SM4)
    }
    assert all(len(value) == 16 for value in masters.values())
    module = SoftwareSecurityModule.from_file(path)
    assert module.test_keys
    assert module.description.startswith(f"software keys from {path}")
    assert "TEST keys" in module.description


GOOD_KEY = "00112233445566778899AABBCCDDEEFF"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_key_file_without_test_flag(tmp_path: Path) -> None:
    path = _write(tmp_path, f'[keys.rkssse]\nsm4 = "{GOOD_KEY}"\n')
    masters, test_keys = read_master_key_file(path)
    assert masters == {(CardKey.RKSSSE, CardAlgorithm.SM4): H(GOOD_KEY)}
    assert test_keys is False
    module = SoftwareSecurityModule.from_file(path)
    assert module.description == f"software keys from {path}"
    assert not module.test_keys


def test_missing_key_file_is_security_module_missing(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(SecurityModuleMissing) as info:
        read_master_key_file(path)
    assert info.value.message == f"security module key file {path} does not exist"


def test_unreadable_key_file_is_security_module_missing(tmp_path: Path) -> None:
    with pytest.raises(SecurityModuleMissing, match=f"cannot read key file {tmp_path}"):
        read_master_key_file(tmp_path)  # a directory


BAD_KEY_FILES = [
    ('[keys.rkssse]\n3des = "00112233445566778899AABBCCDDEEZZ"\n', "keys.rkssse.3des is not hex"),
    ('[keys.rkssse]\n3des = "00112233"\n', r"keys.rkssse.3des must be 16 bytes \(32 hex digits\)"),
    ("[keys.rkssse]\n3des = 12\n", r"keys.rkssse.3des must be a quoted hex string"),
    ("[keys]\n", "holds no keys"),
    ("test_keys = true\n", r"has no \[keys.\*\] tables"),
    (f'[keys.pin-reset]\n3des = "{GOOD_KEY}"\n', r"unknown key \[keys.pin-reset\]"),
    (f'[keys.rkssse]\naes = "{GOOD_KEY}"\n', "algorithm must be 3des or sm4"),
    (f'[keys.rkssse]\nssf33 = "{GOOD_KEY}"\n', "algorithm must be 3des or sm4"),
    (f'[keys]\nrkssse = "{GOOD_KEY}"\n', r"\[keys.rkssse\] must be a table"),
    ("[keys.rkssse\n", "is not valid TOML"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    BAD_KEY_FILES,
    ids=[
        "bad-hex",
        "short",
        "not-text",
        "empty-keys",
        "no-keys",
        "unknown-key",
        "aes",
        "ssf33",
        "flat",
        "toml",
    ],
)
def test_bad_key_files_are_security_module_errors(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SecurityModuleError, match=message) as info:
        read_master_key_file(path)
    assert not isinstance(info.value, SecurityModuleMissing)
    assert str(path) in info.value.message
    # a key file error names the entry, never the key material
    assert "00112233" not in info.value.message
    assert GOOD_KEY not in info.value.message


def test_masters_helper_matches_the_file(masters: MasterKeys) -> None:
    assert masters == read_master_key_file(emulator.testing_keys_path())[0]
