"""Valid BIP39 seed phrases made from fixed entropy, so no secret from anywhere is in the tests."""

from __future__ import annotations

from mnemonic import Mnemonic


def seed_phrase(first_byte: int = 0, language: str = "english") -> str:
    """The 12-word phrase of the 16 entropy bytes ``first_byte``, ``first_byte + 1``, ..."""
    return Mnemonic(language).to_mnemonic(bytes(range(first_byte, first_byte + 16)))


#: The phrase a customer pastes in the API and remote eval tests.
SEED = seed_phrase(16)
