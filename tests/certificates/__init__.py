"""Tests of the pure certificate domain (certificates/)."""
