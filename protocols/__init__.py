"""Serving and connecting machines: Twisted adapters, servers, clients, the CLI."""


def main() -> None:
    """
    The ``txmachines`` command (`protocols.cli`).  Ctrl-C while it is still
    starting (importing Twisted takes a moment) ends it with status 130, as
    later, not with a traceback.
    """
    try:
        from .cli import main as command
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    command()
