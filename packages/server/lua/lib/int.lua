-- int(n): an integral number as digits, never in exponent form (Lua's tostring gives 1.7e+15).
-- %d prints the same digits as %.0f for the integers the scripts format (sequences, millisecond
-- times, counts: far below 2^63) at a fraction of the cost of glibc's float printing.
local function int(n) return string.format('%d', n) end
