-- wrk script: POST the review in $SG_BENCH_BODY to the path in the URL,
-- as kube-apiserver does (JSON, keep-alive).
local f = assert(io.open(os.getenv("SG_BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, */*"
wrk.headers["User-Agent"] = "kube-apiserver-admission"

-- Count answers that are not 200 so a broken run cannot pass for a fast one.
local bad = 0
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("non200 %d\n", bad))
end
