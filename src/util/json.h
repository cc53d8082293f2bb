// JSON text for the files framecast writes for scripts (metrics.jsonl, evaluation reports).
#pragma once

#include <string>

namespace fc {

// A JSON string literal of `s`: quotes included, '"' and '\' escaped, \n and \t by name, other
// control characters as \u00XX. Bytes >= 0x80 are copied (UTF-8 passes through).
std::string JsonString(const std::string& s);

// The shortest of %.15g, %.16g, %.17g that reads back as exactly `v`; "null" when `v` is not
// finite (JSON has no NaN or Inf).
std::string JsonNumber(double v);

}  // namespace fc
