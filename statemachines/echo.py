"""Echo (RFC 862): every message goes back to the peer, byte for byte."""

from __future__ import annotations

from .lifecycle import ConnectionMachine


class EchoMachine(ConnectionMachine):
    """The connection lifecycle, with each message sent straight back."""

    def onMessage(self, message: bytes) -> None:
        # self.send(message), one call shorter: this runs once per message.
        self.link.sendMessage(message)
