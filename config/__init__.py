"""Settings and policy-year data files."""
