"""The docs tell the truth: every command they show parses, every link they make lands, the README stays short."""

import re
import shlex
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.cli.parser import build

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"```(?:bash|console|sh)\n(.*?)```", re.S)


def _commands():
    for page in PAGES:
        for block in FENCE.findall(page.read_text(encoding="utf-8")):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                if words[:1] == ["descent"]:
                    yield pytest.param(words[1:], id=f"{page.relative_to(ROOT)}: {line.split('#')[0].strip()}")


@pytest.mark.parametrize("argv", list(_commands()))
def test_every_descent_command_in_the_docs_is_one_the_cli_takes(argv, capsys):
    if not argv:  # descent alone prints its guide
        assert main([]) == 0 and "Start here" in capsys.readouterr().out
        return
    try:
        build().parse_args(argv)
    except SystemExit as refused:
        pytest.fail(f"descent {' '.join(argv)}: refused by the parser (exit {refused.code})")


def test_the_readme_is_the_students_front_page_of_about_150_lines():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_lands_on_a_file(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+:", target):
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}, which is not there"
