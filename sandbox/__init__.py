"""The outside world for the demo and tests: real servers on loopback with fault injection."""
