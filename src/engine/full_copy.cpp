#include "engine/full_copy.hpp"

#include "common/quote.hpp"
#include "engine/copy_sink.hpp"
#include "engine/target_schema.hpp"
#include "pg/as_role.hpp"
#include "worker/shared_state.hpp"

namespace sunsync::engine {

uint64 copy_everything(remote::Connection &conn, const Scope &scope, Oid reader, shm::RunSlot *slot,
					   const std::function<void()> &check_stop)
{
	int total = static_cast<int>(scope.tables.size());
	std::string all;
	for (const auto &t : scope.tables)
		all += (all.empty() ? "" : ", ") + target_table(t);
	// readers of the target keep seeing the old copy until COMMIT
	drop_foreign_keys(conn, scope);
	conn.exec("TRUNCATE " + all);
	uint64 rows = 0;
	int done = 0;
	for (const auto &t : scope.tables) {
		check_stop();
		shm::set_progress(slot, "copying", t.display, done, total);
		std::vector<std::string> cols;
		for (const auto &c : t.columns)
			cols.push_back(c.name);
		conn.copy_begin("COPY " + target_table(t) + " (" + quote_ident_list(cols) + ") FROM STDIN (FORMAT " +
						(t.binary ? "binary" : "text") + ", FREEZE)");
		CopyProgress progress{&slot->rows_done, &slot->stop};
		{
			pg::AsRole as_reader(reader);
			stream_query(select_sql(t), t.binary, conn, progress);
		}
		rows += conn.copy_end();
		done++;
	}
	shm::set_progress(slot, "checking foreign keys", "", done, total);
	add_foreign_keys(conn, scope);
	ensure_path_indexes(conn, scope);
	return rows;
}

} // namespace sunsync::engine
