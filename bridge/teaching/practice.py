"""The lesson's practice set, worked by the code."""

from __future__ import annotations

import re

from bridge.problems import OneWeight, preset
from bridge.rows import reference_row
from bridge.teaching.notes import first_divergence
from bridge.training import train


def practice(name: str | None = None) -> list[dict]:
    """Each practice question with the answer the code computes and the lesson's answer (default: the reference's)."""
    name = name or reference_row().name
    lesson = train(name, preset("lesson"))
    guess = train(name, OneWeight(x=1.0, y=8.0, w0=5.0, lr=0.1, steps=1))
    step = train(name, preset("practice"))
    explode = train(name, preset("explode"))
    overshoot = train(name, preset("overshoot"))
    errors = [w - 2.0 for w in [0.0, *overshoot.weights[:4]]]  # the lesson's weight 2 is the bottom
    factor = errors[1] / errors[0]
    direction = "increase the weight" if step.grads[0] < 0 else "decrease the weight"
    where = first_divergence(explode)
    return [
        {
            "question": "Read the loss: what does step 0's loss=9.000 say?",
            "computed": f"(pred - y)^2 = (0 - 3)^2 = {lesson.losses[0]:g}: the prediction is 3 below the truth",
            "answer": 9.0,
            "got": lesson.losses[0],
        },
        {
            "question": "Compute a loss: prediction 5, truth 8",
            "computed": f"(5 - 8)^2 = {guess.losses[0]:g}",
            "answer": 9.0,
            "got": guess.losses[0],
        },
        {
            "question": "Pick the direction: weight 1, input 2, truth 6; which way to step?",
            "computed": f"gradient {step.grads[0]:g} < 0, so the loss falls as the weight grows: {direction}",
            "answer": "increase the weight",
            "got": direction,
        },
        {
            "question": "Diagnose the exploding run: lr 0.9 on the lesson's problem",
            "computed": f"each step multiplies the error by {factor:.4g}; |{factor:.4g}| > 1, so it grows until the "
            f"loss is inf at step {where['step']}: lower the learning rate",
            "answer": round(1 - 2 * 0.9 * 1.5**2, 10),
            "got": round(factor, 10),
        },
        {
            "question": "Trace one step: weight 1, input 2, truth 6, lr 0.1",
            "computed": f"pred 2, loss {step.losses[0]:g}, gradient {step.grads[0]:g}, "
            f"new weight {step.weights[0]:.3f}",
            "answer": (16.0, -16.0, "2.600"),
            "got": (step.losses[0], step.grads[0], f"{step.weights[0]:.3f}"),
        },
    ]


NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def shown(answer) -> str:
    """An answer as the lesson writes it: 9, -3.05, increase the weight, 16, -16, 2.600 (no Python repr)."""
    if isinstance(answer, tuple):
        return ", ".join(shown(part) for part in answer)
    return f"{answer:g}" if isinstance(answer, float) else str(answer)


def answered(typed: str, answer) -> bool:
    """Whether a student's typed answer is the lesson's: the same numbers (to 3 decimals), or the answer's words."""
    expected = [float(n) for n in NUMBER.findall(shown(answer))]
    if expected:
        given = [float(n) for n in NUMBER.findall(typed)]
        return len(given) == len(expected) and all(abs(g - e) <= 5e-4 * max(1, abs(e)) for g, e in zip(given, expected))
    words = [w for w in re.findall(r"[a-z]+", typed.lower()) if len(w) > 3]
    return bool(words) and all(w in shown(answer).lower() for w in words)
