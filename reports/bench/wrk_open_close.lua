-- wrk script: the load of `wlcs bench` on a real server: open a session with a realistic
-- context (4 process variables, a 16-record selection, 2 locked records), then close it,
-- alternately by itself (close_current with its cookie) and from a non-web process.
-- IDs come from the opens' Set-Cookie headers; each wrk thread keeps its own queue.
-- The server must allow as many live sessions as connections (the default limit is 100):
--   curl -s -XPOST 127.0.0.1:8080/wlcs/v1/reset -d '{"app_name":"wlcs","timeout_profile":"timeout-keeps-id","cookie_name_profile":"cookie-4DSID_AppName"}'
--   wrk -t2 -c4 -d5s -s reports/bench/wrk_open_close.lua http://127.0.0.1:8080
local ids = {}
local slot = 0
local tid = 0
local n = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local function open_body(s)
  local parts = {}
  for v = 0, 3 do
    parts[#parts + 1] = string.format('{"op":"set_var","var":%d,"value":%d}', v, s * 8 + v)
  end
  local recs = {}
  for r = 0, 15 do recs[#recs + 1] = tostring((s * 16 + r) % 4294967296) end
  parts[#parts + 1] = '{"op":"select","table":2,"records":[' .. table.concat(recs, ",") .. ']}'
  for l = 0, 1 do
    parts[#parts + 1] = string.format('{"op":"lock","table":1,"record":%d}', (s * 2 + l) % 4294967296)
  end
  return '{"actions":[' .. table.concat(parts, ",") .. ']}'
end

function request()
  local id = table.remove(ids)
  if id then
    n = n + 1
    if n % 2 == 0 then
      return wrk.format("POST", "/wlcs/v1/web",
        { ["Content-Type"] = "application/json", ["Cookie"] = "4DSID_wlcs=" .. id },
        '{"actions":[{"op":"close_current"}]}')
    end
    return wrk.format("POST", "/wlcs/v1/non-web", { ["Content-Type"] = "application/json" },
      '{"process":0,"actions":[{"op":"close","id":"' .. id .. '"}]}')
  end
  slot = (slot + 1) % 1000000
  return wrk.format("POST", "/wlcs/v1/web", { ["Content-Type"] = "application/json" },
    open_body(tonumber(tid) * 1000000 + slot))
end

function response(status, headers, body)
  local cookie = headers["Set-Cookie"] or headers["set-cookie"]
  if cookie then
    local id = cookie:match("^[^=]+=([0-9A-Fa-f]+);")
    if id then ids[#ids + 1] = id end
  end
end
