// The comparison at the heart of sunsync_verify, free of PostgreSQL: two
// streams of (key digest, row digest), each ordered by key digest (uuid
// order, which is byte order), merged like a merge join.  A key on both
// sides with equal row digests is a match; with different ones the row
// differs; a key on one side only is missing (source only) or extra
// (target only).  A row marked pending on either side (a change the target
// has not been sent yet) is counted apart and not judged.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sunsync::engine {

using Digest = std::array<std::uint8_t, 16>;

struct RowDigest {
	Digest key{};
	Digest row{};
	bool pending = false;
};

struct VerifyCounts {
	std::int64_t source_rows = 0, target_rows = 0;
	std::int64_t missing = 0, extra = 0, differing = 0, pending = 0;
	bool ok() const { return missing == 0 && extra == 0 && differing == 0; }
};

// Parses a uuid's text form (8-4-4-4-12 hex digits, either case).
bool parse_digest(const char *text, std::size_t len, Digest &out);

// Splits a COPY text-format line into its fields ("\N" is NULL).  Only
// for lines of uuids, which never need COPY's backslash escapes.
struct CopyField {
	const char *data;
	std::size_t len;
	bool null;
};
std::vector<CopyField> split_copy_line(const char *line, std::size_t len);

class DigestMerge {
public:
	// next_source fills its argument with the next source row and returns
	// true, or returns false at the end; rows come in key order.
	explicit DigestMerge(std::function<bool(RowDigest &)> next_source);
	// The next target row, in key order.  Throws std::runtime_error when
	// either side breaks the order (the comparison would be wrong).
	void target(const RowDigest &row);
	// No more target rows: the rest of the source is counted.
	const VerifyCounts &finish();
	const VerifyCounts &counts() const { return counts_; }

private:
	bool peek();
	void source_only(const RowDigest &row);
	std::function<bool(RowDigest &)> next_source_;
	RowDigest head_{};
	bool have_head_ = false, source_done_ = false, have_last_target_ = false;
	Digest last_source_{}, last_target_{};
	bool have_last_source_ = false;
	VerifyCounts counts_;
};

} // namespace sunsync::engine
