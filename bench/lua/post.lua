-- POST one JSON body file to the target URL with Anthropic-style headers.
-- Usage: wrk ... -s bench/lua/post.lua URL -- /path/to/body.json
local body_path = os.getenv("BENCH_BODY")

function init(args)
   local path = args[1] or body_path
   if path == nil then
      error("post.lua: pass the body file after --, e.g. wrk ... URL -- body.json")
   end
   local f = assert(io.open(path, "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.method = "POST"
   wrk.headers["content-type"] = "application/json"
   wrk.headers["anthropic-version"] = "2023-06-01"
   wrk.headers["x-api-key"] = "bench"
end
