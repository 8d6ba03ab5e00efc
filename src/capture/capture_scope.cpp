#include "capture/capture_scope.hpp"

#include "capture/configured_owners.hpp"
#include "capture/owner_cache.hpp"
#include "common/split.hpp"

#include "pg/as_role.hpp"
#include "pg/guard.hpp"
#include "pg/relation_names.hpp"
#include "pg/spi.hpp"
#include "scope/owner_expr.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relation.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_namespace.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class_d.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace sunsync::capture {

namespace {

// --- what sunsync's catalog says, read once per build ------------------------

struct HopDesc {
	Oid child = InvalidOid, parent = InvalidOid;
	std::vector<std::string> child_cols, parent_cols;
	bool text_compare = false, declared = false, deferrable = false;
	std::vector<Oid> pfeqop; // foreign key: PK = FK operators, in column order
	bool same(const HopDesc &o) const
	{
		return child == o.child && parent == o.parent && child_cols == o.child_cols &&
			   parent_cols == o.parent_cols && text_compare == o.text_compare;
	}
};
using PathDesc = std::vector<HopDesc>;

struct TableDesc {
	Oid oid = InvalidOid;
	bool registered = false;
	std::vector<PathDesc> paths; // registered: its path; crossed: the parts above it
	std::vector<std::string> key;
	std::set<std::string> watched; // referenced by rows below, or its own path columns
	std::set<std::string> referenced; // by rows below
	bool has_descendants = false, adopts_orphans = false, unreachable_below = false;
};

struct Description {
	Oid root = InvalidOid;
	std::map<Oid, TableDesc> tables;
	std::set<Oid> relids; // every relation whose change invalidates the build
};

CaptureScope *scope = nullptr;
std::unique_ptr<Description> description;
HTAB *by_relid = nullptr;
std::vector<SPIPlanPtr> plans;
bool stale = true;
bool callbacks_registered = false;
// what the owner cache's entries were computed by: kept over a rebuild
// (VACUUM of a scope table sends one) unless this changed
std::string cached_by;
Oid cached_owner_type = InvalidOid;
bool owner_functions_changed = false; // then the owner cache is not trusted

// a build in progress: what it names is not known until it has read the
// catalog (in a snapshot taken before some invalidations were processed),
// so the relations invalidated meanwhile are kept and checked at its end
bool building = false;
Oid seen_while_building[16];
int nseen_while_building = 0; // > 16: too many to tell

void on_relcache(Datum, Oid relid)
{
	if (building && relid != InvalidOid) {
		if (nseen_while_building < 16)
			seen_while_building[nseen_while_building] = relid;
		nseen_while_building++;
	}
	if (relid == InvalidOid || (description && description->relids.count(relid)))
		stale = true;
}

// At the end of a build: whether something it names was invalidated while
// it read the catalog.
bool invalidated_while_building()
{
	if (nseen_while_building > 16)
		return true;
	for (int i = 0; i < nseen_while_building; i++)
		if (description && description->relids.count(seen_while_building[i]))
			return true;
	return false;
}

// a function that owner_expr calls changed (or every function may have)
void on_function(Datum, int, uint32 hashvalue)
{
	if (hashvalue == 0 || scope == nullptr || scope->nfuncs < 0) {
		stale = true;
		owner_functions_changed = true;
		return;
	}
	for (int i = 0; i < scope->nfuncs; i++)
		if (scope->func_hashes[i] == hashvalue) {
			stale = true;
			owner_functions_changed = true;
		}
}

struct RelEntry {
	Oid relid;
	TableCapture *capture; // nullptr: not in the scope
};

void discard()
{
	for (SPIPlanPtr p : plans)
		SPI_freeplan(p);
	plans.clear();
	if (scope)
		MemoryContextDelete(scope->cxt);
	scope = nullptr;
	by_relid = nullptr;
	description.reset();
}

Oid oid_of_text(const pg::Value &v) { return pg::oid_of(v); }

// a text[] or jsonb array the queries below joined with \x1f
std::vector<std::string> text_list(const pg::Value &v) { return v ? split(*v, '\x1f') : std::vector<std::string>{}; }

std::unique_ptr<Description> load_description(pg::Spi &spi, int64 &version, Oid &author, std::string &owner_expr,
												 std::string &fingerprint)
{
	auto d = std::make_unique<Description>();
	auto root = spi.run("SELECT root_table::pg_catalog.oid, owner_expr, set_by::pg_catalog.oid, scope_version "
						"FROM sunsync.root");
	if (root.empty())
		return d;
	d->root = oid_of_text(root.rows[0][0]);
	owner_expr = *root.rows[0][1];
	author = oid_of_text(root.rows[0][2]);
	version = std::stoll(*root.rows[0][3]);
	fingerprint = *root.rows[0][0] + '\x1e' + owner_expr + '\x1e' + *root.rows[0][2] + '\x1e';

	std::map<Oid, std::set<std::string>> excluded;
	std::map<Oid, PathDesc> paths;
	for (const auto &r : spi.run("SELECT table_name::pg_catalog.oid, "
								 "       pg_catalog.array_to_string(exclude_columns, E'\\x1f') FROM sunsync.tables")
							 .rows) {
		Oid t = oid_of_text(r[0]);
		paths[t];
		for (const auto &c : text_list(r[1]))
			if (!c.empty())
				excluded[t].insert(c);
	}
	for (const auto &h : spi.run(
			 "SELECT t.table_name::pg_catalog.oid, e.n, (e.h->>'child_oid')::pg_catalog.oid, "
			 "       (e.h->>'parent_oid')::pg_catalog.oid, (e.h->>'text_compare')::boolean, "
			 "       (e.h->>'declared')::boolean, "
			 "       (SELECT pg_catalog.string_agg(c, E'\\x1f' ORDER BY i) "
			 "          FROM pg_catalog.jsonb_array_elements_text(e.h->'child_columns') WITH ORDINALITY x(c, i)), "
			 "       (SELECT pg_catalog.string_agg(c, E'\\x1f' ORDER BY i) "
			 "          FROM pg_catalog.jsonb_array_elements_text(e.h->'parent_columns') WITH ORDINALITY x(c, i)), "
			 "       k.condeferrable, pg_catalog.array_to_string(k.conpfeqop, E'\\x1f') "
			 "FROM sunsync.tables t, pg_catalog.jsonb_array_elements(t.path) WITH ORDINALITY e(h, n) "
			 "LEFT JOIN pg_catalog.pg_constraint k ON k.contype = 'f' "
			 "      AND k.conrelid = (e.h->>'child_oid')::pg_catalog.oid AND k.conname = e.h->>'constraint' "
			 "ORDER BY 1, 2")
							 .rows) {
		HopDesc hop;
		hop.child = oid_of_text(h[2]);
		hop.parent = oid_of_text(h[3]);
		hop.text_compare = *h[4] == "t";
		hop.declared = *h[5] == "t";
		hop.child_cols = text_list(h[6]);
		hop.parent_cols = text_list(h[7]);
		hop.deferrable = h[8] && *h[8] == "t";
		if (!hop.declared)
			for (const auto &op : text_list(h[9]))
				hop.pfeqop.push_back(static_cast<Oid>(std::stoul(op)));
		for (size_t i = 2; i <= 7; i++)
			fingerprint += (h[i] ? *h[i] : std::string("-")) + '\x1e';
		paths[oid_of_text(h[0])].push_back(hop);
	}

	for (const auto &[oid, path] : paths) {
		TableDesc &t = d->tables[oid];
		t.oid = oid;
		t.registered = true;
		if (oid != d->root)
			t.paths.push_back(path);
		d->relids.insert(oid);
	}
	// tables the paths cross, and what each table's rows below need
	for (const auto &[oid, path] : paths) {
		for (size_t k = 0; k < path.size(); k++) {
			const HopDesc &hop = path[k];
			d->relids.insert(hop.parent);
			TableDesc &parent = d->tables[hop.parent];
			parent.oid = hop.parent;
			if (!parent.registered && hop.parent != d->root) {
				PathDesc above(path.begin() + static_cast<long>(k) + 1, path.end());
				bool known = std::any_of(parent.paths.begin(), parent.paths.end(), [&](const PathDesc &p) {
					return p.size() == above.size() && std::equal(p.begin(), p.end(), above.begin(),
																  [](const HopDesc &a, const HopDesc &b) { return a.same(b); });
				});
				if (!known)
					parent.paths.push_back(above);
			}
			for (const auto &c : hop.parent_cols) {
				parent.watched.insert(c);
				parent.referenced.insert(c);
			}
			parent.has_descendants = true;
			if (hop.declared || hop.deferrable)
				parent.adopts_orphans = true;
			// the target joins from a row below up to this parent only
			// through registered tables and columns it was sent
			bool reachable = true;
			for (size_t j = 0; j <= k; j++) {
				const HopDesc &h = path[j];
				if (j < k && !paths.count(h.parent))
					reachable = false;
				for (const auto &c : h.child_cols)
					if (excluded[h.child].count(c))
						reachable = false;
				for (const auto &c : h.parent_cols)
					if (excluded[h.parent].count(c))
						reachable = false;
			}
			if (!reachable)
				parent.unreachable_below = true;
		}
	}
	for (auto &[oid, t] : d->tables) {
		for (const auto &p : t.paths)
			if (!p.empty())
				for (const auto &c : p.front().child_cols)
					t.watched.insert(c);
		if (t.registered)
			for (const auto &r : spi.run("SELECT a.attname FROM pg_catalog.pg_constraint c, "
										 "pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, i), pg_catalog.pg_attribute a "
										 "WHERE c.conrelid = $1::pg_catalog.oid AND c.contype = 'p' "
										 "AND a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i",
										 {std::to_string(oid)})
									 .rows)
				t.key.push_back(*r[0]);
	}
	for (const char *name : {"tables", "root", "configs"})
		d->relids.insert(pg::guard([name] { return get_relname_relid(name, get_namespace_oid("sunsync", false)); }));
	return d;
}

// --- compiling a hop ----------------------------------------------------------

AttrNumber attnum_or_error(Oid rel, const std::string &col)
{
	AttrNumber n = get_attnum(rel, col.c_str());
	if (n == InvalidAttrNumber)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
						errmsg("sunsync: column \"%s\" of relation %u is gone; its scope needs a refresh", col.c_str(), rel)));
	return n;
}

bool integer_or_text_or_uuid(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID || t == TEXTOID || t == UUIDOID;
}

// Looks for the parent's unique index on exactly the hop's columns, and
// the equality operator of each index column against the value we have.
bool compile_index_lookup(Hop &h, const HopDesc &d, MemoryContext cxt)
{
	if (get_rel_relkind(d.parent) != RELKIND_RELATION)
		return false;
	const AttrNumber *parent_att = h.parent_att;
	bool found = false;
	Relation prel = table_open(d.parent, AccessShareLock);
	List *indexes = RelationGetIndexList(prel);
	ListCell *lc;
	foreach (lc, indexes) {
		Oid ioid = lfirst_oid(lc);
		Relation irel = index_open(ioid, AccessShareLock);
		Form_pg_index ix = irel->rd_index;
		bool usable = ix->indisunique && ix->indisvalid && ix->indnkeyatts == h.ncols &&
					  RelationGetIndexExpressions(irel) == NIL && RelationGetIndexPredicate(irel) == NIL &&
					  irel->rd_rel->relam == BTREE_AM_OID;
		for (int i = 0; usable && i < h.ncols; i++) {
			int col = -1;
			for (int k = 0; k < ix->indnkeyatts; k++)
				if (ix->indkey.values[k] == parent_att[i])
					col = k;
			if (col < 0) {
				usable = false;
				break;
			}
			Oid opcintype = irel->rd_opcintype[col];
			Oid opfamily = irel->rd_opfamily[col];
			Oid value_type = h.text_compare ? opcintype : h.child_type[i];
			Oid op = InvalidOid;
			if (h.text_compare) {
				if (!integer_or_text_or_uuid(opcintype))
					usable = false;
				else
					op = get_opfamily_member(opfamily, opcintype, opcintype, BTEqualStrategyNumber);
			} else if (!d.pfeqop.empty() && op_in_opfamily(d.pfeqop[i], opfamily)) {
				op = d.pfeqop[i];
				Oid left, right;
				op_input_types(op, &left, &right);
				if (right != value_type && !IsBinaryCoercible(value_type, right))
					op = InvalidOid;
				value_type = right;
			} else {
				op = get_opfamily_member(opfamily, opcintype, value_type, BTEqualStrategyNumber);
				if (!OidIsValid(op) && IsBinaryCoercible(value_type, opcintype)) {
					op = get_opfamily_member(opfamily, opcintype, opcintype, BTEqualStrategyNumber);
					value_type = opcintype;
				}
			}
			if (!OidIsValid(op)) {
				usable = false;
				break;
			}
			h.index_col[i] = static_cast<AttrNumber>(col + 1);
			h.eq_proc[i] = get_opcode(op);
			fmgr_info_cxt(h.eq_proc[i], &h.eq_fn[i], cxt);
			h.eq_subtype[i] = value_type;
			h.eq_collation[i] = irel->rd_indcollation[col];
			h.parent_type[i] = opcintype;
		}
		index_close(irel, AccessShareLock);
		if (usable) {
			h.index = ioid;
			found = true;
			break;
		}
	}
	list_free(indexes);
	table_close(prel, AccessShareLock);
	return found;
}

// SELECT p FROM [ONLY] parent p WHERE ...: the general case, prepared as
// the catalog owner (who may read every table; the query is ours).  Plain
// C data only: it runs inside a guard.
void compile_query_lookup(Hop &h, const HopDesc &d, Oid catalog_owner)
{
	pg::QualifiedName name = pg::relation_name_or_error(d.parent);
	bool partitioned = get_rel_relkind(d.parent) == RELKIND_PARTITIONED_TABLE;
	StringInfoData sql;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT p FROM %s%s p WHERE ", partitioned ? "" : "ONLY ",
					 quote_qualified_identifier(name.schema, name.name));
	Oid types[max_cols];
	for (int i = 0; i < h.ncols; i++) {
		const char *col = quote_identifier(d.parent_cols[i].c_str());
		if (i)
			appendStringInfoString(&sql, " AND ");
		if (h.text_compare) {
			appendStringInfo(&sql, "p.%s::pg_catalog.text OPERATOR(pg_catalog.=) $%d", col, i + 1);
			types[i] = TEXTOID;
			continue;
		}
		Oid op = !d.pfeqop.empty() ? d.pfeqop[i] : lookup_type_cache(h.child_type[i], TYPECACHE_EQ_OPR)->eq_opr;
		if (!OidIsValid(op))
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
							errmsg("sunsync: no equality operator for the link to %s", name.name)));
		HeapTuple tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(op));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for operator %u", op);
		auto *form = reinterpret_cast<Form_pg_operator>(GETSTRUCT(tup));
		appendStringInfo(&sql, "p.%s OPERATOR(%s.%s) $%d", col, quote_identifier(get_namespace_name(form->oprnamespace)),
						 NameStr(form->oprname), i + 1);
		ReleaseSysCache(tup);
		types[i] = h.child_type[i];
	}
	Oid saved_user;
	int saved_context;
	GetUserIdAndSecContext(&saved_user, &saved_context);
	SetUserIdAndSecContext(catalog_owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPIPlanPtr plan = SPI_prepare(sql.data, h.ncols, types);
	if (plan == nullptr)
		elog(ERROR, "sunsync: could not prepare the parent lookup: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_context);
	pfree(sql.data);
	h.plan = plan;
	plans.push_back(plan);
}

// hop d from relation child_rel (whose attnums child_att are)
void compile_hop(Hop &h, const HopDesc &d, Oid child_rel, MemoryContext cxt, Oid catalog_owner)
{
	memset(&h, 0, sizeof h);
	h.parent = d.parent;
	h.ncols = static_cast<int>(d.child_cols.size());
	if (h.ncols == 0 || h.ncols > max_cols || d.parent_cols.size() != d.child_cols.size())
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("sunsync: a stored path has a malformed hop")));
	h.text_compare = d.text_compare;
	for (int i = 0; i < h.ncols; i++) {
		h.child_att[i] = attnum_or_error(child_rel, d.child_cols[i]);
		h.child_type[i] = get_atttype(child_rel, h.child_att[i]);
		get_typlenbyval(h.child_type[i], &h.child_len[i], &h.child_byval[i]);
		Oid out;
		bool varlena;
		getTypeOutputInfo(h.child_type[i], &out, &varlena);
		fmgr_info_cxt(out, &h.child_out[i], cxt);
		h.parent_att[i] = attnum_or_error(d.parent, d.parent_cols[i]);
	}
	if (compile_index_lookup(h, d, cxt)) {
		h.lookup = h.text_compare ? Lookup::IndexFromText : Lookup::Index;
		return;
	}
	h.lookup = Lookup::Query;
	compile_query_lookup(h, d, catalog_owner);
}

// The scope table that relid's rows belong to: itself, or the nearest
// partitioned ancestor in the scope.
const TableDesc *scope_table_of(Oid relid)
{
	auto it = description->tables.find(relid);
	if (it != description->tables.end())
		return &it->second;
	if (!get_rel_relispartition(relid))
		return nullptr;
	List *ancestors = get_partition_ancestors(relid);
	const TableDesc *found = nullptr;
	ListCell *lc;
	foreach (lc, ancestors) {
		auto a = description->tables.find(lfirst_oid(lc));
		if (a != description->tables.end()) {
			found = &a->second;
			break;
		}
	}
	list_free(ancestors);
	return found;
}

// Whether a type's text form is the same under any DateStyle, TimeZone,
// extra_float_digits, bytea_output...
bool prints_alike_everywhere(Oid type)
{
	switch (getBaseType(type)) {
	case INT2OID:
	case INT4OID:
	case INT8OID:
	case OIDOID:
	case TEXTOID:
	case VARCHAROID:
	case BPCHAROID:
	case NAMEOID:
	case UUIDOID:
	case BOOLOID:
	case CHAROID:
	case NUMERICOID:
		return true;
	default:
		return false;
	}
}

// Which parent columns hop 0 matches, and every hop above it.
uint64 above_id(const Path &p, Oid root)
{
	uint64 id = hash_bytes_uint32_extended(root, 0);
	for (int k = 0; k < p.nhops; k++) {
		const Hop &h = p.hops[k];
		id = hash_bytes_uint32_extended(h.parent, id);
		id = hash_bytes_uint32_extended(h.text_compare ? 1 : 0, id);
		for (int i = 0; i < h.ncols; i++) {
			id = hash_bytes_uint32_extended(static_cast<uint32>(h.parent_att[i]), id);
			// the child's values are cached as images of its own types
			// (a text-compared link from a date and one from an integer
			// must not meet)
			if (k == 0)
				id = hash_bytes_uint32_extended(h.child_type[i], id);
			if (k > 0)
				id = hash_bytes_uint32_extended(static_cast<uint32>(h.child_att[i]), id);
		}
	}
	return id;
}

TableCapture *compile_table(Oid relid, const TableDesc &t)
{
	MemoryContext old = MemoryContextSwitchTo(scope->cxt);
	auto *tc = static_cast<TableCapture *>(palloc0(sizeof(TableCapture)));
	tc->relid = relid;
	tc->scope_rel = t.oid;
	tc->registered = t.registered;
	tc->is_root = t.oid == description->root;
	tc->has_descendants = t.has_descendants;
	tc->adopts_orphans = t.adopts_orphans;
	tc->unreachable_below = t.unreachable_below;
	if (t.registered) {
		if (t.key.empty() || t.key.size() > max_cols)
			ereport(ERROR, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
							errmsg("sunsync: registered table %u has no usable primary key", t.oid)));
		tc->nkeys = static_cast<int>(t.key.size());
		for (int i = 0; i < tc->nkeys; i++) {
			tc->key_att[i] = attnum_or_error(relid, t.key[i]);
			Oid send;
			bool varlena;
			getTypeBinaryOutputInfo(get_atttype(relid, tc->key_att[i]), &send, &varlena);
			fmgr_info_cxt(send, &tc->key_send[i], scope->cxt);
		}
	}
	if (t.watched.size() + t.key.size() > 3 * max_cols || t.referenced.size() > 2 * max_cols)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("sunsync: rows of too many tables hang from relation %u", t.oid),
						errdetail("Capture follows up to %d referenced columns of a table.", 2 * max_cols)));
	for (const auto &c : t.watched)
		tc->watch_att[tc->nwatch++] = attnum_or_error(relid, c);
	for (const auto &c : t.key)
		tc->watch_att[tc->nwatch++] = attnum_or_error(relid, c);
	for (const auto &c : t.referenced)
		tc->ref_att[tc->nref++] = attnum_or_error(relid, c);
	tc->npaths = static_cast<int>(t.paths.size());
	tc->paths = static_cast<Path *>(palloc0(sizeof(Path) * std::max(tc->npaths, 1)));
	for (int p = 0; p < tc->npaths; p++) {
		const PathDesc &pd = t.paths[p];
		Path &path = tc->paths[p];
		path.nhops = static_cast<int>(pd.size());
		path.hops = static_cast<Hop *>(palloc0(sizeof(Hop) * std::max(path.nhops, 1)));
		for (int k = 0; k < path.nhops; k++) {
			Hop &h = path.hops[k];
			compile_hop(h, pd[k], k == 0 ? relid : pd[k - 1].parent, scope->cxt, scope->catalog_owner);
			if (h.text_compare)
				for (int i = 0; i < h.ncols; i++)
					if (!prints_alike_everywhere(h.child_type[i]) ||
						!prints_alike_everywhere(get_atttype(h.parent, h.parent_att[i])))
						tc->pins_output = true;
		}
		path.above_id = above_id(path, scope->root);
	}
	Relation rel = relation_open(relid, AccessShareLock);
	tc->desc = CreateTupleDescCopy(RelationGetDescr(rel));
	relation_close(rel, AccessShareLock);
	if (tc->is_root && relid != t.oid)
		tc->to_root = convert_tuples_by_name(tc->desc, scope->root_desc);
	MemoryContextSwitchTo(old);
	description->relids.insert(relid);
	return tc;
}

Oid catalog_owner_role()
{
	return pg::guard([] {
		Oid nsp = get_namespace_oid("sunsync", false);
		HeapTuple tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for namespace %u", nsp);
		Oid owner = reinterpret_cast<Form_pg_namespace>(GETSTRUCT(tuple))->nspowner;
		ReleaseSysCache(tuple);
		return owner;
	});
}

// The functions owner_expr calls (check_functions_in_node's view of each
// node), in a fixed array: this runs inside PostgreSQL's walker.
struct FunctionsCalled {
	int n;
	bool overflow;
	Oid funcs[64];
};

bool note_function(Oid func, void *context)
{
	auto *f = static_cast<FunctionsCalled *>(context);
	if (f->n < 64)
		f->funcs[f->n++] = func;
	else
		f->overflow = true;
	return false;
}

bool walk_functions(Node *node, void *context)
{
	if (node == nullptr)
		return false;
	check_functions_in_node(node, note_function, context);
	return expression_tree_walker(node, // PostgreSQL 15 declares the walker without a prototype
								  reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(walk_functions)), context);
}

void note_owner_functions(CaptureScope *s, Expr *expr, List *dependencies)
{
	FunctionsCalled f{};
	walk_functions(reinterpret_cast<Node *>(expr), &f);
	// and the functions planning inlined, which the plan no longer calls
	int ndeps = 0;
	ListCell *lc;
	foreach (lc, dependencies)
		if (lfirst_node(PlanInvalItem, lc)->cacheId == PROCOID)
			ndeps++;
	// (allocated before nfuncs says how many: on_function reads them)
	auto *hashes = static_cast<uint32 *>(palloc0(sizeof(uint32) * std::max(f.n + ndeps, 1)));
	int n = 0;
	for (int i = 0; i < f.n; i++) {
		hashes[n++] = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(f.funcs[i]));
		if (f.funcs[i] >= FirstNormalObjectId)
			s->owner_calls_user_code = true;
	}
	foreach (lc, dependencies) {
		auto *item = lfirst_node(PlanInvalItem, lc);
		if (item->cacheId == PROCOID) {
			hashes[n++] = item->hashValue;
			s->owner_calls_user_code = true; // only user functions are recorded
		}
	}
	if (f.overflow)
		s->owner_calls_user_code = true;
	s->func_hashes = hashes;
	s->nfuncs = f.overflow ? -1 : n;
}

void build()
{
	discard();
	// invalidations that arrive while this builds make it stale again; a
	// build that fails leaves it stale
	stale = false;
	struct StaleUnlessBuilt {
		bool built = false;
		StaleUnlessBuilt()
		{
			building = true;
			nseen_while_building = 0;
		}
		~StaleUnlessBuilt()
		{
			building = false;
			if (!built || invalidated_while_building())
				stale = true;
		}
	} outcome;
	int64 version = 0;
	Oid author = InvalidOid;
	std::string owner_expr, fingerprint;
	{
		// the latest state, whatever the writer's snapshot (it may be an
		// old REPEATABLE READ one): this build serves later transactions
		pg::Spi spi(pg::Spi::latest);
		pg::CatalogOwnerScope as_owner;
		description = load_description(spi, version, author, owner_expr, fingerprint);
	}
	// a new scope version (a column rewritten, a key redefined), or a
	// function owner_expr calls replaced: owners may have changed with it
	fingerprint += std::to_string(version) + '\x1e';
	if (fingerprint != cached_by || owner_functions_changed) {
		cache_clear(); // computed along other paths, or by another owner_expr
		cached_by = fingerprint;
	}
	owner_functions_changed = false;
	if (!OidIsValid(description->root)) {
		outcome.built = true;
		return;
	}
	Oid catalog_owner = catalog_owner_role();
	scope::PlannedOwnerExpr planned;
	MemoryContext cxt = pg::guard([] {
		return AllocSetContextCreate(CacheMemoryContext, "sunsync capture scope", ALLOCSET_SMALL_SIZES);
	});
	MemoryContext caller = CurrentMemoryContext;
	try {
		MemoryContextSwitchTo(cxt);
		{
			// planning folds immutable functions: only with the author's rights
			pg::AsRole as_author(author);
			planned = scope::planned_owner_expr(description->root, owner_expr);
		}
		MemoryContextSwitchTo(caller);
		if (planned.type != cached_owner_type) {
			cache_clear(); // hashes of another type (the root's column changed)
			cached_owner_type = planned.type;
		}
	} catch (...) {
		MemoryContextSwitchTo(caller);
		pg::guard([cxt] { MemoryContextDelete(cxt); });
		throw;
	}
	pg::guard([&] {
		MemoryContext old = MemoryContextSwitchTo(cxt);
		scope = static_cast<CaptureScope *>(palloc0(sizeof(CaptureScope)));
		scope->cxt = cxt;
		scope->root = description->root;
		scope->author = author;
		scope->catalog_owner = catalog_owner;
		scope->scope_version = version;
		scope->owner_type = planned.type;
		scope->owner_collation = planned.collation;
		owner_hash_functions(planned.type, &scope->owner_hash_fn, &scope->owner_out_fn, cxt);
		note_owner_functions(scope, planned.expr, planned.dependencies);
		Relation root = relation_open(description->root, AccessShareLock);
		scope->root_desc = CreateTupleDescCopy(RelationGetDescr(root));
		relation_close(root, AccessShareLock);
		// ExecInitExpr checks EXECUTE on the functions it calls: as the author
		Oid saved_user;
		int saved_context;
		GetUserIdAndSecContext(&saved_user, &saved_context);
		SetUserIdAndSecContext(author, saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		scope->owner_state = ExecInitExpr(planned.expr, nullptr);
		SetUserIdAndSecContext(saved_user, saved_context);
		scope->owner_econtext = CreateStandaloneExprContext();
		Oid nsp = get_namespace_oid("sunsync", false);
		for (int i = 0; i < 3; i++) {
			char name[NAMEDATALEN];
			snprintf(name, sizeof name, "queue_%d", i);
			scope->queue_rel[i] = get_relname_relid(name, nsp);
		}
		HASHCTL ctl;
		memset(&ctl, 0, sizeof ctl);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RelEntry);
		ctl.hcxt = cxt;
		by_relid = hash_create("sunsync capture relations", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		MemoryContextSwitchTo(old);
	});
	outcome.built = true;
}

} // namespace

CaptureScope *current_scope()
{
	if (!callbacks_registered) {
		pg::guard([] {
			CacheRegisterRelcacheCallback(on_relcache, (Datum) 0);
			CacheRegisterSyscacheCallback(PROCOID, on_function, (Datum) 0);
		});
		callbacks_registered = true;
	}
	if (stale || (scope == nullptr && !description))
		build();
	return scope;
}

bool capture_invalidated() { return stale; }

bool scope_ready(Oid relid)
{
	if (!callbacks_registered || stale)
		return false;
	if (scope == nullptr)
		return description != nullptr; // no root: nothing to build
	bool found = false;
	hash_search(by_relid, &relid, HASH_FIND, &found);
	return found;
}

TableCapture *table_capture(CaptureScope *s, Oid relid)
{
	if (s == nullptr || by_relid == nullptr)
		return nullptr;
	bool found = false;
	auto *e = static_cast<RelEntry *>(hash_search(by_relid, &relid, HASH_FIND, &found));
	if (e)
		return e->capture;
	TableCapture *tc = nullptr;
	pg::guard([&] {
		const TableDesc *t = scope_table_of(relid);
		if (t)
			tc = compile_table(relid, *t);
		auto *entry = static_cast<RelEntry *>(hash_search(by_relid, &relid, HASH_ENTER, &found));
		entry->capture = tc;
	});
	return tc;
}

} // namespace sunsync::capture
