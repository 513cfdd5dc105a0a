"""One module per framework, each the lesson's loop in that framework's own idiom.

Every module offers the same two functions, `one_weight(problem, device)` and
`batched(problem, device)`, returning a `bridge.Trajectory`. They import only
from `bridge`, never from each other; `bridge.train` imports them lazily.
"""
