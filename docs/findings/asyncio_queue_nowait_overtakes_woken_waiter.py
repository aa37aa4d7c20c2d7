"""asyncio.Queue, janus and culsans: a get_nowait (put_nowait) overtakes a blocked get (put).

Needs no poolcheck. For each queue: a getter blocks on an empty queue; in one step (no await
in between) an item is put with put_nowait and taken with get_nowait. The blocked getter was
woken for that item, but the get_nowait takes it and the getter goes back to waiting. Then
the same on the put side (capacity 1): a putter blocks on a full queue; get_nowait frees the
slot and put_nowait takes it, so the blocked putter waits on. Exits 1 if any queue does it.
"""

import asyncio
import sys

import culsans
import janus


async def check(name, make):
    """Whether the queue ``make`` builds lets a nowait call overtake a woken waiter."""
    bad = False
    _queue, side = make(0)
    getter = asyncio.ensure_future(side.get())
    await asyncio.sleep(0.01)
    side.put_nowait("a")
    stolen = side.get_nowait()  # same step: the blocked getter has not run yet
    await asyncio.sleep(0.01)
    if stolen == "a" and not getter.done():
        print(f"{name}: get_nowait took {stolen!r}, the blocked get() still waits")
        bad = True
    getter.cancel()
    _queue, side = make(1)
    side.put_nowait("x")
    putter = asyncio.ensure_future(side.put("blocked"))
    await asyncio.sleep(0.01)
    side.get_nowait()
    try:
        side.put_nowait("newcomer")  # same step: the woken putter has not run yet
        took = True
    except asyncio.QueueFull:
        took = False
    await asyncio.sleep(0.01)
    if took and not putter.done():
        print(f"{name}: put_nowait took the freed slot, the blocked put() still waits")
        bad = True
    putter.cancel()
    await asyncio.sleep(0)
    return bad


async def main():
    """Check asyncio.Queue, janus and culsans; whether any of them does it."""

    def plain(n):
        q = asyncio.Queue(n)
        return q, q

    def mixed(mod):
        def make(n):
            q = mod.Queue(n)
            return q, q.async_q

        return make

    results = [
        await check("asyncio.Queue", plain),
        await check(f"janus {janus.__version__}", mixed(janus)),
        await check(f"culsans {culsans.__version__}", mixed(culsans)),
    ]
    return any(results)


if __name__ == "__main__":
    sys.exit(1 if asyncio.run(main()) else 0)
