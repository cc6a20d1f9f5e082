"""
What ``txmachines serve`` gives each protocol's machine: the keyword
arguments its options make (`machineOptions`: the timeouts, greeting's name
timeout, smtp's mailbox, hostname, limits and TLS), and what smtp's options
name, opened as the server starts (`openResources`: the Maildir, created if
need be, its stale drafts removed, and the TLS key and certificate), never
while they are parsed.
"""

from __future__ import annotations

import argparse
from typing import Any

from .maildir import Maildir


def openResources(args: argparse.Namespace) -> None:
    """
    Open what ``serve``'s options name, as the server starts: for smtp, the
    Maildir (created if need be, what deliveries cut short left in its
    ``tmp/`` 36 hours ago removed) and the TLS key and certificate, kept in
    ``args`` (``mailbox``, ``tls_options``) for `machineOptions`.  Nothing
    for other protocols.

    @param args: ``serve``'s options, checked (`protocols.validation`).
    @raise SystemExit: with one line saying what will not do.
    """
    if not args.protocol.smtp:
        return
    # The options were checked; a directory or file that will not do is a
    # failure to start (exit 1, as a port in use is), not bad usage.
    try:
        args.mailbox = Maildir(args.maildir)
    except OSError as e:
        raise SystemExit(f"txmachines: --maildir: {e.strerror}: {e.filename}") from None
    args.mailbox.removeStaleDrafts()  # what deliveries cut short left in tmp/
    args.tls_options = None
    if args.tls_key is not None:
        from twisted.internet.ssl import PrivateCertificate

        try:
            pem = args.tls_key.read_bytes() + b"\n" + args.tls_cert.read_bytes()
            args.tls_options = PrivateCertificate.loadPEM(pem).options()
        except OSError as e:
            raise SystemExit(
                f"txmachines: --tls-key/--tls-cert: {e.strerror}: {e.filename}"
            ) from None
        except Exception as e:
            raise SystemExit(
                f"txmachines: --tls-key/--tls-cert: not a key and certificate: {e}"
            ) from None


def machineOptions(args: argparse.Namespace) -> dict[str, Any]:
    """
    The keyword arguments each machine ``serve`` makes is called with; smtp's
    ``mailbox`` and ``tlsOptions`` are None until `openResources`.
    """
    options: dict[str, Any] = {
        "idleTimeout": args.idle_timeout,
        "closeTimeout": args.close_timeout,
    }
    if args.protocol.greeting:
        options["nameTimeout"] = args.name_timeout
    if args.protocol.smtp:
        options.update(
            mailbox=getattr(args, "mailbox", None),
            hostname=args.hostname,
            maxMessageSize=args.max_message_size,
            maxRecipients=args.max_recipients,
            dataTimeout=args.data_timeout,
            bareLF=args.bare_lf,
            tlsOptions=getattr(args, "tls_options", None),
        )
    return options
