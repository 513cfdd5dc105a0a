"""python -m bridge: the same as the `descent` command."""

try:
    from bridge.cli import entry
except KeyboardInterrupt:  # Ctrl-C while the first modules load: still no traceback
    raise SystemExit(130) from None

entry()
