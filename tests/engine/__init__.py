"""Tests of statemachines.engine, one module each."""
