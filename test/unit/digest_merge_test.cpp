#include "engine/digest_merge.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

using namespace sunsync::engine;

namespace {

Digest d(int n)
{
	Digest out{};
	out[0] = static_cast<std::uint8_t>(n >> 8);
	out[1] = static_cast<std::uint8_t>(n);
	return out;
}

RowDigest row(int key, int value, bool pending = false)
{
	RowDigest r;
	r.key = d(key);
	r.row = d(value);
	r.pending = pending;
	return r;
}

VerifyCounts compare(std::vector<RowDigest> source, const std::vector<RowDigest> &target)
{
	size_t next = 0;
	DigestMerge merge([&](RowDigest &out) {
		if (next == source.size())
			return false;
		out = source[next++];
		return true;
	});
	for (const auto &t : target)
		merge.target(t);
	return merge.finish();
}

} // namespace

TEST(DigestMerge, ExactCopyIsOk)
{
	auto c = compare({row(1, 10), row(2, 20), row(3, 30)}, {row(1, 10), row(2, 20), row(3, 30)});
	EXPECT_EQ(c.source_rows, 3);
	EXPECT_EQ(c.target_rows, 3);
	EXPECT_EQ(c.missing + c.extra + c.differing + c.pending, 0);
	EXPECT_TRUE(c.ok());
}

TEST(DigestMerge, CountsMissingExtraDiffering)
{
	// 1 same, 2 missing, 3 differs, 4 extra, 5 missing at the end, 0 extra first
	auto c = compare({row(1, 10), row(2, 20), row(3, 30), row(5, 50)},
					 {row(0, 1), row(1, 10), row(3, 31), row(4, 40)});
	EXPECT_EQ(c.source_rows, 4);
	EXPECT_EQ(c.target_rows, 4);
	EXPECT_EQ(c.missing, 2);
	EXPECT_EQ(c.extra, 2);
	EXPECT_EQ(c.differing, 1);
	EXPECT_FALSE(c.ok());
}

TEST(DigestMerge, EmptySides)
{
	auto none = compare({}, {});
	EXPECT_TRUE(none.ok());
	auto no_target = compare({row(1, 1), row(2, 2)}, {});
	EXPECT_EQ(no_target.missing, 2);
	auto no_source = compare({}, {row(1, 1)});
	EXPECT_EQ(no_source.extra, 1);
}

TEST(DigestMerge, PendingRowsAreNotJudged)
{
	// 1 differs but pending on the source; 2 only on the target, pending
	// there; 3 only on the source, pending; 4 differs for real
	auto c = compare({row(1, 10, true), row(3, 30, true), row(4, 40)}, {row(1, 11), row(2, 20, true), row(4, 41)});
	EXPECT_EQ(c.pending, 3);
	EXPECT_EQ(c.differing, 1);
	EXPECT_EQ(c.missing, 0);
	EXPECT_EQ(c.extra, 0);
	EXPECT_FALSE(c.ok());
}

TEST(DigestMerge, RefusesUnorderedInput)
{
	EXPECT_THROW(compare({row(2, 1), row(1, 1)}, {}), std::runtime_error);
	EXPECT_THROW(compare({}, {row(2, 1), row(1, 1)}), std::runtime_error);
}

// A target whose primary key was dropped by hand may hold a key twice: the
// second row is one too many, not a reason to fail.
TEST(DigestMerge, CountsATargetKeyTwiceAsExtra)
{
	VerifyCounts c = compare({row(1, 1), row(2, 2)}, {row(1, 1), row(1, 1), row(2, 2)});
	EXPECT_EQ(c.source_rows, 2);
	EXPECT_EQ(c.target_rows, 3);
	EXPECT_EQ(c.extra, 1);
	EXPECT_EQ(c.missing, 0);
	EXPECT_EQ(c.differing, 0);
	EXPECT_FALSE(c.ok());
	// a changed row not shipped yet: the next run replaces both copies
	VerifyCounts p = compare({row(1, 1, true)}, {row(1, 1, true), row(1, 1, true)});
	EXPECT_EQ(p.pending, 2);
	EXPECT_EQ(p.extra, 0);
}

TEST(DigestText, ParsesUuidText)
{
	Digest out{};
	ASSERT_TRUE(parse_digest("0123abcd-ef01-2345-6789-ABCDEF012345", 36, out));
	EXPECT_EQ(out[0], 0x01);
	EXPECT_EQ(out[3], 0xcd);
	EXPECT_EQ(out[10], 0xab);
	EXPECT_EQ(out[15], 0x45);
	EXPECT_FALSE(parse_digest("0123abcd-ef01-2345-6789-ABCDEF01234", 35, out));
	EXPECT_FALSE(parse_digest("0123abcdxef01-2345-6789-ABCDEF012345", 36, out));
	EXPECT_FALSE(parse_digest("0123abcd-ef01-2345-6789-ABCDEF01234g", 36, out));
}

TEST(DigestText, SplitsCopyLines)
{
	const char line[] = "a\t\\N\tbc\n";
	auto f = split_copy_line(line, sizeof line - 1);
	ASSERT_EQ(f.size(), 3u);
	EXPECT_EQ(std::string(f[0].data, f[0].len), "a");
	EXPECT_TRUE(f[1].null);
	EXPECT_FALSE(f[2].null);
	EXPECT_EQ(std::string(f[2].data, f[2].len), "bc");
}
