"""The docs' Python code blocks run as tests (Sybil): README.md and docs/**/*.md.

A block that is a sketch rather than a program is preceded by `<!-- skip: next "why" -->`.
"""

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/**/*.md"],
    excludes=["docs/measurements/*.md"],
).pytest()
