#include "common/quote.hpp"

#include "common/error.hpp"

namespace sunsync {

namespace {
void refuse_nul(const std::string &s)
{
	if (s.find('\0') != std::string::npos)
		throw Error(sqlstate::invalid_parameter_value, "a name or value contains a NUL byte");
}
} // namespace

std::string quote_ident(const std::string &name)
{
	refuse_nul(name);
	std::string out = "\"";
	for (char c : name) {
		if (c == '"')
			out += '"';
		out += c;
	}
	return out + '"';
}

std::string quote_qualified(const std::string &schema, const std::string &name)
{
	return quote_ident(schema) + "." + quote_ident(name);
}

std::string quote_literal(const std::string &value)
{
	refuse_nul(value);
	bool has_backslash = value.find('\\') != std::string::npos;
	std::string out = has_backslash ? "E'" : "'";
	for (char c : value) {
		if (c == '\'' || c == '\\')
			out += c;
		out += c;
	}
	return out + '\'';
}

std::string quote_ident_list(const std::vector<std::string> &names)
{
	std::string out;
	for (const auto &n : names) {
		if (!out.empty())
			out += ", ";
		out += quote_ident(n);
	}
	return out;
}

} // namespace sunsync
