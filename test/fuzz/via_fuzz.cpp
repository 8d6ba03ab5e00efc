// libFuzzer target: the syntax of a declared link (sunsync_add_table's via,
// text an application role supplies).  Either an "invalid via" error
// (22023) or three parts that come from the text as written.
#include "common/error.hpp"
#include "scope/via_syntax.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string via(reinterpret_cast<const char *>(data), size);
	if (!sunsync::scope::is_declared_link(via))
		return 0;
	try {
		sunsync::scope::ViaParts p = sunsync::scope::split_via(via);
		std::string tail = "(" + p.parent_columns + ")";
		bool suffix = via.find_last_not_of(" \t\r\n") != std::string::npos &&
					  via.substr(0, via.find_last_not_of(" \t\r\n") + 1).size() >= tail.size() &&
					  via.compare(via.find_last_not_of(" \t\r\n") + 1 - tail.size(), tail.size(), tail) == 0;
		if (p.table.empty() || !suffix || via.find(p.table) == std::string::npos ||
			via.find(p.child_columns) == std::string::npos || p.table.front() == ' ' || p.table.back() == ' ')
			std::abort();
	} catch (const sunsync::Error &e) {
		if (e.sqlstate() != "22023" || e.message().rfind("invalid via \"", 0) != 0)
			std::abort();
	}
	return 0;
}
