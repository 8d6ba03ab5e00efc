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

// password=VALUE: VALUE ends at whitespace, '&' or a quote, or is 'quoted';
// a doubled quote (SQL's escape) does not end it.
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
	while (i < text.size() && !is_space(text[i]) && text[i] != '&') {
		if (text[i] == '\'' || text[i] == '"') {
			if (i + 1 < text.size() && text[i + 1] == text[i]) {
				i += 2;
				continue;
			}
			break;
		}
		i++;
	}
	return i;
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// A URL query key with %XX decoded, lower-cased (libpq decodes keys too).
std::string decoded_key(std::string_view key)
{
	std::string out;
	for (size_t i = 0; i < key.size(); i++) {
		if (key[i] == '%' && i + 2 < key.size() && hex_digit(key[i + 1]) >= 0 && hex_digit(key[i + 2]) >= 0) {
			out += static_cast<char>(hex_digit(key[i + 1]) * 16 + hex_digit(key[i + 2]));
			i += 2;
		} else
			out += static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
	}
	return out;
}

// Where a URL that starts at `start` ends: at the quote that closes the SQL
// literal it sits in (a doubled quote does not close it), else at whitespace.
size_t url_end(std::string_view text, size_t scheme_at, size_t start)
{
	char quote = scheme_at > 0 && (text[scheme_at - 1] == '\'' || text[scheme_at - 1] == '"') ? text[scheme_at - 1] : 0;
	size_t i = start;
	while (i < text.size()) {
		if (quote) {
			if (text[i] == quote) {
				if (i + 1 < text.size() && text[i + 1] == quote) {
					i += 2;
					continue;
				}
				break;
			}
		} else if (is_space(text[i]))
			break;
		i++;
	}
	return i;
}

// The query part of a URL with the value of every password parameter
// (however its key is percent-encoded) replaced by ***.
std::string mask_query(std::string_view query)
{
	std::string out;
	size_t i = 0;
	while (i <= query.size()) {
		size_t amp = query.find('&', i);
		std::string_view pair = query.substr(i, amp == std::string_view::npos ? std::string_view::npos : amp - i);
		size_t eq = pair.find('=');
		if (eq != std::string_view::npos && decoded_key(pair.substr(0, eq)) == "password") {
			out.append(pair.substr(0, eq + 1));
			out.append("***");
		} else
			out.append(pair);
		if (amp == std::string_view::npos)
			break;
		out += '&';
		i = amp + 1;
	}
	return out;
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
			size_t end = url_end(text, i, start);
			std::string_view rest = text.substr(start, end - start);
			out.append(text.substr(i, n));
			size_t at = rest.rfind('@');
			size_t colon = rest.find(':');
			size_t from = 0;
			if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
				out.append(rest.substr(0, colon + 1));
				out.append("***");
				from = at;
			}
			std::string_view tail = rest.substr(from);
			size_t q = tail.find('?');
			out.append(tail.substr(0, q));
			if (q != std::string_view::npos) {
				out += '?';
				out.append(mask_query(tail.substr(q + 1)));
			}
			i = end;
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
