-- One operation of the bench, described by the environment (bench/run.py sets it):
--   BENCH_METHOD, BENCH_PATH, BENCH_HEADERS (lines "Name: value"), BENCH_BODY;
--   BENCH_POOL: a file of single-use values, one a line, put into the body where it says
--   {value}; each wrk thread takes its own share, so no value is sent twice.
-- done() prints one JSON line that run.py reads.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
if body == "" then body = nil end
local headers = {}
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end

local pool = nil
local position = 0

function init(args)
  local file = os.getenv("BENCH_POOL")
  if file == nil or file == "" then return end
  local share = tonumber(os.getenv("BENCH_THREADS") or "1")
  pool = {}
  local line_number = 0
  for line in io.lines(file) do
    if line_number % share == thread_index then table.insert(pool, line) end
    line_number = line_number + 1
  end
end

local fixed = nil

function request()
  if pool == nil then
    if fixed == nil then fixed = wrk.format(method, path, headers, body) end
    return fixed
  end
  position = position + 1
  -- Past the end of the pool, values repeat and are refused: run.py sizes the pool so they do not.
  local value = pool[((position - 1) % #pool) + 1]
  return wrk.format(method, path, headers, (string.gsub(body, "{value}", value)))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
