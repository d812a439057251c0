"""The corpus holds experiment files on purpose: the harness pytest plugin must not collect
them as experiments (test_corpus.py runs them through the CLI instead)."""

collect_ignore = ["corpus"]
