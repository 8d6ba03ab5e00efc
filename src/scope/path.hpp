// How a table reaches the root: foreign-key (or declared) links, hop by hop.
// Pure logic over a graph the server side loads from pg_constraint, so that
// unit tests can exercise it without a server.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sunsync::scope {

struct Link {
	std::string name;  // constraint name; empty for a declared link
	std::string child; // table names as the server displays them (regclass)
	std::vector<std::string> child_columns;
	std::string parent;
	std::vector<std::string> parent_columns;
	bool declared = false;
	bool text_compare = false; // declared link whose column types differ
	unsigned child_oid = 0;    // the tables' OIDs, for the worker (0 in unit tests)
	unsigned parent_oid = 0;

	// "lessons.learner_id -> users.id"
	std::string describe() const;
	bool operator==(const Link &o) const;
};

using Path = std::vector<Link>;

struct Graph {
	std::string root;
	// outgoing foreign keys of every table, by child table
	std::map<std::string, std::vector<Link>> links;
	// registered tables whose path is settled (the root's is empty)
	std::map<std::string, Path> registered;
};

// The one path from table to the root.  first_hop, when given, is the only
// link tried from the table itself (sunsync_add_table's via).  Throws
// sunsync::Error when there is no path, or more than one.
Path derive_path(const Graph &graph, const std::string &table,
				 const std::optional<Link> &first_hop);

// "quiz_answers.lesson_id -> lessons.id, lessons.learner_id -> users.id"
std::string describe_path(const Path &path);

// Tables in an order where every parent comes before its children (edges:
// child -> parents); the root first, ties and cycles broken by name.
std::vector<std::string> order_parents_first(const std::string &root,
											 const std::set<std::string> &tables,
											 const std::multimap<std::string, std::string> &parent_of);

} // namespace sunsync::scope
