"""Addresses as text: in log lines, and as the key of per-peer limits."""

from __future__ import annotations

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import SynchronousTestCase

from protocols.addresses import describeAddress, peerKey


class DescribeAddressTests(SynchronousTestCase):
    def test_ipv4IsHostColonPort(self) -> None:
        self.assertEqual(
            describeAddress(IPv4Address("TCP", "10.0.0.7", 5555)), "10.0.0.7:5555"
        )

    def test_ipv6IsBracketed(self) -> None:
        """Else the port reads as the address's last group: ``::1:5555``."""
        self.assertEqual(describeAddress(IPv6Address("TCP", "::1", 5555)), "[::1]:5555")
        self.assertEqual(
            describeAddress(IPv6Address("TCP", "fe80::1%eth0", 25)),
            "[fe80::1%eth0]:25",
        )

    def test_noneAndOtherAddresses(self) -> None:
        self.assertEqual(describeAddress(None), "-")
        unix = UNIXAddress(b"/run/sock")
        self.assertEqual(describeAddress(unix), str(unix))


class PeerKeyTests(SynchronousTestCase):
    def test_theHostAlone(self) -> None:
        self.assertEqual(peerKey(IPv6Address("TCP", "::1", 5555)), "::1")
        self.assertEqual(peerKey(IPv4Address("TCP", "10.0.0.7", 5555)), "10.0.0.7")
