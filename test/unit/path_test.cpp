#include "common/error.hpp"
#include "scope/path.hpp"

#include <gtest/gtest.h>

using namespace sunsync;
using namespace sunsync::scope;

namespace {

Link fk(const std::string &name, const std::string &child, const std::string &col,
		const std::string &parent, const std::string &pcol = "id")
{
	Link l;
	l.name = name;
	l.child = child;
	l.child_columns = {col};
	l.parent = parent;
	l.parent_columns = {pcol};
	return l;
}

// The Sunschool shape: users is the root.
Graph sunschool()
{
	Graph g;
	g.root = "users";
	g.registered["users"] = {};
	auto add = [&g](Link l) { g.links[l.child].push_back(l); };
	add(fk("users_parent_id_fkey", "users", "parent_id", "users"));
	add(fk("lessons_learner_id_fkey", "lessons", "learner_id", "users"));
	add(fk("lessons_template_id_fkey", "lessons", "template_id", "lesson_templates"));
	add(fk("rewards_parent_id_fkey", "rewards", "parent_id", "users"));
	add(fk("rr_learner_id_fkey", "reward_redemptions", "learner_id", "users"));
	add(fk("rr_reward_id_fkey", "reward_redemptions", "reward_id", "rewards"));
	add(fk("qa_lesson_id_fkey", "quiz_answers", "lesson_id", "lessons"));
	add(fk("qa_learner_id_fkey", "quiz_answers", "learner_id", "users"));
	add(fk("g_learner_id_fkey", "learning_goals", "learner_id", "users"));
	add(fk("g_parent_id_fkey", "learning_goals", "parent_id", "users"));
	add(fk("c_parent_fkey", "comments", "parent_comment_id", "comments"));
	add(fk("c_lesson_fkey", "comments", "lesson_id", "lessons"));
	return g;
}

std::string error_of(const Graph &g, const std::string &t, std::optional<Link> via = {})
{
	try {
		derive_path(g, t, via);
		return "";
	} catch (const Error &e) {
		return e.message() + " | " + e.detail() + " | " + e.hint();
	}
}

} // namespace

TEST(DerivePath, DirectForeignKey)
{
	Path p = derive_path(sunschool(), "lessons", std::nullopt);
	ASSERT_EQ(p.size(), 1u);
	EXPECT_EQ(describe_path(p), "lessons.learner_id -> users.id");
}

TEST(DerivePath, RootHasEmptyPath) { EXPECT_TRUE(derive_path(sunschool(), "users", {}).empty()); }

TEST(DerivePath, SeveralHopsThroughUnregisteredTables)
{
	// comments -> lessons -> users; the self-reference is ignored
	Path p = derive_path(sunschool(), "comments", std::nullopt);
	EXPECT_EQ(describe_path(p), "comments.lesson_id -> lessons.id, lessons.learner_id -> users.id");
}

TEST(DerivePath, AmbiguousListsCandidatesByConstraintName)
{
	std::string e = error_of(sunschool(), "reward_redemptions");
	EXPECT_NE(e.find("more than one path"), std::string::npos) << e;
	EXPECT_NE(e.find("rr_learner_id_fkey (reward_redemptions.learner_id -> users.id)"), std::string::npos) << e;
	EXPECT_NE(e.find("rr_reward_id_fkey (reward_redemptions.reward_id -> rewards.id, rewards.parent_id -> users.id)"),
			  std::string::npos) << e;
	EXPECT_NE(e.find("via =>"), std::string::npos) << e;
	EXPECT_NE(error_of(sunschool(), "learning_goals").find("g_parent_id_fkey"), std::string::npos);
}

TEST(DerivePath, ViaChoosesTheFirstHop)
{
	Graph g = sunschool();
	Path p = derive_path(g, "reward_redemptions", g.links["reward_redemptions"][1]);
	EXPECT_EQ(describe_path(p), "reward_redemptions.reward_id -> rewards.id, rewards.parent_id -> users.id");
}

TEST(DerivePath, RegisteredParentPathIsReused)
{
	Graph g = sunschool();
	g.registered["rewards"] = derive_path(g, "rewards", {});
	Path p = derive_path(g, "reward_redemptions", g.links["reward_redemptions"][1]);
	ASSERT_EQ(p.size(), 2u);
	EXPECT_EQ(p[1].name, "rewards_parent_id_fkey");
}

TEST(DerivePath, NoPath)
{
	Graph g = sunschool();
	std::string e = error_of(g, "lesson_templates");
	EXPECT_NE(e.find("has no path to the root table users"), std::string::npos) << e;
	EXPECT_NE(e.find("It has no foreign key."), std::string::npos) << e;
}

TEST(DerivePath, DeclaredLinkWithTextComparison)
{
	Graph g = sunschool();
	Link l = fk("", "achievements", "learner_id", "users");
	l.declared = true;
	l.text_compare = true;
	Path p = derive_path(g, "achievements", l);
	EXPECT_EQ(describe_path(p), "achievements.learner_id -> users.id (as text)");
	EXPECT_NE(error_of(g, "achievements").find("has no path"), std::string::npos);
}

TEST(DerivePath, DeclaredLinkToATableWithoutPathFails)
{
	Graph g = sunschool();
	Link l = fk("", "x", "template_id", "lesson_templates");
	l.declared = true;
	EXPECT_NE(error_of(g, "x", l).find("through x.template_id -> lesson_templates.id"), std::string::npos);
}

TEST(DerivePath, AmbiguityBeyondTheFirstHopNamesTheIntermediateTable)
{
	Graph g = sunschool();
	// quiz_answers reaches users two ways; a table below it inherits the choice
	g.links["answer_notes"].push_back(fk("n_answer_fkey", "answer_notes", "answer_id", "quiz_answers"));
	std::string e = error_of(g, "answer_notes");
	EXPECT_NE(e.find("through quiz_answers in more than one way"), std::string::npos) << e;
	EXPECT_NE(e.find("Register quiz_answers first"), std::string::npos) << e;
	g.registered["quiz_answers"] = derive_path(g, "quiz_answers", g.links["quiz_answers"][0]);
	EXPECT_EQ(describe_path(derive_path(g, "answer_notes", {})),
			  "answer_notes.answer_id -> quiz_answers.id, quiz_answers.lesson_id -> lessons.id, "
			  "lessons.learner_id -> users.id");
}

TEST(DerivePath, CompositeKeysAreDescribed)
{
	Graph g;
	g.root = "tenants";
	Link l;
	l.name = "grandchild_fkey";
	l.child = "grandchild";
	l.child_columns = {"tenant_id", "child_no"};
	l.parent = "child";
	l.parent_columns = {"tenant_id", "no"};
	g.links["grandchild"].push_back(l);
	g.links["child"].push_back(fk("child_fkey", "child", "tenant_id", "tenants"));
	EXPECT_EQ(describe_path(derive_path(g, "grandchild", {})),
			  "grandchild.(tenant_id, child_no) -> child.(tenant_id, no), child.tenant_id -> tenants.id");
}

TEST(OrderParentsFirst, RootFirstThenParentsBeforeChildren)
{
	std::multimap<std::string, std::string> parents{{"lessons", "users"}, {"quiz_answers", "lessons"},
													{"quiz_answers", "users"}, {"a_rewards", "users"},
													{"redemptions", "a_rewards"}, {"users", "users"}};
	auto order = order_parents_first("users", {"quiz_answers", "lessons", "users", "redemptions", "a_rewards"},
									 parents);
	std::vector<std::string> expected{"users", "a_rewards", "lessons", "quiz_answers", "redemptions"};
	EXPECT_EQ(order, expected);
}

TEST(OrderParentsFirst, CyclesDoNotLoseTables)
{
	std::multimap<std::string, std::string> parents{{"a", "b"}, {"b", "a"}};
	auto order = order_parents_first("r", {"r", "a", "b"}, parents);
	EXPECT_EQ(order.size(), 3u);
	EXPECT_EQ(order[0], "r");
}
