#include "common/mask_text.hpp"

#include <cctype>

namespace sunsync {

namespace {

bool starts_with_ci(std::string_view text, size_t at, std::string_view word)
{
	if (text.size() - at < word.size())
		return false;
	for (size_t i = 0; i < word.size(); i++)
		if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i])
			return false;
	return true;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Length of a URL scheme we mask at `at`, 0 if none.
size_t scheme_at(std::string_view text, size_t at)
{
	for (std::string_view s : {"postgresql://", "postgres://"})
		if (starts_with_ci(text, at, s))
			return s.size();
	return 0;
}

// password=VALUE: VALUE ends at whitespace, '&' or a quote, or is 'quoted'.
size_t password_value_end(std::string_view text, size_t at)
{
	if (at < text.size() && text[at] == '\'') {
		for (size_t i = at + 1; i < text.size(); i++) {
			if (text[i] == '\\')
				i++;
			else if (text[i] == '\'')
				return i + 1;
		}
		return text.size();
	}
	size_t i = at;
	while (i < text.size() && !is_space(text[i]) && text[i] != '&' && text[i] != '\'' && text[i] != '"')
		i++;
	return i;
}

} // namespace

bool may_hold_password(std::string_view text)
{
	for (size_t i = 0; i < text.size(); i++)
		if ((text[i] == ':' && i + 2 < text.size() && text[i + 1] == '/' && text[i + 2] == '/') ||
			((text[i] == '=') && i >= 8 && starts_with_ci(text, i - 8, "password")))
			return true;
	return false;
}

std::string mask_passwords(std::string_view text)
{
	std::string out;
	out.reserve(text.size());
	size_t i = 0;
	while (i < text.size()) {
		if (size_t n = scheme_at(text, i)) {
			size_t start = i + n;
			size_t end = start;
			while (end < text.size() && !is_space(text[end]))
				end++;
			std::string_view rest = text.substr(start, end - start);
			size_t at = rest.rfind('@');
			size_t colon = rest.find(':');
			out.append(text.substr(i, n));
			if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
				out.append(rest.substr(0, colon + 1));
				out.append("***");
				i = start + at; // continue at '@'
			} else
				i = start;
			continue;
		}
		if (starts_with_ci(text, i, "password=")) {
			out.append(text.substr(i, 9));
			size_t end = password_value_end(text, i + 9);
			if (end > i + 9)
				out.append("***");
			i = end;
			continue;
		}
		out.push_back(text[i++]);
	}
	return out;
}

} // namespace sunsync
