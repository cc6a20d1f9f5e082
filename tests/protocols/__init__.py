"""Tests of the protocols package, one module each."""
