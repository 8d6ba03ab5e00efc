#include "engine/digest_merge.hpp"

#include <cstring>
#include <stdexcept>

namespace sunsync::engine {

namespace {

int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int compare(const Digest &a, const Digest &b) { return std::memcmp(a.data(), b.data(), a.size()); }

} // namespace

bool parse_digest(const char *text, std::size_t len, Digest &out)
{
	if (len != 36)
		return false;
	std::size_t byte = 0;
	for (std::size_t i = 0; i < len;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return false;
			i++;
			continue;
		}
		int hi = hex_value(text[i]), lo = i + 1 < len ? hex_value(text[i + 1]) : -1;
		if (hi < 0 || lo < 0 || byte >= out.size())
			return false;
		out[byte++] = static_cast<std::uint8_t>(hi << 4 | lo);
		i += 2;
	}
	return byte == out.size();
}

std::vector<CopyField> split_copy_line(const char *line, std::size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	std::vector<CopyField> fields;
	std::size_t start = 0;
	for (std::size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != '\t')
			continue;
		std::size_t n = i - start;
		bool null = n == 2 && line[start] == '\\' && line[start + 1] == 'N';
		fields.push_back({line + start, n, null});
		start = i + 1;
	}
	return fields;
}

DigestMerge::DigestMerge(std::function<bool(RowDigest &)> next_source) : next_source_(std::move(next_source)) {}

bool DigestMerge::peek()
{
	if (have_head_)
		return true;
	if (source_done_)
		return false;
	if (!next_source_(head_)) {
		source_done_ = true;
		return false;
	}
	if (have_last_source_ && compare(last_source_, head_.key) >= 0)
		throw std::runtime_error("the source rows did not come in key order");
	last_source_ = head_.key;
	have_last_source_ = true;
	have_head_ = true;
	counts_.source_rows++;
	return true;
}

void DigestMerge::source_only(const RowDigest &row)
{
	if (row.pending)
		counts_.pending++;
	else
		counts_.missing++;
}

void DigestMerge::target(const RowDigest &row)
{
	int order = have_last_target_ ? compare(last_target_, row.key) : -1;
	if (order > 0)
		throw std::runtime_error("the target rows did not come in key order");
	if (order == 0) {
		// a second row with the key (the target's primary key dropped by
		// hand): one too many there
		counts_.target_rows++;
		if (row.pending)
			counts_.pending++; // (the next run replaces both)
		else
			counts_.extra++;
		return;
	}
	last_target_ = row.key;
	have_last_target_ = true;
	counts_.target_rows++;
	while (peek()) {
		int c = compare(head_.key, row.key);
		if (c > 0)
			break;
		have_head_ = false;
		if (c < 0) {
			source_only(head_);
			continue;
		}
		if (head_.pending || row.pending)
			counts_.pending++;
		else if (compare(head_.row, row.row) != 0)
			counts_.differing++;
		return;
	}
	if (row.pending)
		counts_.pending++;
	else
		counts_.extra++;
}

const VerifyCounts &DigestMerge::finish()
{
	while (peek()) {
		have_head_ = false;
		source_only(head_);
	}
	return counts_;
}

} // namespace sunsync::engine
