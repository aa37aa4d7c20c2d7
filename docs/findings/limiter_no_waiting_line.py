"""limiter 0.5.0: no waiting line, so a waiting acquire is overtaken and can starve.

Run with limiter installed (``pip install limiter==0.5.0``), no poolcheck needed::

    python docs/findings/limiter_no_waiting_line.py

``async with limiter(consume=n):`` tries to take ``n`` tokens; when they are short it sleeps
until the bucket should hold them and tries again. Nothing remembers who came first, so any
caller that finds enough tokens takes them, even while an earlier caller sleeps. A caller
that needs more tokens than the others is overtaken again and again: here one caller waits
for 2 tokens of a bucket (rate 20/s, capacity 2) while another keeps taking 1 token at a
time. The bucket holds 2 tokens after 0.05 s, and a first-come-first-served limiter would
admit the first caller then; with limiter it is still waiting when the other caller stops,
0.5 s and about ten admissions later. (Equal-weight callers are overtaken too: those asleep
for the same instant wake in the event loop's timer order, not in arrival order.) Real
sleeps, about 0.6 s. Exits 1 when the misbehaviour shows, 0 when it does not.
"""

from __future__ import annotations

import asyncio
import sys
import time

from limiter import Limiter  # type: ignore[import-untyped]

RUN = 0.5  # seconds the light caller keeps asking


async def main() -> int:
    """A 2-token caller against a stream of 1-token callers; 1 if it starved."""
    limiter = Limiter(rate=20, capacity=2)
    async with limiter(consume=1):  # one token left
        pass
    start = time.monotonic()
    heavy_admitted: list[float] = []
    light_admitted: list[float] = []

    async def heavy() -> None:
        async with limiter(consume=2):
            heavy_admitted.append(time.monotonic() - start)

    async def light() -> None:
        await asyncio.sleep(0)  # arrives after the heavy caller started waiting
        while time.monotonic() - start < RUN:
            async with limiter(consume=1):
                light_admitted.append(time.monotonic() - start)

    waiter = asyncio.create_task(heavy())
    await light()
    before_stop = [t for t in heavy_admitted if t < RUN]
    await waiter
    print(
        f"light caller (arrived second): {len(light_admitted)} admissions in {RUN} s; "
        f"heavy caller (arrived first, 2 tokens, due at 0.05 s): admitted at "
        f"{heavy_admitted[0]:.3f} s"
    )
    if not before_stop and len(light_admitted) >= 5:
        print("MISBEHAVIOUR: the earlier caller waited while later ones took every token")
        return 1
    print("ok: the earlier caller was admitted while the later one was still asking")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
