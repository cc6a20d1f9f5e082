"""
What SMTP lets a client name (RFC 5321 4.1.2 and 4.1.3, with RFC 6531 3.3's
UTF-8 additions): the argument of EHLO and HELO, and the mailboxes of MAIL
FROM and RCPT TO.  Pure functions on the bytes the client sent: whatever
they accept is stored byte for byte, and nothing else is.

The grammar, as RFC 5321 writes it::

    Mailbox        = Local-part "@" ( Domain / address-literal )
    Local-part     = Dot-string / Quoted-string
    Dot-string     = Atom *("." Atom)
    Atom           = 1*atext                 ; RFC 5322's atext
    Quoted-string  = DQUOTE *QcontentSMTP DQUOTE
    QcontentSMTP   = qtextSMTP / quoted-pairSMTP
    qtextSMTP      = %d32-33 / %d35-91 / %d93-126
    quoted-pairSMTP = %d92 %d32-126
    Domain         = sub-domain *("." sub-domain)
    sub-domain     = Let-dig [Ldh-str]
    address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
                            General-address-literal ) "]"
    General-address-literal = Standardized-tag ":" 1*dcontent
    dcontent       = %d33-90 / %d94-126

With SMTPUTF8 (RFC 6531 3.3) ``atext`` and ``qtextSMTP`` also take any
non-ASCII character, and a ``sub-domain`` may be a U-label; the bytes must
be valid UTF-8.  Here a U-label is a label of letters, digits, hyphens and
non-ASCII characters, not beginning or ending with a hyphen: the IDNA2008
tables (RFC 5892) are not checked.  No control character (C0, DEL, or C1)
is taken anywhere, with SMTPUTF8 or without, nor Unicode's line and
paragraph separators (U+2028, U+2029), which some readers of a stored
message would take for line ends.

EHLO and HELO come before any MAIL FROM, so before SMTPUTF8 can be asked
for: their argument is ASCII (a domain in A-labels, as RFC 6531 3.7.1 has
it).  A source route (``<@a,@b:user@c>``, RFC 5321 4.1.1.3 and appendix
C) is accepted and dropped: what is kept is the mailbox.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "INVALID_UTF8",
    "NEEDS_SMTPUTF8",
    "NOT_A_MAILBOX",
    "checkMailbox",
    "isAddressLiteral",
    "isDomain",
    "isHelloArgument",
    "splitPath",
    "stripSourceRoute",
]

# RFC 5322 3.2.3's atext, ASCII: letters, digits and these.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LET_DIG = r"[A-Za-z0-9]"
_SUB_DOMAIN = rf"{_LET_DIG}(?:[A-Za-z0-9-]*{_LET_DIG})?"
_DOMAIN = re.compile(rf"{_SUB_DOMAIN}(?:\.{_SUB_DOMAIN})*")
_DOT_STRING = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
# qtextSMTP and quoted-pairSMTP: printable ASCII, a backslash quoting any.
_QUOTED = re.compile(r'"(?:[ !#-\[\]-~]|\\[ -~])*"')
_SNUM = r"[0-9]{1,3}"
_IPV4 = re.compile(rf"{_SNUM}\.{_SNUM}\.{_SNUM}\.{_SNUM}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,4}")
_GENERAL = re.compile(rf"({_LET_DIG}(?:[A-Za-z0-9-]*{_LET_DIG})?):([!-Z^-~]+)")
_AT_DOMAIN = re.compile(rf"@{_SUB_DOMAIN}(?:\.{_SUB_DOMAIN})*")

NOT_A_MAILBOX = "not a mailbox"
NEEDS_SMTPUTF8 = "non-ASCII"
INVALID_UTF8 = "not UTF-8"


def _isIPv4(text: str) -> bool:
    """RFC 5321 4.1.3's IPv4-address-literal: four Snum, each 0 to 255."""
    return _IPV4.fullmatch(text) is not None and all(
        int(n) <= 255 for n in text.split(".")
    )


def _isIPv6(text: str) -> bool:
    """
    RFC 5321 4.1.3's IPv6-addr: IPv6-full, IPv6-comp, IPv6v4-full or
    IPv6v4-comp (eight groups, or at most six around one ``::``; an IPv4
    address at the end counts as two).
    """
    groups = 0
    if "." in text:  # IPv6v4: the IPv4 address comes last, as two groups
        head, colon, v4 = text.rpartition(":")
        if not colon or not _isIPv4(v4):
            return False
        groups = 2
        text = head + ":" if head.endswith(":") else head  # keep a "::"
    if text.count("::") > 1:
        return False

    def counted(part: str) -> int | None:
        if not part:
            return 0
        pieces = part.split(":")
        if not all(_HEX.fullmatch(p) for p in pieces):
            return None
        return len(pieces)

    if "::" in text:
        left, _, right = text.partition("::")
        counts = counted(left), counted(right)
        if None in counts:
            return False
        return sum(c for c in counts if c is not None) + groups <= 6
    whole = counted(text)
    return whole is not None and whole + groups == 8


def isAddressLiteral(text: str) -> bool:
    """
    Whether ``text`` is an address-literal (RFC 5321 4.1.3): ``[`` an IPv4
    address, ``IPv6:`` and an IPv6 address, or a general literal ``tag:``
    and ``dcontent`` ``]``.  A general literal tagged ``IPv6`` must hold an
    IPv6 address.
    """
    if not (text.startswith("[") and text.endswith("]")):
        return False
    inner = text[1:-1]
    if _isIPv4(inner):
        return True
    found = _GENERAL.fullmatch(inner)
    if found is None:
        return False
    tag, content = found.groups()
    if tag.lower() == "ipv6":
        return _isIPv6(content)
    return True


def _isULabel(label: str) -> bool:
    """A label with non-ASCII letters (RFC 6531 3.3's U-label), loosely."""
    if not label or label[0] == "-" or label[-1] == "-":
        return False
    return all(
        c.isascii() and (c.isalnum() or c == "-") or not c.isascii() for c in label
    )


def isDomain(text: str, *, utf8: bool = False) -> bool:
    """
    Whether ``text`` is a Domain (RFC 5321 4.1.2): dot-separated labels of
    letters, digits and inner hyphens; with ``utf8`` (RFC 6531 3.3) a
    label may be a U-label instead.
    """
    if _DOMAIN.fullmatch(text) is not None:
        return True
    if not utf8 or text.isascii():
        return False
    return all(
        _DOMAIN.fullmatch(label) is not None or _isULabel(label)
        for label in text.split(".")
    )


def isHelloArgument(argument: bytes) -> bool:
    """
    Whether ``argument`` is what EHLO and HELO take (RFC 5321 4.1.1.1): a
    Domain or an address-literal, in ASCII, alone.
    """
    if not argument.isascii():
        return False
    text = argument.decode("ascii")
    return isDomain(text) or isAddressLiteral(text)


_NEVER = frozenset({"Cc", "Zl", "Zp"})


def _hasControl(text: str) -> bool:
    """Whether ``text`` holds a control character (C0, DEL, C1) or a line end."""
    return not text.isprintable() and any(
        unicodedata.category(c) in _NEVER for c in text
    )


def splitPath(text: bytes) -> tuple[bytes, bytes] | None:
    """
    ``<path>`` and what follows it: the path (without its brackets) and the
    rest, or None if ``text`` does not begin with a bracketed path.  A
    ``>`` inside a quoted local part or an address literal (whose
    ``dcontent`` takes ``<`` and ``>``) does not end the path.
    """
    if not text.startswith(b"<"):
        return None
    quoted = escaped = literal = False
    for i in range(1, len(text)):
        c = text[i : i + 1]
        if escaped:
            escaped = False
        elif quoted:
            escaped, quoted = c == b"\\", c != b'"'
        elif literal:
            literal = c != b"]"
        elif c == b'"':
            quoted = True
        elif c == b"[":
            literal = True
        elif c == b">":
            return text[1:i], text[i + 1 :]
        elif c == b"<":
            return None
    return None


def stripSourceRoute(path: bytes) -> bytes | None:
    """
    ``path`` without its source route (``@a,@b:``, RFC 5321 4.1.2's
    A-d-l, which 4.1.1.3 says to ignore), or None if the route is not one.
    """
    if not path.startswith(b"@"):
        return path
    route, colon, mailbox = path.partition(b":")
    if not colon or not route.isascii():
        return None
    if not all(_AT_DOMAIN.fullmatch(hop) for hop in route.decode().split(",")):
        return None
    return mailbox


def checkMailbox(raw: bytes, *, utf8: bool) -> str | None:
    """
    Why ``raw`` is not a Mailbox (RFC 5321 4.1.2), or None if it is.

    @param utf8: whether the transaction asked for SMTPUTF8 (RFC 6531):
        without it a mailbox is ASCII.
    @return: None; or `NOT_A_MAILBOX` (its syntax, control characters
        included), `NEEDS_SMTPUTF8` (valid UTF-8, but SMTPUTF8 was not
        asked for), or `INVALID_UTF8` (bytes that are not UTF-8, refused
        with SMTPUTF8 or without, never rewritten).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return INVALID_UTF8
    if _hasControl(text):
        return NOT_A_MAILBOX
    if not text.isascii() and not utf8:
        return NEEDS_SMTPUTF8
    if text.startswith('"'):
        end = _quotedEnd(text)
        if end is None:
            return NOT_A_MAILBOX
        local, at, domain = text[:end], text[end : end + 1], text[end + 1 :]
        localOK = _QUOTED.fullmatch(_asciified(local)) is not None
    else:
        local, at, domain = text.partition("@")
        localOK = _DOT_STRING.fullmatch(_asciified(local)) is not None
    if not (localOK and at == "@"):
        return NOT_A_MAILBOX
    if not (isDomain(domain, utf8=utf8) or isAddressLiteral(domain)):
        return NOT_A_MAILBOX
    return None


def _quotedEnd(text: str) -> int | None:
    """Where the quoted string that begins ``text`` ends (after its quote)."""
    escaped = False
    for i in range(1, len(text)):
        if escaped:
            escaped = False
        elif text[i] == "\\":
            escaped = True
        elif text[i] == '"':
            return i + 1
    return None


def _asciified(text: str) -> str:
    """``text`` with each non-ASCII character as ``a`` (RFC 6531's atext)."""
    return "".join(c if c.isascii() else "a" for c in text)
