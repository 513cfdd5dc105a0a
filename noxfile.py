"""nox sessions: one per purpose. torch==2.13.0 goes in first, before anything can pull a CUDA build."""

import nox

nox.options.sessions = ["lint", "tests"]
TORCH = "torch==2.13.0"
FRAMEWORKS = ("numpy", "torch", "tensorflow", "jax")  # numpy: the core install alone


def _install(session, extras: str) -> None:
    if "torch" in extras or "all" in extras:
        session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def lint(session):
    """ruff over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "bridge", "impl", "tests", "noxfile.py")


@nox.session
def tests(session):
    """The full suite with every framework installed (what CI runs)."""
    _install(session, "all,test")
    session.run("pytest", *session.posargs)


@nox.session
def benchmarks(session):
    """Every implementation timed; JSON, table and chart in .benchmarks/ (pass --quick for a smoke run)."""
    _install(session, "all,test")
    session.run("descent", "bench", *session.posargs)


@nox.session
@nox.parametrize("framework", FRAMEWORKS, ids=FRAMEWORKS)
def conformance(session, framework):
    """The conformance suite with one framework's extra only: the others must skip, not fail."""
    _install(session, "test" if framework == "numpy" else f"{framework},test")
    session.run("pytest", "tests/test_conformance.py", *session.posargs)
