"""The docs' Python code blocks run as tests (Sybil): README.md and docs/**/*.md.

A block that is a sketch rather than a program is preceded by `<!-- skip: next "why" -->`. Where Sybil is
not installed (the test extra brings it; a GPU machine may lack it) the docs are not collected.
"""

try:
    from sybil import Sybil
    from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser
except ImportError:
    collect_ignore_glob = ["README.md", "docs/*"]
else:
    pytest_collect_file = Sybil(
        parsers=[PythonCodeBlockParser(), SkipParser()],
        patterns=["README.md", "docs/**/*.md"],
        excludes=["docs/measurements/*.md"],
    ).pytest()
