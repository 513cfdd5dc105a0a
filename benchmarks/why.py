"""Where the missed targets' time goes: the compiled kernels alone, against the harness.

    python -m benchmarks.why

Times are the fastest of 20 calls, float64, N = 10^6, on this machine.
"""

import time

import numpy as np

import bridge
from benchmarks import workloads as w


def best(call, rounds=20) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    x, y = w.data(10**6)
    floor = best(lambda: np.dot(x, y))
    print(f"floor, np.dot over N=10^6                      {floor * 1e6:9.1f} us  1.0x")

    def show(label, seconds):
        print(f"{label:47}{seconds * 1e6:9.1f} us  {seconds / floor:.1f}x")

    def numpy_step(weight=0.5):  # as impl/numpy.py writes it: five full-size temporaries
        pred = weight * x
        return np.mean(np.square(pred - y)), np.mean(2 * (pred - y) * x)

    scratch = np.empty_like(x)

    def numpy_one_buffer(weight=0.5):  # one buffer and two dot products
        np.multiply(x, weight, out=scratch)
        scratch[:] -= y
        return scratch @ scratch / x.size, 2 * (scratch @ x) / x.size

    show("numpy step, as impl/numpy.py", best(numpy_step))
    show("numpy step, one buffer and two dots", best(numpy_one_buffer))
    try:
        import jax
        import jax.numpy as jnp

        from impl import jax_jit

        with jax.enable_x64(True):
            xj, yj, wj, lr = jnp.asarray(x), jnp.asarray(y), jnp.asarray(0.5), jnp.asarray(0.1)
            step = lambda: jax.block_until_ready(jax_jit.descend_batched((wj, None), xj, yj, lr, 1, x.size))  # noqa: E731
            step()
            show("jax_jit step, compiled, data already on device", best(step))
            dot = jax.jit(lambda a, b: a @ b)
            dot(xj, yj).block_until_ready()
            show("XLA's own dot product", best(lambda: dot(xj, yj).block_until_ready()))
            scalars = [jnp.asarray(v) for v in (1.5, 3.0, 0.0, 0.1)]
            jax_jit.descend(*scalars, 20)
            lesson = best(lambda: jax.block_until_ready(jax_jit.descend(*scalars, 20)), 50)
    except ImportError:
        lesson = None
    try:
        import torch

        from bridge.devices import torch_compiled
        from impl import torch_compile

        xt, yt = torch.tensor(x), torch.tensor(y)
        wt, lrt = torch.tensor(0.5, dtype=torch.float64), torch.tensor(0.1, dtype=torch.float64)
        step = torch_compiled(torch_compile.step, "cpu")
        step(wt, xt, yt, lrt)
        show("torch_compile step alone (no trajectory kept)", best(lambda: step(wt, xt, yt, lrt)))
    except ImportError:
        pass
    problem = bridge.PRESETS["lesson"]
    python = best(lambda: bridge.train("python", problem), 50)
    print(f"\nlesson, 20 steps: python train()                {python * 1e6:9.1f} us  1.0x")
    if lesson is not None:
        bridge.train("jax_jit", problem)
        whole = best(lambda: bridge.train("jax_jit", problem), 50)
        print(f"lesson, 20 steps: jax_jit train()               {whole * 1e6:9.1f} us  {whole / python:.1f}x")
        print(f"lesson, 20 steps: jax_jit compiled scan alone   {lesson * 1e6:9.1f} us  {lesson / python:.1f}x")


if __name__ == "__main__":
    main()
