#include "scope/owner_expr.hpp"

#include "pg/guard.hpp"
#include "pg/operators.hpp"
#include "pg/relation_names.hpp"

extern "C" {
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
}

namespace sunsync::scope {

namespace {

enum class Problem { None, NotOneExpression, Aggregate, Subquery, SetReturning, Mutable };

// Only a SELECT with one target and our one FROM item may come out of the
// wrapper; anything else means the text escaped its parentheses.
bool is_plain_wrapper(List *raw)
{
	if (list_length(raw) != 1)
		return false;
	Node *stmt = linitial_node(RawStmt, raw)->stmt;
	if (!IsA(stmt, SelectStmt))
		return false;
	auto *s = reinterpret_cast<SelectStmt *>(stmt);
	return s->op == SETOP_NONE && list_length(s->targetList) == 1 &&
		   list_length(s->fromClause) == 1 && s->whereClause == nullptr &&
		   s->groupClause == NIL && s->havingClause == nullptr && s->windowClause == NIL &&
		   s->sortClause == NIL && s->limitCount == nullptr && s->limitOffset == nullptr &&
		   s->lockingClause == NIL && s->withClause == nullptr && s->intoClause == nullptr &&
		   s->distinctClause == NIL && s->valuesLists == NIL;
}

struct Rename {
	const char *from;
	const char *to;
	const char *table;
};

// Renames column references to the root's column `from` (bare, or qualified
// by the table's name) in a raw parse tree.
bool rename_columns(Node *node, void *context)
{
	if (node == nullptr)
		return false;
	if (IsA(node, ColumnRef)) {
		auto *r = static_cast<Rename *>(context);
		List *fields = reinterpret_cast<ColumnRef *>(node)->fields;
		int n = list_length(fields);
		Node *last = static_cast<Node *>(llast(fields));
		Node *qualifier = n >= 2 ? static_cast<Node *>(list_nth(fields, n - 2)) : nullptr;
		bool qualifier_ok = qualifier == nullptr || (IsA(qualifier, String) && strcmp(strVal(qualifier), r->table) == 0);
		if (IsA(last, String) && qualifier_ok && strcmp(strVal(last), r->from) == 0)
			castNode(String, last)->sval = pstrdup(r->to);
		return false;
	}
	return raw_expression_tree_walker(node, // PostgreSQL 15 declares the walker without a prototype
									  reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(rename_columns)), context);
}

// Parses SELECT (expr) FROM ONLY root (inside a guard); the wrapper keeps the
// expression's text apart from anything around it.  The statement's text
// goes to *sql for parse analysis; NIL when it is not one plain expression.
List *parse_wrapped(const std::string &expr, const pg::QualifiedName &rel, char **sql)
{
	StringInfoData buf;
	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT (%s\n) FROM ONLY %s", expr.c_str(), quote_qualified_identifier(rel.schema, rel.name));
	*sql = buf.data;
	List *raw = raw_parser(buf.data, RAW_PARSE_DEFAULT);
	return is_plain_wrapper(raw) ? raw : NIL;
}

} // namespace

std::string canonical_owner_expr(Oid root, const std::string &expr, const std::string &rename_from,
								 const std::string &rename_to)
{
	std::string out;
	pg::guard([&] {
		pg::QualifiedName rel = pg::relation_name_or_error(root);
		char *sql = nullptr;
		List *raw = parse_wrapped(expr, rel, &sql);
		if (raw == NIL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("owner_expr must be a single expression")));
		if (!rename_from.empty()) {
			Rename r{rename_from.c_str(), rename_to.c_str(), rel.name};
			auto *select = reinterpret_cast<SelectStmt *>(linitial_node(RawStmt, raw)->stmt);
			rename_columns(linitial_node(ResTarget, select->targetList)->val, &r);
		}
		Query *query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, nullptr, 0, nullptr);
		Node *target = reinterpret_cast<Node *>(linitial_node(TargetEntry, query->targetList)->expr);
		int level = NewGUCNestLevel();
		set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
						  false);
		char *text = deparse_expression(target, deparse_context_for(rel.name, root), false, false);
		AtEOXact_GUC(true, level);
		out = text;
	});
	return out;
}

std::string owner_filter(const OwnerExpr &e, const std::string &owner)
{
	std::string literal = pg::guard([&] { return std::string(quote_literal_cstr(owner.c_str())); });
	std::optional<std::string> op = pg::qualified_equality(e.type);
	if (!op)
		return "(" + e.sql + ")::pg_catalog.text OPERATOR(pg_catalog.=) " + literal;
	std::string type = pg::guard([&] { return std::string(format_type_be_qualified(e.type)); });
	return "(" + e.sql + ") " + *op + " " + literal + "::" + type;
}

PlannedOwnerExpr planned_owner_expr(Oid root, const std::string &expr)
{
	PlannedOwnerExpr out;
	pg::guard([&] {
		pg::QualifiedName rel = pg::relation_name_or_error(root);
		char *sql = nullptr;
		List *raw = parse_wrapped(expr, rel, &sql);
		if (raw == NIL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("owner_expr must be a single expression")));
		Query *query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, nullptr, 0, nullptr);
		Node *target = reinterpret_cast<Node *>(linitial_node(TargetEntry, query->targetList)->expr);
		if (exprType(target) == UNKNOWNOID) // as check_owner_expr: a literal is text
			target = coerce_type(nullptr, target, UNKNOWNOID, TEXTOID, -1, COERCION_IMPLICIT,
								 COERCE_IMPLICIT_CAST, -1);
		List *relations = NIL;
		List *items = NIL;
		out.expr = expression_planner_with_deps(reinterpret_cast<Expr *>(target), &relations, &items);
		out.dependencies = items;
		out.type = exprType(target);
		out.collation = exprCollation(target);
	});
	return out;
}

OwnerExpr check_owner_expr(Oid root, const std::string &expr, const std::string &alias)
{
	if (expr.find_first_not_of(" \t\r\n") == std::string::npos)
		pg::raise(sqlstate::invalid_parameter_value, "owner_expr must not be empty",
				  {}, "Give an expression over the root's columns, such as coalesce(parent_id, id).");
	Problem problem = Problem::None;
	std::string deparsed;
	Oid type = InvalidOid;
	Oid collation = InvalidOid;
	try {
		pg::guard([&] {
			pg::QualifiedName rel = pg::relation_name_or_error(root);
			char *sql = nullptr;
			List *raw = parse_wrapped(expr, rel, &sql);
			if (raw == NIL) {
				problem = Problem::NotOneExpression;
				return;
			}
			Query *query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql,
													 nullptr, 0, nullptr);
			Node *target = reinterpret_cast<Node *>(linitial_node(TargetEntry, query->targetList)->expr);
			if (query->hasAggs || query->hasWindowFuncs)
				problem = Problem::Aggregate;
			else if (query->hasSubLinks)
				problem = Problem::Subquery;
			else if (query->hasTargetSRFs)
				problem = Problem::SetReturning;
			else if (contain_mutable_functions(target))
				problem = Problem::Mutable;
			if (problem != Problem::None)
				return;
			pg_plan_query(query, sql, CURSOR_OPT_PARALLEL_OK, nullptr);
			List *context = deparse_context_for(alias.c_str(), root);
			deparsed = deparse_expression(target, context, true, false);
			type = exprType(target);
			collation = exprCollation(target);
		});
	} catch (const Error &e) {
		throw Error(e.sqlstate(), e.message(), e.detail(), e.hint(),
					"owner_expr: " + expr);
	}
	switch (problem) {
	case Problem::None:
		return {deparsed, type == UNKNOWNOID ? TEXTOID : type, type == UNKNOWNOID ? DEFAULT_COLLATION_OID : collation};
	case Problem::NotOneExpression:
		pg::raise(sqlstate::invalid_parameter_value, "owner_expr must be a single expression",
				  "It was: " + expr,
				  "Give an expression over the root's columns, such as coalesce(parent_id, id).");
	case Problem::Aggregate:
		pg::raise(sqlstate::invalid_parameter_value,
				  "owner_expr must not use aggregate or window functions");
	case Problem::Subquery:
		pg::raise(sqlstate::invalid_parameter_value, "owner_expr must not contain a subquery",
				  "The owner of a row must follow from the root row's own columns.");
	case Problem::SetReturning:
		pg::raise(sqlstate::invalid_parameter_value, "owner_expr must not return a set");
	case Problem::Mutable:
		pg::raise(sqlstate::invalid_parameter_value, "owner_expr must be immutable",
				  "A row's owner must be the same each time and in every session it is computed, "
				  "as for an index expression.",
				  "Functions it calls must be marked IMMUTABLE.");
	}
	return {deparsed, type, collation};
}

} // namespace sunsync::scope
