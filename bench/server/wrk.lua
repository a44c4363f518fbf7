-- wrk script for bench/server/bench.sh: POSTs the corpus in requests of
-- BATCH texts each, cycling through it (each wrk thread starts at its own
-- offset). Usage: wrk ... -s wrk.lua URL -- CORPUS BATCH PATH FORMAT
local bodies, n, i = {}, 0, 0

local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == '\\' then return '\\\\' end
    return string.format('\\u%04x', c:byte())
  end)
  return '"' .. s .. '"'
end

function init(args)
  local corpus, batch, path, format = args[1], tonumber(args[2]), args[3], args[4]
  local lines = {}
  for line in io.lines(corpus) do
    if #line > 0 then lines[#lines + 1] = json_string(line) end
  end
  for k = 1, #lines - batch + 1, batch do
    local texts = table.concat(lines, ",", k, k + batch - 1)
    local body
    if path == "/embed" then
      body = '{"inputs":[' .. texts .. '],"truncate":true}'
    else
      body = '{"input":[' .. texts .. '],"encoding_format":"' .. format .. '"}'
    end
    n = n + 1
    bodies[n] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
  end
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return bodies[i]
end
