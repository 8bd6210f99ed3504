"""The WeCom AI bot's callback encryption: WXBizMsgCrypt's algorithm in JSON envelopes, receive id "".

signature = sha1 of the sorted token, timestamp, nonce and ciphertext; AES-256-CBC with key =
b64decode(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding to 32 bytes; plaintext = 16 random bytes,
the message length (4 bytes, big-endian), the message, the receive id (always "" for an AI bot).
(reference/wecom_aibot.md §2; wechatpy's XML envelope does not fit, so the ~40 lines are ours.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class CryptoError(ValueError):
    """The ciphertext cannot be what WeCom sent (wrong key, bad padding, bad base64, wrong receive id)."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


class AibotCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = ""):
        try:
            self.key = base64.b64decode(encoding_aes_key + "=")
        except binascii.Error:
            raise CryptoError("EncodingAESKey is not base64") from None
        if len(self.key) != 32:
            raise CryptoError("EncodingAESKey must decode to 32 bytes")
        self.token, self.receive_id = token, receive_id

    def signed(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> bool:
        """Constant-time comparison of WeCom's signature with ours."""
        return hmac.compare_digest(signature(self.token, timestamp, nonce, encrypted).encode(), msg_signature.encode())

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, plain: str) -> str:
        msg = plain.encode("utf-8")
        raw = os.urandom(16) + struct.pack(">I", len(msg)) + msg + self.receive_id.encode()
        pad = BLOCK - len(raw) % BLOCK
        raw += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(raw) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("ciphertext is not base64") from None
        if not data or len(data) % 16:
            raise CryptoError("ciphertext length is not a multiple of the AES block")
        dec = self._cipher().decryptor()
        raw = dec.update(data) + dec.finalize()
        pad = raw[-1]
        if not 1 <= pad <= BLOCK or raw[-pad:] != bytes([pad]) * pad:
            raise CryptoError("bad padding (wrong EncodingAESKey?)")
        raw = raw[16:-pad]
        if len(raw) < 4:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", raw[:4])
        msg, receive_id = raw[4 : 4 + length], raw[4 + length :]
        if len(msg) != length:
            raise CryptoError("message length does not match")
        if receive_id.decode("utf-8", "replace") != self.receive_id:
            raise CryptoError("wrong receive id")
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("message is not UTF-8") from None

    def seal_reply(self, payload: dict, nonce: str, timestamp: int | None = None) -> dict:
        """The passive-reply envelope: {encrypt, msgsignature, timestamp, nonce} (nonce from the callback URL)."""
        ts = int(time.time()) if timestamp is None else timestamp
        encrypted = self.encrypt(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        return {
            "encrypt": encrypted,
            "msgsignature": signature(self.token, str(ts), nonce, encrypted),
            "timestamp": ts,
            "nonce": nonce,
        }

    def seal_request(self, payload: dict | str, *, nonce: str, timestamp: str) -> tuple[dict[str, str], bytes]:
        """What WeCom sends: the query (msg_signature, timestamp, nonce) and the JSON body. The fake platform,
        the tests and the benchmarks use it."""
        plain = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        encrypted = self.encrypt(plain)
        return (
            {
                "msg_signature": signature(self.token, timestamp, nonce, encrypted),
                "timestamp": timestamp,
                "nonce": nonce,
            },
            json.dumps({"encrypt": encrypted}).encode(),
        )

    def open_reply(self, envelope: dict) -> dict:
        """Check and decrypt a passive reply (what WeCom does with our answer; the fake platform uses it)."""
        if not self.signed(
            envelope["msgsignature"], str(envelope["timestamp"]), envelope["nonce"], envelope["encrypt"]
        ):
            raise CryptoError("reply signature does not match")
        return json.loads(self.decrypt(envelope["encrypt"]))
