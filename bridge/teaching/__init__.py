"""Teaching views: the notes a run needs, the loops' own sources, gradient parity, the practice set.

notes and sources train nothing; parity and practice train rows (bridge.training).
"""
