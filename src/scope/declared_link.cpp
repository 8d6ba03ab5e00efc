#include "scope/declared_link.hpp"

#include "pg/relation_names.hpp"
#include "scope/via_syntax.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/varlena.h"
}

namespace sunsync::scope {

namespace {

// "a, \"B\"" -> {a, B}, with PostgreSQL's identifier rules.
std::vector<std::string> identifier_list(const std::string &text, const std::string &via)
{
	std::vector<std::string> out;
	bool ok = pg::guard([&] {
		char *copy = pstrdup(text.c_str());
		List *names = NIL;
		if (!SplitIdentifierString(copy, ',', &names))
			return false;
		ListCell *lc;
		foreach (lc, names)
			out.emplace_back(static_cast<const char *>(lfirst(lc)));
		return true;
	});
	if (!ok || out.empty())
		bad_via(via, "\"" + text + "\" is not a list of column names.");
	return out;
}

Oid relation_named(const std::string &text)
{
	return pg::guard([&] {
		List *names = stringToQualifiedNameList(text.c_str());
		return RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, false);
	});
}

void check_columns(const TableInfo &t, const std::vector<std::string> &cols)
{
	for (const auto &c : cols)
		if (!t.column_types.count(c))
			pg::raise(sqlstate::undefined_column,
					  "column \"" + c + "\" of relation " + t.name + " does not exist");
}

} // namespace

std::string canonical_via(const Link &link)
{
	if (!link.declared)
		return link.name;
	auto quoted = [](const std::string &name) {
		const char *q = pg::guard([&] { return quote_identifier(name.c_str()); });
		return std::string(q);
	};
	auto list = [&](const std::vector<std::string> &cols) {
		std::string s;
		for (const auto &c : cols)
			s += (s.empty() ? "" : ", ") + quoted(c);
		return s;
	};
	pg::QualifiedName parent = pg::guard([&] { return pg::relation_name_or_error(link.parent_oid); });
	return list(link.child_columns) + " -> " + quoted(parent.schema) + "." + quoted(parent.name) + "(" +
		   list(link.parent_columns) + ")";
}

Link resolve_via(pg::Spi &spi, const TableInfo &t, const std::string &via,
				 const std::map<std::string, std::vector<Link>> &fks)
{
	if (!is_declared_link(via)) {
		auto it = fks.find(t.name);
		std::string names;
		if (it != fks.end())
			for (const Link &l : it->second) {
				if (l.name == via)
					return l;
				names += (names.empty() ? "" : ", ") + l.name;
			}
		pg::raise(sqlstate::undefined_object,
				  "foreign key constraint \"" + via + "\" of table " + t.name + " does not exist",
				  names.empty() ? "The table has no foreign key." : "Its foreign keys are: " + names + ".",
				  "Or declare a link as 'column -> table(column)'.");
	}

	ViaParts parts = split_via(via);
	std::string table_text = parts.table;

	Link link;
	link.declared = true;
	link.child = t.name;
	link.child_columns = identifier_list(parts.child_columns, via);
	link.parent_columns = identifier_list(parts.parent_columns, via);
	if (link.child_columns.size() != link.parent_columns.size())
		bad_via(via, "It links " + std::to_string(link.child_columns.size()) + " column(s) to " +
						 std::to_string(link.parent_columns.size()) + ".");
	TableInfo parent = load_table(spi, relation_named(table_text));
	link.parent = parent.name;
	link.child_oid = t.oid;
	link.parent_oid = parent.oid;
	check_columns(t, link.child_columns);
	check_columns(parent, link.parent_columns);
	if (!has_unique_key(spi, parent.oid, link.parent_columns))
		pg::raise(sqlstate::invalid_object_definition,
				  "there is no unique constraint matching the columns of " + parent.name + " in via",
				  "A declared link must point at a primary key or unique constraint, so that each row has one parent.",
				  {});
	for (size_t i = 0; i < link.child_columns.size(); i++)
		if (t.column_types.at(link.child_columns[i]) != parent.column_types.at(link.parent_columns[i]))
			link.text_compare = true;
	return link;
}

} // namespace sunsync::scope
