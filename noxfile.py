"""nox sessions: one per purpose. torch==2.13.0 goes in first, before anything can pull a CUDA build."""

import nox

nox.options.sessions = ["lint", "tests"]
TORCH = "torch==2.13.0"
# the extras each conformance run installs; numpy: the core install alone; keras: Keras on JAX only
FRAMEWORKS = {"numpy": "", "torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "keras": "keras,jax"}


def _install(session, extras: str) -> None:
    if "torch" in extras or "all" in extras:
        session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def lint(session):
    """ruff over the whole tree, and the layers (import-linter's contracts in pyproject.toml)."""
    session.install("ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "bridge", "impl", "tests", "noxfile.py", "benchmarks")
    session.install("-e", ".")
    session.run("lint-imports")


@nox.session
def tests(session):
    """The fast tier with every framework installed: what a developer runs after each change (about 3 minutes)."""
    _install(session, "all,test,bench")
    session.run("pytest", *session.posargs)


@nox.session
def full(session):
    """Every test but the stress profile's (what .ci/run runs): the slow rows, processes, benchmarks' smoke run."""
    _install(session, "all,test,bench")
    session.run("pytest", "--full", *session.posargs)


@nox.session
def fuzz(session):
    """The CLI fuzz test alone, for 10,000 command lines (the full tier runs 40, with 17 explicit ones)."""
    _install(session, "all,test")
    session.run("pytest", "tests/test_fuzz_cli.py", "--full", "-s", env={"DESCENT_FUZZ_EXAMPLES": "10000"})


@nox.session
def stress(session):
    """The whole suite with its long matrices (DESCENT_STRESS=1) and 3,000 Hypothesis examples per test."""
    _install(session, "all,test,bench")
    session.run("pytest", "--full", *session.posargs, env={"DESCENT_STRESS": "1", "HYPOTHESIS_PROFILE": "stress"})


@nox.session
def benchmarks(session):
    """Every implementation and peer timed; JSON, table and chart in .benchmarks/ (--quick: a smoke run)."""
    _install(session, "all,test,bench")
    session.run("descent", "bench", *session.posargs)


@nox.session
@nox.parametrize("framework", list(FRAMEWORKS), ids=list(FRAMEWORKS))
def conformance(session, framework):
    """The conformance suite with one framework's extra only: the others must skip, not fail."""
    _install(session, ",".join(e for e in (FRAMEWORKS[framework], "test") if e))
    session.run("pytest", "tests/test_conformance.py", "--full", *session.posargs)


@nox.session
def docs(session):
    """The docs site, built strictly (every link, the API reference, the generated tables); serve: mkdocs serve."""
    _install(session, "all,docs,bench")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def notebook(session):
    """Run the instructor notebook and store its fresh outputs and pictures (after a change that is meant)."""
    _install(session, "all,test,notebook")
    session.run("python", "tests/notebook.py", "--write")
