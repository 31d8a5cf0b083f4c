"""``python -m gradtrace script.py``: see :mod:`gradtrace.frontends.cli`."""

from gradtrace.frontends.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
