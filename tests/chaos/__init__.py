"""The chaos suite's short seeded round (the full suite is `make chaos`)."""
