"""The quota monitor's fired levels in Redis, shared by every tykevents instance.

Before a fire, the monitor claims its level here: one Lua call checks and adds the level to
the quota period's set of fired levels atomically, so two instances never fire the same level
twice, and a level is refused only when some instance fired that very level (docs/monitor.md,
several instances).
"""

from __future__ import annotations

from typing import Any

SHARED_PREFIX = "tykevents:monitor:"
PERIOD_SLACK = 60  # seconds a renewing period's shared state outlives quota_renews
NONRENEWING_TTL = 7 * 86400  # shared state of a non-renewing quota, refreshed on each fire

# KEYS[1] = tykevents:monitor:<state key, 16 hex>, value "<period> <level> <level> ...": the
# levels fired in that period. ARGV = period, level, ttl, usage. Periods as the ThresholdTable's:
# within 1 s of each other they are one (Tyk's quota_renews jitters); a later one re-arms; an
# earlier one is a late record; a non-renewing quota (period 0) re-arms when usage fell below
# its highest fired level. A set, not the highest level: claims reach Redis in any order (lane
# workers, connections), so a higher level stored first does not mean that a lower one fired.
# Returns {1} when this instance fires `level`, {0, stored} when it was fired already,
# {2, stored} for a record of an earlier period.
CLAIM_LUA = """
local cur = redis.call('GET', KEYS[1])
local p = tonumber(ARGV[1])
local level = tonumber(ARGV[2])
local fired = {}
if cur then
  local a, rest = string.match(cur, '^(%d+) (.+)$')
  local sp = tonumber(a)
  if sp and rest then
    local levels = {}
    local top = 0
    for s in string.gmatch(rest, '%S+') do
      local n = tonumber(s)
      if n then
        levels[#levels + 1] = s
        if n > top then top = n end
      end
    end
    local same = true
    if (sp == 0) ~= (p == 0) then same = false
    elseif p == 0 then same = tonumber(ARGV[4]) >= top
    elseif p > sp + 1 then same = false
    elseif p + 1 < sp then return {2, cur}
    else p = sp end
    if same then
      for _, s in ipairs(levels) do
        if tonumber(s) == level then return {0, cur} end
      end
      fired = levels
    end
  end
end
fired[#fired + 1] = ARGV[2]
redis.call('SET', KEYS[1], string.format('%d', p) .. ' ' .. table.concat(fired, ' '), 'EX', ARGV[3])
return {1}
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


def stored_levels(stored: str) -> tuple[int, list[float]]:
    """(period, fired levels) of a stored value "<period> <level> <level> ..."."""
    period, *levels = stored.split()
    return int(period), [float(x) for x in levels]
