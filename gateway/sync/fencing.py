"""Fences: a claim on work that holds only while a Redis key still holds the claimant's token.

A process can stop at any instant for any length of time (a paused VM, a SIGSTOP, a stuck socket) and carry on later
unaware of it. Meanwhile its claim lapses and another process takes the work over. Every claim the sync makes is
therefore a `Fence` — a job's execution (its lease, set by `gateway.workers`), the one write-back flusher, the one
inbound drainer — and:
- `commit()` stores Redis writes only while the fence holds, in one atomic step with the check of its token (a
  script): a process whose claim was taken over stores nothing, however late it wakes up;
- `Fence.check()` is called right before a write outside Redis (the platform, Salesforce), which cannot check a
  token itself: a superseded process stops there, with `Superseded`. A platform request is checked by its adapter
  once its limiter slots are held, on every attempt (`gateway.sendguard`), so no wait sits between check and send.

What no client can prevent is a process that stops in the instant between its check and its request leaving the
machine: it sends that one request when it wakes. Each such request is an upsert of the values it read, so the
outside system gets them once more; the process then stores nothing (its commit is refused).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from redis import Redis, WatchError

from gateway import redis_client
from gateway.redis_client import script, text


class Superseded(Exception):
    """The work was handed to another process: stop, and change nothing more."""

    def __init__(self, fence: Fence) -> None:
        super().__init__(f"{fence.key} is no longer held by this process: its work was handed to another")
        self.fence = fence


@dataclass(frozen=True, slots=True)
class Fence:
    """A claim: valid while Redis holds `token` at `key`."""

    key: str
    token: str

    def holds(self, redis: Redis) -> bool:
        value = redis.get(self.key)
        return value is not None and text(value) == self.token

    def check(self, redis: Redis) -> None:
        """Raise `Superseded` unless the claim still holds (call it right before a write outside Redis)."""
        if not self.holds(redis):
            raise Superseded(self)


# KEYS[1]: the fence's key; KEYS[2], when given, a claim to give up with the writes. ARGV[1]: the fence holder's
# token ("": no fence, nothing checked), ARGV[2]: the claim's token (or ""), then each command queued by the caller:
# its number of words (or "n?k", a guard: the command's next k commands run only when it answers 1, as HSETNX does
# when it sets; guards nest), then the words. Runs them only while the fence's token is there, then deletes the claim
# if its token is still there (as `redis_client.release`); the check, the writes and the release are one atomic step.
# The writes' keys travel in ARGV: one Redis accepts that, Redis Cluster would not (the gateway needs one Redis:
# docs/deploy.md).
_FENCED = script(
    """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local i, skip = 3, 0
while i <= #ARGV do
  local n, k = string.match(ARGV[i], '^(%d+)%?(%d+)$')
  n = tonumber(n or ARGV[i])
  if skip > 0 then
    skip = skip - 1  -- guards nest (`if_new`): what a skipped guard guards lies within the skipped range
  elseif redis.call(unpack(ARGV, i + 1, i + n)) ~= 1 and k then
    skip = tonumber(k)
  end
  i = i + n + 1
end
if KEYS[2] and redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
"""
)
# A command the script cannot run goes the three-round-trip way (WATCH, GET, MULTI/EXEC): a script, since scripts
# cannot call scripts, and a command longer than `_SCRIPT_WORDS` words, since Lua's `unpack` stops at about 8,000
# values (LUAI_MAXCSTACK). The writes queued here are a few words each.
_SCRIPT_WORDS = 1000
_SCRIPT_CALLS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
_GUARD = "fenced_guard"  # a queued command's option: how many of the commands queued after it it guards (`if_new`)


def _scriptable(words: tuple[Any, ...]) -> bool:
    name = words[0]  # redis-py names some commands in two words ("CONFIG SET"): those go the WATCH way too
    one_word = isinstance(name, str) and " " not in name
    return one_word and len(words) <= _SCRIPT_WORDS and name.upper() not in _SCRIPT_CALLS


@contextmanager
def if_new(pipe: Any, key: str, field: str, value: str) -> Iterator[None]:
    """Queue, in a `commit`'s `write`, `HSETNX key field value`; the commands queued inside the `with` run only when
    it set the field (it was new): what a script would do with its reply, where scripts cannot run. Its guard counts
    those commands itself, so it cannot cover one too few or too many; a guard nested in a skipped one is skipped,
    and so is what it guards."""
    pipe.execute_command("HSETNX", key, field, value, **{_GUARD: 0})
    guard, queued = pipe.command_stack[-1][1], len(pipe.command_stack)
    yield
    guard[_GUARD] = len(pipe.command_stack) - queued


def commit(redis: Redis, fence: Fence | None, write: Callable[[Any], object], *, release: Fence | None = None) -> bool:
    """Run the commands `write` queues on a pipeline as one transaction, only while `fence` holds (None: always).
    Raises `Superseded`, having stored nothing, when the claim was lost before or during it.

    This is one round trip: the commands are collected, then sent with the fence's token to a script that checks it
    and runs them, atomically (where `WATCH`, `GET` and `MULTI`/`EXEC` took three; they still do for the commands a
    script cannot run, and without a fence those go in one `MULTI`/`EXEC`). The commands' replies are not returned
    (no caller reads them); `if_new` makes the commands queued in it depend on its own. A command Redis
    refuses (none queued here can be) undoes none before it, as with `EXEC`; the script also stops there. `write`
    is called once.

    `release` (a record's claim, say) is given up in that same step, as `release()` would (kept if it has passed to
    another process), once the writes are stored: returns True when that was done (the one-round-trip way); False
    when the caller still holds it and gives it up itself (no fence, or commands a script cannot run; nothing is
    released when `Superseded` is raised)."""
    collected = redis.pipeline(transaction=False)
    write(collected)
    stack = collected.command_stack
    if not all(_scriptable(words) for words, _options in stack):
        if any(_GUARD in options for _words, options in stack):
            raise ValueError("if_new guards commands only in a commit whose commands a script can run")
        if fence is None:
            with redis.pipeline(transaction=True) as pipe:
                _queue(pipe, collected)
                pipe.execute()
            return False
        _commit_watching(redis, fence, collected)
        return False
    if fence is None:  # nothing to check: the writes alone (if any), the claim left to the caller
        if stack:
            _FENCED(keys=[], args=["", "", *_words(stack)], client=redis)
        return False
    keys, tokens = (
        ([fence.key], [fence.token, ""])
        if release is None
        else ([fence.key, release.key], [fence.token, release.token])
    )
    if not _FENCED(keys=keys, args=[*tokens, *_words(stack)], client=redis):
        raise Superseded(fence)
    return release is not None


def _words(stack: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
    """The queued commands as `_FENCED` reads them: each one's number of words (with its guard), then the words."""
    flat: list[Any] = []
    for words, options in stack:
        flat += (f"{len(words)}?{options[_GUARD]}" if _GUARD in options else len(words), *words)
    return flat


def _queue(pipe: Any, collected: Any) -> None:
    """`collected`'s commands queued on the transaction `pipe`, with the scripts `write` ran (loaded before EXEC, as
    its own pipe would)."""
    pipe.scripts.update(collected.scripts)
    for words, options in collected.command_stack:
        pipe.execute_command(*words, **options)


def _commit_watching(redis: Redis, fence: Fence, collected: Any) -> None:
    """`commit`'s commands that a script cannot run: the three-round-trip way (WATCH, GET, MULTI/EXEC)."""
    with redis.pipeline(transaction=True) as pipe:
        pipe.watch(fence.key)  # type: ignore[no-untyped-call]
        held = pipe.get(fence.key)
        if held is None or text(held) != fence.token:
            raise Superseded(fence)
        pipe.multi()
        _queue(pipe, collected)
        try:
            pipe.execute()
        except WatchError:
            raise Superseded(fence) from None


def claim(redis: Redis, key: str, seconds: int) -> Fence | None:
    """Take the one-at-a-time claim at `key` for `seconds` (renew it with `commit`, writing `pipe.expire`); None when
    another process holds it."""
    token = uuid.uuid4().hex
    return Fence(key, token) if redis.set(key, token, nx=True, ex=seconds) else None


def release(redis: Redis, fence: Fence) -> None:
    """Give the claim up, unless it has already passed to another process (then it is theirs to keep): one round
    trip (`redis_client.release`)."""
    redis_client.release(redis, fence.key, fence.token)
