// The syntax of a declared link, sunsync_add_table's via written
// "col -> table(col)" or "(a, b) -> schema.table(x, y)": split into its
// three texts without a server (the names in them are then read with
// PostgreSQL's own identifier rules, scope/declared_link.hpp).
#pragma once

#include <string>

namespace sunsync::scope {

// Whether via is a declared link rather than a constraint name.
bool is_declared_link(const std::string &via);

struct ViaParts {
	std::string child_columns;  // "a, b" (the parentheses around a list removed)
	std::string table;          // "schema.table", trimmed
	std::string parent_columns; // "x, y", as written between the parentheses
};

// Throws sunsync::Error (22023, "invalid via ...") when the referenced table
// is not followed by its columns in parentheses.  Call for a declared link.
ViaParts split_via(const std::string &via);

// The message and hint of every "invalid via" error.
[[noreturn]] void bad_via(const std::string &via, const std::string &detail);

} // namespace sunsync::scope
