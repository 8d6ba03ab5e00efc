// Reading SQL function arguments into C++ values, through the guard.
#pragma once

#include "pg/guard.hpp"

#include <optional>
#include <string>
#include <vector>

namespace sunsync::pg {

std::optional<std::string> text_arg(FunctionCallInfo fcinfo, int n);
std::optional<bool> bool_arg(FunctionCallInfo fcinfo, int n);
std::optional<int64> int64_arg(FunctionCallInfo fcinfo, int n);
Oid oid_arg(FunctionCallInfo fcinfo, int n);
// NULL elements are refused with an error naming the argument.
std::optional<std::vector<std::string>> text_array_arg(FunctionCallInfo fcinfo, int n,
													   const char *name);
// Any argument in its text form (the type's output function), e.g. anyelement.
std::optional<std::string> any_arg_as_text(FunctionCallInfo fcinfo, int n);


Datum text_datum(const std::string &s);

} // namespace sunsync::pg
