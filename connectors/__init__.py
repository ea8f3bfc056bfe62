"""The only code that does I/O: one package per external system or channel."""
