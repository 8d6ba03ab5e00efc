#include "scope/via_syntax.hpp"

#include "common/error.hpp"

namespace sunsync::scope {

namespace {

std::string trim(const std::string &s)
{
	size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
	return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

} // namespace

void bad_via(const std::string &via, const std::string &detail)
{
	throw Error(sqlstate::invalid_parameter_value, "invalid via \"" + via + "\"", detail,
				"Write a foreign-key constraint name of the table, or a link as 'column -> table(column)'.");
}

bool is_declared_link(const std::string &via) { return via.find("->") != std::string::npos; }

ViaParts split_via(const std::string &via)
{
	size_t arrow = via.find("->");
	if (arrow == std::string::npos)
		bad_via(via, "A declared link has an arrow (->) between its columns and the referenced table.");
	std::string left = trim(via.substr(0, arrow)), right = trim(via.substr(arrow + 2));
	if (left.size() >= 2 && left.front() == '(' && left.back() == ')')
		left = left.substr(1, left.size() - 2);
	size_t open = right.rfind('(');
	if (open == std::string::npos || right.back() != ')' || open == 0)
		bad_via(via, "The referenced table must be followed by its columns in parentheses.");
	ViaParts parts;
	parts.child_columns = left;
	parts.table = trim(right.substr(0, open));
	parts.parent_columns = right.substr(open + 1, right.size() - open - 2);
	return parts;
}

} // namespace sunsync::scope
