#include "common/error.hpp"
#include "scope/via_syntax.hpp"

#include <gtest/gtest.h>

using namespace sunsync;
using namespace sunsync::scope;

TEST(ViaSyntax, SplitsALink)
{
	ViaParts p = split_via("learner_id -> users(id)");
	EXPECT_EQ(p.child_columns, "learner_id");
	EXPECT_EQ(p.table, "users");
	EXPECT_EQ(p.parent_columns, "id");
}

TEST(ViaSyntax, SplitsCompositeAndQuotedNames)
{
	ViaParts p = split_via(" (a, \"B c\") ->  \"My Schema\".\"T(1)\"(x, \"Y\") ");
	EXPECT_EQ(p.child_columns, "a, \"B c\"");
	EXPECT_EQ(p.table, "\"My Schema\".\"T(1)\"");
	EXPECT_EQ(p.parent_columns, "x, \"Y\"");
}

TEST(ViaSyntax, RefusesATableWithoutColumns)
{
	for (const char *bad : {"a -> users", "a -> (id)", "a -> users(id", "->"}) {
		try {
			split_via(bad);
			ADD_FAILURE() << bad << " was accepted";
		} catch (const Error &e) {
			EXPECT_EQ(e.sqlstate(), "22023") << bad;
			EXPECT_EQ(e.message(), std::string("invalid via \"") + bad + "\"");
		}
	}
	EXPECT_FALSE(is_declared_link("lessons_learner_id_fkey"));
	EXPECT_TRUE(is_declared_link("a->b(c)"));
}
