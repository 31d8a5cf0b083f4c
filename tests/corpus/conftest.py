"""The corpus programs are run by tests/test_corpus.py, one test each: pytest must not import
them while collecting (``--doctest-modules`` would, running every program once more)."""

collect_ignore_glob = ["correct/*.py", "mistakes/*.py"]
