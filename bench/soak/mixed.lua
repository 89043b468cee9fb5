-- wrk script: one request of each kind in turn (args: bearer token, JWT).
local reqs = {}
local i = 0
function init (args)
  local bearer = { ["Authorization"] = "Bearer " .. args[1] }
  local jwt = { ["Authorization"] = "Bearer " .. args[2] }
  reqs = {
    wrk.format("GET", "/auth-bearer", bearer),
    wrk.format("GET", "/auth-jwt", jwt),
    wrk.format("GET", "/.conductor/functions/soak-single/", bearer),
    wrk.format("GET", "/.conductor/functions/soak-multi/", jwt),
    wrk.format("GET", "/.conductor/functions/soak-parallel/", bearer)
  }
end
function request ()
  i = i % #reqs + 1
  return reqs[i]
end
