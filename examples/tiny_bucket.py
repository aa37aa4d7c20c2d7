"""The shortest complete example (shown in the README): an asyncio token bucket, declared."""

import asyncio


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; waiters served in FIFO order."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst, self.tokens = rate, burst, float(burst)
        self.stamp = asyncio.get_running_loop().time()
        self.line = asyncio.Lock()  # asyncio wakes lock waiters first come, first served

    def _refill(self) -> None:
        now = asyncio.get_running_loop().time()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_acquire(self, weight: int = 1) -> bool:
        """Take ``weight`` tokens now, or refuse (waiters in line come first)."""
        self._refill()
        if self.line.locked() or self.tokens < weight:
            return False
        self.tokens -= weight
        return True

    async def acquire(self, weight: int = 1) -> None:
        """Wait in line until ``weight`` tokens are there, then take them."""
        if weight > self.burst:
            raise ValueError(f"weight {weight} can never fit a burst of {self.burst}")
        async with self.line:
            self._refill()
            while self.tokens < weight - 1e-9:  # float dust must not become a busy loop
                await asyncio.sleep((weight - self.tokens) / self.rate)
                self._refill()
            self.tokens -= weight


def implementation() -> dict[str, object]:
    """What poolcheck reads: a name, a backend, capabilities and a factory per pattern."""
    return {
        "name": "tiny-bucket",
        "backend": "asyncio",
        "capabilities": ["weighted_acquire"],
        "factories": {"token_bucket": TokenBucket},
    }
