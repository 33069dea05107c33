"""A push process's subscribers share one channel-layer channel: deltas reach the process once.

channels_redis hands a group message to every member channel one by one: the sender
serialises a copy per member and the receiving process pops them from Redis one at a time, so
a delta for 10,000 subscribers cost seconds. Here each process (each event loop) joins a cell's
group once, for all of its subscribers in that cell, takes each cell message once, serialises
each delta once and puts the one event in each of those subscribers' inboxes (an asyncio
queue their consumer reads beside its connection: order per subscriber is kept).

A lost channel-layer connection ends every subscriber of the process, as it ended each
consumer when each had its own channel: clients reconnect and get a new snapshot, instead of
staying open and missing deltas.
"""

import asyncio
import gc
import logging
import weakref
from collections.abc import Coroutine

import orjson
from channels.layers import get_channel_layer

from availability.subscriptions import cell_group

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "availability-fanout"
DELTAS = "availability.deltas"  # the publisher's message type (availability.publisher)
LOST = "availability.lost"  # put in every inbox when the channel layer fails
# channels_redis forgets a group member after its group_expiry (a day by default) unless it
# joins again: a long-lived process renews its groups this many times per expiry.
RENEWALS_PER_EXPIRY = 4
# A push process keeps thousands of connections of some 400 Python objects each: a full
# garbage collection scans them all and stops the loop, and every delivery, for a second or
# more at 5,000 subscribers. Objects alive this long are frozen out of collections, which
# then scan only the younger ones. A closed connection leaves some 10 to 20 objects in cycles;
# those frozen wait for the hourly thaw, which collects everything (one such stop an hour).
FREEZE_SECONDS = 10
THAW_SECONDS = 3600

_fanouts: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fanout]" = (
    weakref.WeakKeyDictionary()
)


def fanout_get() -> "Fanout":
    """The running event loop's fan-out (one per push process; tests run a loop per case)."""
    loop = asyncio.get_running_loop()
    fanout = _fanouts.get(loop)
    if fanout is None:
        fanout = _fanouts[loop] = Fanout()
    return fanout


class Fanout:
    """The event loop's one channel, the cell groups it is in, and who wants each cell."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.members: dict[str, set[asyncio.Queue]] = {}
        self.joined: set[str] = set()  # groups the channel is in, in Redis too
        self.changing = asyncio.Lock()  # one group_add/group_discard at a time
        self.tasks: list[asyncio.Task] = []

    async def join(self, inbox: asyncio.Queue, groups: list[str]) -> None:
        """Returns once the channel is in every group: no delta sent afterwards is missed."""
        if self.channel is None:
            channel = await self.layer.new_channel(prefix=CHANNEL_PREFIX)
            if self.channel is None:
                self.channel = channel
                self.tasks = [
                    asyncio.create_task(self._guarded(self._receive())),
                    asyncio.create_task(self._guarded(self._renew())),
                    asyncio.create_task(_freeze_survivors()),
                ]
        for group in groups:
            self.members.setdefault(group, set()).add(inbox)
        try:
            for group in groups:
                await self._follow(group)
        except BaseException:
            self._forget(inbox, groups)
            raise

    async def leave(self, inbox: asyncio.Queue, groups: list[str]) -> None:
        """Forgets `inbox` at once; the groups left empty are left in Redis after."""
        self._forget(inbox, groups)
        for group in groups:
            await self._follow(group)

    def _forget(self, inbox: asyncio.Queue, groups: list[str]) -> None:
        for group in groups:
            members = self.members.get(group)
            if members is not None:
                members.discard(inbox)
                if not members:
                    del self.members[group]

    async def _follow(self, group: str) -> None:
        """Make the channel's membership of `group` match whether anyone here wants it."""
        if (group in self.members) == (group in self.joined):
            return
        async with self.changing:
            if group in self.members and group not in self.joined:
                await self.layer.group_add(group, self.channel)
                self.joined.add(group)
            elif group not in self.members and group in self.joined:
                self.joined.discard(group)  # first: a join meanwhile waits, then adds again
                await self.layer.group_discard(group, self.channel)

    async def _guarded(self, work: Coroutine) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Push fan-out lost the channel layer; closing its subscribers")
            self._close_all()

    async def _receive(self) -> None:
        while True:
            self.deliver(await self.layer.receive(self.channel))

    def deliver(self, message: dict) -> None:
        """One event per cell, its deltas serialised once, to each subscriber there."""
        by_cell: dict[str, list[tuple[float, float, bytes]]] = {}
        for delta in message["deltas"]:
            lat, lng = float(delta["lat"]), float(delta["lng"])
            serialised = orjson.dumps({"type": "delta", **delta})
            by_cell.setdefault(cell_group(lat, lng), []).append((lat, lng, serialised))
        for group, deltas in by_cell.items():
            event = {"type": DELTAS, "deltas": deltas}
            for inbox in self.members.get(group, ()):
                inbox.put_nowait(event)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.layer.group_expiry / RENEWALS_PER_EXPIRY)
            async with self.changing:
                for group in list(self.joined):
                    await self.layer.group_add(group, self.channel)

    def _close_all(self) -> None:
        """Every subscriber ends (its consumer reads LOST); the next join starts afresh."""
        inboxes = {inbox for members in self.members.values() for inbox in members}
        self.members, self.joined = {}, set()
        for inbox in inboxes:
            inbox.put_nowait({"type": LOST})
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        loop = asyncio.get_running_loop()
        if _fanouts.get(loop) is self:
            del _fanouts[loop]


async def _freeze_survivors() -> None:
    """Survivors leave the collected generations; the hourly thaw collects what they left."""
    loop = asyncio.get_running_loop()
    thawed_at = loop.time()
    while True:
        await asyncio.sleep(FREEZE_SECONDS)
        if loop.time() - thawed_at >= THAW_SECONDS:
            gc.unfreeze()
            gc.collect()
            thawed_at = loop.time()
        gc.freeze()
