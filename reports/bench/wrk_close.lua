-- wrk script: the close requests of `wlcs bench`, alternately a self-close (close_current in a
-- web request carrying the session cookie) and a close from a non-web process, for one fixed
-- ID. Against examples/hello_server.rs it measures the load generator; against `wlcs serve`
-- the ID names no session, so every close is a no-op there.
--   wrk -t2 -c4 -d5s -s reports/bench/wrk_close.lua http://127.0.0.1:8090
local id = "48454C4C4F574F524C44000000000000"
local self_req, non_web_req
local n = 0

function init(args)
  self_req = wrk.format("POST", "/wlcs/v1/web",
    { ["Content-Type"] = "application/json", ["Cookie"] = "4DSID_wlcs=" .. id },
    '{"actions":[{"op":"close_current"}]}')
  non_web_req = wrk.format("POST", "/wlcs/v1/non-web",
    { ["Content-Type"] = "application/json" },
    '{"process":0,"actions":[{"op":"close","id":"' .. id .. '"}]}')
end

function request()
  n = n + 1
  if n % 2 == 0 then return self_req end
  return non_web_req
end
