-- wrk script: POST a release, alternating between two revisions so that
-- every call changes the channel map and publishes signed metadata.
-- TOKEN comes from the environment.
local token = os.getenv("FERRY_BENCH_TOKEN")
local n = 0
request = function()
	n = n + 1
	local body = string.format('{"revision": %d, "channels": ["edge"]}', (n % 2) + 1)
	return wrk.format("POST", "/v1/packages/bench/release", {
		["Authorization"] = "Bearer " .. token,
		["Content-Type"] = "application/json",
	}, body)
end

done = function(summary, latency, requests)
	io.write(string.format("errors: %d non-2xx: %d\n",
		summary.errors.connect + summary.errors.read + summary.errors.write +
		summary.errors.timeout, summary.errors.status))
end
