"""Chaos suite: every flow against faulty sandboxes, killed at random, counted in the targets.

``python -m chaos`` (``make chaos``) starts the sandbox systems in this process, seeds work,
runs the flows as ``hub run`` subprocesses and SIGKILLs them at seeded random moments, in
rounds until every flow settles, then counts what reached each target system itself.
The hub is a black box here: only its CLI and environment are used.
"""
