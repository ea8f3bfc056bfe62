"""``python -m chaos``: the chaos suite's entry point (see chaos/run.py)."""

from chaos.run import main

if __name__ == "__main__":
    main()
