#include "common/mask_text.hpp"

#include <gtest/gtest.h>

using sunsync::mask_passwords;
using sunsync::may_hold_password;

TEST(MaskText, UrlPasswordInAStatement)
{
	EXPECT_EQ(mask_passwords("SELECT sunsync_create_config(1, 'postgresql://tenant:S3cret@db.example/app')"),
			  "SELECT sunsync_create_config(1, 'postgresql://tenant:***@db.example/app')");
	EXPECT_EQ(mask_passwords("postgres://u:p@h"), "postgres://u:***@h");
	EXPECT_EQ(mask_passwords("POSTGRESQL://u:p@h/d"), "POSTGRESQL://u:***@h/d");
}

TEST(MaskText, UrlWithoutPasswordIsKept)
{
	EXPECT_EQ(mask_passwords("postgresql://tenant@h:5432/app"), "postgresql://tenant@h:5432/app");
	EXPECT_EQ(mask_passwords("postgresql://h:5432/app"), "postgresql://h:5432/app");
	EXPECT_EQ(mask_passwords("no url at all"), "no url at all");
}

TEST(MaskText, PasswordWithQuotesSlashesAndAts)
{
	// doubled quote inside an SQL literal, '/' and '@' in the password
	EXPECT_EQ(mask_passwords("'postgresql://u:pa''s/s@x@h/db'"), "'postgresql://u:***@h/db'");
	EXPECT_EQ(mask_passwords("'postgresql://u:p%40ss@h/db', true"), "'postgresql://u:***@h/db', true");
}

TEST(MaskText, EveryUrlOfATextIsMasked)
{
	std::string masked = mask_passwords("a postgres://u:one@h1/d and postgresql://v:two@h2/d.");
	EXPECT_EQ(masked, "a postgres://u:***@h1/d and postgresql://v:***@h2/d.");
	// two URLs without whitespace between them: everything in between goes
	masked = mask_passwords("('postgres://u:one@h1/d','postgres://v:two@h2/d')");
	EXPECT_EQ(masked.find("one"), std::string::npos);
	EXPECT_EQ(masked.find("two"), std::string::npos);
}

TEST(MaskText, PasswordParameters)
{
	EXPECT_EQ(mask_passwords("postgresql://h/db?user=u&password=S3cret&sslmode=require"),
			  "postgresql://h/db?user=u&password=***&sslmode=require");
	EXPECT_EQ(mask_passwords("host=h password='a b\\'c' dbname=x"), "host=h password=*** dbname=x");
	EXPECT_EQ(mask_passwords("PASSWORD=x"), "PASSWORD=***");
}

TEST(MaskText, WhatLibpqAcceptsIsMaskedToo)
{
	// whitespace in a password of a URL in an SQL literal
	EXPECT_EQ(mask_passwords("SELECT f('postgresql://u:pa ss\tword@h/db', 1)"), "SELECT f('postgresql://u:***@h/db', 1)");
	// a doubled quote inside the literal does not end the URL
	EXPECT_EQ(mask_passwords("'postgresql://u:a''b c@h/db'"), "'postgresql://u:***@h/db'");
	// a percent-encoded parameter key, and a value with quotes and spaces
	EXPECT_EQ(mask_passwords("'postgresql://h/db?pass%77ord=S3cret&x=1'"), "'postgresql://h/db?pass%77ord=***&x=1'");
	EXPECT_EQ(mask_passwords("'postgresql://h/db?password=a''S3 cret'"), "'postgresql://h/db?password=***'");
	// a conninfo keyword whose value holds a doubled quote
	EXPECT_EQ(mask_passwords("'host=h password=a''S3cret dbname=x'"), "'host=h password=*** dbname=x'");
}

TEST(MaskText, CheapPrecheck)
{
	EXPECT_TRUE(may_hold_password("x postgresql://u:p@h"));
	EXPECT_TRUE(may_hold_password("host=h password=p"));
	EXPECT_FALSE(may_hold_password("SELECT 1"));
	EXPECT_FALSE(may_hold_password("password"));
}
