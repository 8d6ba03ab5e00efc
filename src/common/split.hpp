// Splitting text at a separator: "a,b" -> {"a", "b"}; "" -> {}.
#pragma once

#include <string>
#include <vector>

namespace sunsync {

inline std::vector<std::string> split(const std::string &text, char separator)
{
	std::vector<std::string> out;
	if (text.empty())
		return out;
	std::string item;
	for (char c : text) {
		if (c == separator) {
			out.push_back(item);
			item.clear();
		} else
			item += c;
	}
	out.push_back(item);
	return out;
}

} // namespace sunsync
