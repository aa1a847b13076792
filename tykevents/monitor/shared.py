"""The quota monitor's fired levels in Redis, shared by every tykevents instance.

Before a fire, the monitor claims its level here: one Lua call compares and raises the
quota's fired level atomically, so two instances never fire the same level twice.
"""

from __future__ import annotations

from typing import Any

SHARED_PREFIX = "tykevents:monitor:"
PERIOD_SLACK = 60  # seconds a renewing period's shared state outlives quota_renews
NONRENEWING_TTL = 7 * 86400  # shared state of a non-renewing quota, refreshed on each fire

# KEYS[1] = tykevents:monitor:<state key, 16 hex>, value "<period> <fired level>".
# ARGV = period, level, ttl, usage. Mirrors the ThresholdTable: periods within 1 s of each
# other are one period (Tyk's quota_renews jitters); a later one re-arms; an earlier one is a
# late record; a non-renewing quota (period 0) re-arms when usage fell below the stored level.
# Returns {1} when this instance fires `level`, {0, stored} when it was fired already,
# {2, stored} for a record of an earlier period.
CLAIM_LUA = """
local cur = redis.call('GET', KEYS[1])
local p = tonumber(ARGV[1])
local fired = 0
if cur then
  local a, b = string.match(cur, '^(%d+) (%S+)$')
  local sp, sl = tonumber(a), tonumber(b)
  if sp and sl then
    if (sp == 0) ~= (p == 0) then fired = 0
    elseif p == 0 then
      if tonumber(ARGV[4]) >= sl then fired = sl end
    elseif p > sp + 1 then fired = 0
    elseif p + 1 < sp then return {2, cur}
    else fired = sl; p = sp end
  end
end
if tonumber(ARGV[2]) > fired then
  redis.call('SET', KEYS[1], string.format('%d', p) .. ' ' .. ARGV[2], 'EX', ARGV[3])
  return {1}
end
return {0, cur}
"""

FIRE = 1  # this instance fires the level
FIRED = 0  # another instance fired it in this period
EARLIER = 2  # the record belongs to a period before the stored one


class SharedLevels:
    """Claims of fired levels in Redis (an asyncio redis-py client)."""

    def __init__(self, redis: Any, nonrenewing_ttl: int = NONRENEWING_TTL) -> None:
        self._claim = redis.register_script(CLAIM_LUA)
        self.nonrenewing_ttl = nonrenewing_ttl

    async def claim(
        self, state_key: int, period: int, renews: float, level: float, usage: float, now: float
    ) -> tuple[int, str | None]:
        """(FIRE, None), (FIRED, the stored value) or (EARLIER, the stored value).
        Redis errors propagate: the caller decides that a duplicate alert beats a lost one."""
        ttl = self.nonrenewing_ttl if period == 0 else max(1, int(renews - now)) + PERIOD_SLACK
        res = await self._claim(
            keys=[f"{SHARED_PREFIX}{state_key:016x}"],
            args=[period, repr(float(level)), ttl, repr(float(usage))],
        )
        if int(res[0]) == FIRE:
            return FIRE, None
        return int(res[0]), res[1].decode() if isinstance(res[1], bytes) else str(res[1])


def stored_level(stored: str) -> float:
    """The fired level of a stored value "<period> <level>"."""
    return float(stored.split(" ", 1)[1])
