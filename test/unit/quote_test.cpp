#include "common/error.hpp"
#include "common/quote.hpp"

#include <gtest/gtest.h>

using namespace sunsync;

TEST(QuoteIdent, PlainNameIsQuoted) { EXPECT_EQ(quote_ident("users"), "\"users\""); }

TEST(QuoteIdent, EmbeddedQuoteIsDoubled)
{
	EXPECT_EQ(quote_ident("a\"b"), "\"a\"\"b\"");
	EXPECT_EQ(quote_ident("\"; DROP TABLE x; --"), "\"\"\"; DROP TABLE x; --\"");
}

TEST(QuoteIdent, KeywordAndMixedCaseKeepTheirMeaning)
{
	EXPECT_EQ(quote_ident("select"), "\"select\"");
	EXPECT_EQ(quote_ident("MixedCase"), "\"MixedCase\"");
}

TEST(QuoteIdent, NulByteIsRefused) { EXPECT_THROW(quote_ident(std::string("a\0b", 3)), Error); }

TEST(QuoteQualified, BothPartsQuoted)
{
	EXPECT_EQ(quote_qualified("my schema", "t"), "\"my schema\".\"t\"");
}

TEST(QuoteLiteral, QuotesAndBackslashes)
{
	EXPECT_EQ(quote_literal("it's"), "'it''s'");
	EXPECT_EQ(quote_literal("a\\b"), "E'a\\\\b'");
	EXPECT_EQ(quote_literal(""), "''");
}

TEST(QuoteIdentList, CommaSeparated)
{
	EXPECT_EQ(quote_ident_list({"a", "B"}), "\"a\", \"B\"");
}
