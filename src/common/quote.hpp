// Quoting for SQL that sunsync sends to a target over libpq, where the
// server's quote_identifier() is not at hand.  Identifiers are always quoted:
// that is correct for every name, keywords and mixed case included.
#pragma once

#include <string>
#include <vector>

namespace sunsync {

std::string quote_ident(const std::string &name);
// schema.name, each part quoted.
std::string quote_qualified(const std::string &schema, const std::string &name);
// A string literal that means the same whatever standard_conforming_strings is.
std::string quote_literal(const std::string &value);
// "a", "b", "c"
std::string quote_ident_list(const std::vector<std::string> &names);

} // namespace sunsync
