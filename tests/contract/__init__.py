"""Contract suites: one set of tests per port, run against the fake and the real adapter."""
