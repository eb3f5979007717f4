-- wrk: PUT /v1/kv/bench/<thread>-<n> {"value": "<100 bytes>"} against a ZeroCloud control-plane member.
local counter = 0
local value = string.rep("v", 100)
local body = '{"value":"' .. value .. '"}'
local tid = 0
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. (os.getenv("ZC_TOKEN") or "") }
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/v1/kv/bench/" .. tid .. "-" .. counter, headers, body)
end
