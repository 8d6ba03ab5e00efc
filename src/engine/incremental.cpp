#include "engine/incremental.hpp"

#include "common/quote.hpp"
#include "engine/copy_sink.hpp"
#include "engine/key_params.hpp"
#include "engine/target_schema.hpp"
#include "pg/as_role.hpp"
#include "worker/shared_state.hpp"

#include <map>
#include <memory>
#include <set>

namespace sunsync::engine {

namespace {

bool is_key(const TableSpec &t, const ColumnSpec &c)
{
	return std::find(t.primary_key.begin(), t.primary_key.end(), c.name) != t.primary_key.end();
}

// A column whose type is named with its schema (a type of the tenant's
// schema or of an extension; built-in types print unqualified under
// search_path pg_catalog) is held as text in a temporary table when it is
// not part of the key, and cast by the upsert (the binary forms of an enum
// and of text are the same), so that the table does not depend on the type.
bool held_as_text(const TableSpec &t, const ColumnSpec &c)
{
	return c.type_sql.find('.') != std::string::npos && !is_key(t, c);
}

// The columns of a temporary table for t's rows (or keys).  *typed_key: a
// key column has a type named with its schema.
std::string columns_ddl(const TableSpec &t, bool key_only, bool *typed_key)
{
	std::string ddl;
	*typed_key = false;
	for (const auto &c : t.columns) {
		bool key = is_key(t, c);
		if (key_only && !key)
			continue;
		ddl += (ddl.empty() ? "" : ", ") + quote_ident(c.name) + " " + (held_as_text(t, c) ? "text" : c.type_sql);
		*typed_key = *typed_key || (key && c.type_sql.find('.') != std::string::npos);
	}
	return ddl;
}

std::vector<std::string> column_names(const TableSpec &t)
{
	std::vector<std::string> cols;
	for (const auto &c : t.columns)
		cols.push_back(c.name);
	return cols;
}

bool keys_binary(const TableSpec &t)
{
	for (const auto &k : t.primary_key)
		if (const ColumnSpec *c = t.column(k); c && !c->binary_ok)
			return false;
	return true;
}

struct Work {
	remote::Connection &conn;
	const Scope &scope;
	Oid reader;
	shm::RunSlot *slot;
	const std::function<void()> &check_stop;
	std::set<std::string> made; // this run's ON COMMIT DROP tables
	std::map<std::string, std::string> scratch; // purpose -> the session's table it uses in this run
	std::map<std::string, size_t> of_shape;     // ddl -> how many of them this run uses
	// COPYs queued and not yet fed: the last one to finish says that the
	// run is applying (deleting and upserting on the target) from then on
	std::shared_ptr<int> unfed = std::make_shared<int>(0);
};

// The temporary table `what` (u: rows, k: changed keys, g: gained keys,
// cut: keys whose subtrees go) of table i on the target.  It is the
// session's (made once per connection, emptied at commit), unless a key
// column has a type of the tenant's schema: then it lives only for the run,
// so that it never stands in the way of the tenant's DDL on that type.
std::string temp(Work &w, const char *what, size_t i, bool key_only)
{
	bool typed_key = false;
	std::string ddl = columns_ddl(w.scope.tables[i], key_only, &typed_key);
	std::string purpose = what + std::to_string(i);
	if (!typed_key) {
		auto it = w.scratch.find(purpose);
		if (it == w.scratch.end())
			it = w.scratch.emplace(purpose, w.conn.temp_table(ddl, w.of_shape[ddl]++)).first;
		return it->second;
	}
	std::string name = "sunsync_run_" + purpose;
	if (w.made.insert(name).second)
		w.conn.exec("CREATE TEMPORARY TABLE " + name + " (" + ddl + ") ON COMMIT DROP");
	return "pg_temp." + name;
}

// Queues a COPY into a temporary table of the rows of a source query run as
// the reader, keys given as $1... (typed arrays).
void stream_into(Work &w, size_t index, const std::string &table, const std::vector<std::string> &cols,
				 std::string sql, bool binary, std::vector<KeyColumn> keys, std::vector<std::string> values)
{
	const TableSpec *spec = &w.scope.tables[index];
	int done = static_cast<int>(index), total = static_cast<int>(w.scope.tables.size());
	// the feed runs at the caller's sync, after this function returned:
	// it holds nothing of w but what outlives the run's transaction
	remote::Connection *conn = &w.conn;
	shm::RunSlot *slot = w.slot;
	Oid reader = w.reader;
	const std::function<void()> *check_stop = &w.check_stop;
	w.conn.copy("COPY " + table + " (" + quote_ident_list(cols) + ") FROM STDIN (FORMAT " +
					(binary ? "binary" : "text") + ")",
				[conn, slot, reader, check_stop, spec, done, total, unfed = w.unfed, sql = std::move(sql), binary,
				 keys = std::move(keys), values = std::move(values)] {
					(*check_stop)();
					shm::set_progress(slot, "shipping changes", spec->display, done, total);
					CopyProgress progress{slot ? &slot->rows_done : nullptr, slot ? &slot->stop : nullptr};
					ParamListInfo params = key_params(keys, values);
					pg::AsRole as_reader(reader);
					stream_query(sql, binary, *conn, progress, params);
					if (--*unfed == 0)
						shm::set_progress(slot, "applying changes", "", total, total);
				});
	++*w.unfed;
}

std::vector<std::string> as_vector(const std::unordered_set<std::string> &s) { return {s.begin(), s.end()}; }

// "(x.a, x.b)"
std::string key_tuple(const std::string &alias, const TableSpec &t)
{
	std::string out;
	for (const auto &k : t.primary_key)
		out += (out.empty() ? "" : ", ") + alias + "." + quote_ident(k);
	return "(" + out + ")";
}

} // namespace

void apply_changes(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog, const ChangeBatch &batch,
				   Oid reader, shm::RunSlot *slot, const std::function<void()> &check_stop, ApplyResult &result)
{
	static const TableChanges none;
	Work w{conn, scope, reader, slot, check_stop, {}};
	const size_t n = scope.tables.size();
	std::vector<const TableChanges *> changes(n, &none);
	for (size_t i = 0; i < n; i++)
		if (auto it = batch.tables.find(scope.tables[i].oid); it != batch.tables.end())
			changes[i] = &it->second;
	std::vector<bool> has_cut(n, false), has_rows(n, false), has_keys(n, false);
	// the names of table i's temporary tables, where it has them
	std::vector<std::string> u(n), k(n), g(n), cut(n);

	// 1. source rows and keys into temporary tables on the target
	for (size_t i = 0; i < n; i++) {
		const TableSpec &t = scope.tables[i];
		const TableChanges &ch = *changes[i];
		std::unordered_set<std::string> lookup = ch.changed;
		lookup.insert(ch.orphans.begin(), ch.orphans.end());
		std::vector<KeyColumn> keys = key_columns(t);
		std::vector<std::string> key_names;
		for (const auto &k : keys)
			key_names.push_back(k.name);
		if (!lookup.empty()) {
			u[i] = temp(w, "u", i, false);
			stream_into(w, i, u[i], column_names(t), select_by_keys_sql(t, key_condition("t0", keys)), t.binary, keys,
						as_vector(lookup));
			has_rows[i] = true;
		}
		if (!ch.changed.empty()) {
			k[i] = temp(w, "k", i, true);
			stream_into(w, i, k[i], key_names, keys_select(keys), keys_binary(t), keys, as_vector(ch.changed));
			has_keys[i] = true;
		}
		if (!ch.gained.empty()) {
			g[i] = temp(w, "g", i, true);
			stream_into(w, i, g[i], key_names, keys_select(keys), keys_binary(t), keys, as_vector(ch.gained));
		}
		// rows below an arrived row arrive with it (t's own gained rows are
		// among `lookup`; here the rows of t below gained ancestors)
		for (const auto &[ancestor, where] : t.ancestors) {
			const TableSpec *a = find_table(scope, ancestor);
			auto it = batch.tables.find(ancestor);
			if (a == nullptr || it == batch.tables.end() || it->second.gained.empty())
				continue;
			u[i] = temp(w, "u", i, false);
			std::vector<KeyColumn> akeys = key_columns(*a);
			stream_into(w, i, u[i], column_names(t),
						select_sql(t) + " AND " + key_condition("t" + std::to_string(where.hop + 1), akeys), t.binary,
						akeys, as_vector(it->second.gained));
			has_rows[i] = true;
		}
	}

	// 2. what left, and what hangs from what left or arrived, deepest first
	drop_stale_foreign_keys(conn, scope, catalog);
	for (size_t i = 0; i < n; i++) {
		const TableSpec &t = scope.tables[i];
		bool gained = !changes[i]->gained.empty();
		if (!has_keys[i] && !gained)
			continue;
		std::string pk = quote_ident_list(t.primary_key);
		std::string sql;
		if (has_keys[i])
			sql = "SELECT " + pk + " FROM " + k[i] + (has_rows[i] ? " EXCEPT SELECT " + pk + " FROM " + u[i] : "");
		if (gained)
			sql += (sql.empty() ? "" : " UNION ") + std::string("SELECT ") + pk + " FROM " + g[i];
		cut[i] = temp(w, "cut", i, true);
		conn.exec("INSERT INTO " + cut[i] + " (" + pk + ") " + sql);
		has_cut[i] = true;
	}
	for (size_t i = n; i-- > 0;) {
		const TableSpec &d = scope.tables[i];
		for (const auto &[ancestor, where] : d.ancestors) {
			const TableSpec *a = find_table(scope, ancestor);
			size_t ai = static_cast<size_t>(a - scope.tables.data());
			if (!has_cut[ai] || !where.reachable_on_target)
				continue;
			std::string alias = "x" + std::to_string(where.hop + 1);
			conn.exec("DELETE FROM " + target_table(d) + " x0 WHERE EXISTS (SELECT" + target_chain(scope, d, where.hop) +
						  " AND " + key_tuple(alias, *a) + " IN (SELECT " + quote_ident_list(a->primary_key) + " FROM " + cut[ai] + "))",
					  &result.deleted);
		}
		if (has_keys[i]) {
			std::string pk = quote_ident_list(d.primary_key);
			conn.exec("DELETE FROM " + target_table(d) + " x0 WHERE " + key_tuple("x0", d) + " IN (SELECT " + pk +
						  " FROM " + k[i] + (has_rows[i] ? " EXCEPT SELECT " + pk + " FROM " + u[i] : "") + ")",
					  &result.deleted);
		}
	}

	// 3. the rows as they are now, parents first
	for (size_t i = 0; i < n; i++) {
		if (!has_rows[i])
			continue;
		const TableSpec &t = scope.tables[i];
		std::string cols = quote_ident_list(column_names(t)), pk = quote_ident_list(t.primary_key), set, values;
		for (const auto &c : t.columns)
			values += (values.empty() ? "" : ", ") + quote_ident(c.name) + (held_as_text(t, c) ? "::" + c.type_sql : "");
		for (const auto &c : t.columns)
			if (!is_key(t, c))
				set += (set.empty() ? "" : ", ") + quote_ident(c.name) + " = EXCLUDED." + quote_ident(c.name);
		conn.exec("INSERT INTO " + target_table(t) + " (" + cols + ") SELECT DISTINCT ON (" + pk + ") " + values +
					  " FROM " + u[i] + " ON CONFLICT (" + pk + ") " +
					  (set.empty() ? "DO NOTHING" : "DO UPDATE SET " + set),
				  &result.upserted);
	}
}

} // namespace sunsync::engine
