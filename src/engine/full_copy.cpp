#include "engine/full_copy.hpp"

#include "common/quote.hpp"
#include "engine/copy_sink.hpp"
#include "engine/target_schema.hpp"
#include "pg/as_role.hpp"
#include "worker/shared_state.hpp"

namespace sunsync::engine {

void copy_everything(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog, Oid reader,
					 shm::RunSlot *slot, const std::function<void()> &check_stop, uint64 *rows)
{
	int total = static_cast<int>(scope.tables.size());
	std::string all;
	for (const auto &t : scope.tables)
		all += (all.empty() ? "" : ", ") + target_table(t);
	// readers of the target keep seeing the old copy until COMMIT
	drop_foreign_keys(conn, scope, catalog);
	conn.exec("TRUNCATE " + all);
	const std::function<void()> *stop = &check_stop;
	for (int done = 0; done < total; done++) {
		const TableSpec *t = &scope.tables[static_cast<size_t>(done)];
		std::vector<std::string> cols;
		for (const auto &c : t->columns)
			cols.push_back(c.name);
		// runs at the caller's sync, while the scope and the run still are
		conn.copy("COPY " + target_table(*t) + " (" + quote_ident_list(cols) + ") FROM STDIN (FORMAT " +
					  (t->binary ? "binary" : "text") + ", FREEZE)",
				  [&conn, t, slot, reader, stop, done, total] {
					  (*stop)();
					  shm::set_progress(slot, "copying", t->display, done, total);
					  CopyProgress progress{&slot->rows_done, &slot->stop};
					  pg::AsRole as_reader(reader);
					  stream_query(select_sql(*t), t->binary, conn, progress);
					  if (done + 1 == total)
						  shm::set_progress(slot, "checking foreign keys", "", total, total);
				  },
				  rows);
	}
	add_foreign_keys(conn, scope);
	ensure_path_indexes(conn, scope, catalog);
}

} // namespace sunsync::engine
