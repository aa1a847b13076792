"""The spool's Redis scripts: one command and one reply per batch instead of one per entry.

Each script names the stream as its only key (KEYS[1]), so on a Redis Cluster it runs on the
stream's master. Replies are one bulk string, not an array of entries: parsing one string is
what makes a batch cheap for redis-py (with or without hiredis). Needs Redis 5+ (streams,
effects replication of XADD `*` ids, the default since 5.0 and the only mode in 7.0).
"""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError

# An XREADGROUP reply as "<id>\n<d>" per entry, joined by newlines, so that one bytes.split()
# reads it. An entry deleted while pending (no fields) has an empty d. A raw newline in d (a
# hand-made entry) becomes a space, which is the same JSON: JSON allows raw newlines only
# between tokens.
LINES = """
local function lines(r)
  local out, n = {}, 0
  if not r then return '' end
  for _, e in ipairs(r[1][2]) do
    local f, d = e[2], ''
    if f then
      for i = 1, #f, 2 do
        if f[i] == 'd' then d = f[i + 1] end
      end
    end
    if string.find(d, '\\n', 1, true) then d = string.gsub(d, '\\n', ' ') end
    out[n + 1] = e[1]
    out[n + 2] = d
    n = n + 2
  end
  return table.concat(out, '\\n')
end
"""

# XADD each line of ARGV[1] as an entry {d: line}; the new ids, space-separated. One
# argument, not one per record: redis-py packs each argument in Python, the join is one C
# call. Records are JSON as our encoders write it, which never holds a raw newline.
# With ARGV 2-4 (group, consumer, count > 0) it then reads up to count new entries for the
# consumer, as READ does, after a newline: the writer takes back what it wrote (and any
# other new entries) in the same round trip, instead of the reader in a second one. A failed
# read (no group yet: the reader recreates it) leaves the write as it is.
WRITE = (
    LINES
    + """
local blob, ids, pos = ARGV[1], {}, 1
local n = #blob
while pos <= n do
  local nl = string.find(blob, '\\n', pos, true) or (n + 1)
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'd', string.sub(blob, pos, nl - 1))
  pos = nl + 1
end
local out = table.concat(ids, ' ')
local count = tonumber(ARGV[4])
if count and count > 0 then
  local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', count,
    'STREAMS', KEYS[1], '>')
  if type(r) == 'table' and r.err == nil then out = out .. '\\n' .. lines(r) end
end
return out
"""
)

# XREADGROUP without BLOCK (ARGV: group, consumer, count, start id), as LINES.
READ = (
    LINES
    + """
return lines(redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
  'STREAMS', KEYS[1], ARGV[4]))
"""
)

# XACK then XDEL the ids (ARGV: group, space-separated ids). unpack() is bounded by Lua's C
# stack (about 8000 values): callers send at most BATCH ids.
ACK = """
local ids = {}
for id in string.gmatch(ARGV[2], '%S+') do ids[#ids + 1] = id end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
"""


class Script:
    """EVALSHA, and EVAL when the server does not know the script (a restart, SCRIPT FLUSH):
    EVAL caches it again."""

    __slots__ = ("source", "sha")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, client: Any, key: str, *args: Any) -> Any:
        try:
            return await client.evalsha(self.sha, 1, key, *args)
        except NoScriptError:
            return await client.eval(self.source, 1, key, *args)


def split_entries(blob: Any) -> list[tuple[str, bytes]]:
    """READ's reply -> [(stream id, record bytes)] (b"" for an entry without a record)."""
    if not blob:
        return []
    if isinstance(blob, str):  # a client made with decode_responses
        blob = blob.encode()
    parts = blob.split(b"\n")
    if len(parts) % 2:
        raise ValueError("malformed spool read reply")
    return list(zip([sid.decode() for sid in parts[0::2]], parts[1::2], strict=True))


def join_records(records: list[bytes]) -> bytes:
    """WRITE's argument; ValueError if a record could be taken for two (a raw newline)."""
    blob = b"\n".join(records)
    if blob.count(b"\n") != len(records) - 1 or not all(records):
        raise ValueError("a spool record holds a newline or is empty")
    return blob


def split_write(reply: Any) -> tuple[list[str], list[tuple[str, bytes]]]:
    """WRITE's reply -> (the ids in the order of the arguments, the entries it read)."""
    if isinstance(reply, str):  # a client made with decode_responses
        reply = reply.encode()
    head, _, rest = bytes(reply).partition(b"\n")
    return head.decode().split(), split_entries(rest)


write_script, read_script, ack_script = Script(WRITE), Script(READ), Script(ACK)
