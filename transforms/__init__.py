"""Pure, deterministic transforms between wire formats and the canonical model: no I/O, no clock."""
