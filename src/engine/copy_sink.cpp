#include "engine/copy_sink.hpp"

#include "pg/guard.hpp"
#include "remote/connection.hpp"

extern "C" {
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "tcop/dest.h"
#include "utils/lsyscache.h"
}

namespace sunsync::engine {

namespace {

constexpr int flush_bytes = 256 * 1024;
const char binary_signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};

// Plain C data only: PostgreSQL calls these functions and may longjmp
// through them.
struct CopySink {
	DestReceiver pub;
	remote::Connection *conn;
	bool binary;
	int natts;
	FmgrInfo *funcs;
	MemoryContext tuple_context;
	StringInfoData buf;
	uint64 rows;
	CopyProgress progress;
};

void send_buffer(CopySink *sink)
{
	if (sink->buf.len == 0)
		return;
	pg::from_callback([sink] { sink->conn->copy_send(sink->buf.data, sink->buf.len); });
	resetStringInfo(&sink->buf);
}

void append_text_escaped(StringInfo buf, const char *s)
{
	for (; *s; s++) {
		char c = *s;
		switch (c) {
		case '\\': appendBinaryStringInfo(buf, "\\\\", 2); break;
		case '\b': appendBinaryStringInfo(buf, "\\b", 2); break;
		case '\f': appendBinaryStringInfo(buf, "\\f", 2); break;
		case '\n': appendBinaryStringInfo(buf, "\\n", 2); break;
		case '\r': appendBinaryStringInfo(buf, "\\r", 2); break;
		case '\t': appendBinaryStringInfo(buf, "\\t", 2); break;
		case '\v': appendBinaryStringInfo(buf, "\\v", 2); break;
		default: appendStringInfoCharMacro(buf, c);
		}
	}
}

void sink_startup(DestReceiver *self, int, TupleDesc desc)
{
	auto *sink = reinterpret_cast<CopySink *>(self);
	sink->natts = desc->natts;
	sink->funcs = static_cast<FmgrInfo *>(palloc(sizeof(FmgrInfo) * desc->natts));
	for (int i = 0; i < desc->natts; i++) {
		Oid func;
		bool varlena;
		Oid type = TupleDescAttr(desc, i)->atttypid;
		if (sink->binary)
			getTypeBinaryOutputInfo(type, &func, &varlena);
		else
			getTypeOutputInfo(type, &func, &varlena);
		fmgr_info(func, &sink->funcs[i]);
	}
	if (sink->binary) {
		appendBinaryStringInfo(&sink->buf, binary_signature, sizeof binary_signature);
		pq_sendint32(&sink->buf, 0); // flags
		pq_sendint32(&sink->buf, 0); // header extension length
	}
}

bool sink_receive(TupleTableSlot *slot, DestReceiver *self)
{
	auto *sink = reinterpret_cast<CopySink *>(self);
	if (sink->progress.stop && *sink->progress.stop)
		ereport(ERROR, (errcode(ERRCODE_ADMIN_SHUTDOWN), errmsg("the run was asked to stop")));
	MemoryContext old = MemoryContextSwitchTo(sink->tuple_context);
	slot_getallattrs(slot);
	StringInfo buf = &sink->buf;
	if (sink->binary)
		pq_sendint16(buf, sink->natts);
	for (int i = 0; i < sink->natts; i++) {
		bool isnull = slot->tts_isnull[i];
		Datum value = slot->tts_values[i];
		if (sink->binary) {
			if (isnull) {
				pq_sendint32(buf, static_cast<uint32>(-1));
				continue;
			}
			bytea *out = SendFunctionCall(&sink->funcs[i], value);
			pq_sendint32(buf, VARSIZE(out) - VARHDRSZ);
			appendBinaryStringInfo(buf, VARDATA(out), VARSIZE(out) - VARHDRSZ);
		} else {
			if (i > 0)
				appendStringInfoCharMacro(buf, '\t');
			if (isnull)
				appendBinaryStringInfo(buf, "\\N", 2);
			else
				append_text_escaped(buf, OutputFunctionCall(&sink->funcs[i], value));
		}
	}
	if (!sink->binary)
		appendStringInfoCharMacro(buf, '\n');
	MemoryContextSwitchTo(old);
	MemoryContextReset(sink->tuple_context);
	sink->rows++;
	if (sink->progress.rows_done && (sink->rows & 1023) == 0)
		pg_atomic_fetch_add_u64(sink->progress.rows_done, 1024);
	if (buf->len >= flush_bytes)
		send_buffer(sink);
	return true;
}

void sink_shutdown(DestReceiver *) {}
void sink_destroy(DestReceiver *) {}

} // namespace

uint64 stream_query(const std::string &select_sql, bool binary, remote::Connection &conn,
					CopyProgress progress, ParamListInfo params)
{
	uint64 counted_before = progress.rows_done ? pg_atomic_read_u64(progress.rows_done) : 0;
	uint64 rows = pg::guard([&] {
		auto *sink = static_cast<CopySink *>(palloc0(sizeof(CopySink)));
		sink->pub.receiveSlot = sink_receive;
		sink->pub.rStartup = sink_startup;
		sink->pub.rShutdown = sink_shutdown;
		sink->pub.rDestroy = sink_destroy;
		sink->pub.mydest = DestNone;
		sink->conn = &conn;
		sink->binary = binary;
		sink->progress = progress;
		sink->tuple_context = AllocSetContextCreate(CurrentMemoryContext, "sunsync copy tuple",
													ALLOCSET_DEFAULT_SIZES);
		initStringInfo(&sink->buf);

		SPIExecuteOptions options = {};
		options.read_only = true;
		options.dest = &sink->pub;
		options.params = params;
		int rc = SPI_execute_extended(select_sql.c_str(), &options);
		// with a receiver of its own, SPI reports a SELECT as a utility
		if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
			elog(ERROR, "source query failed: %s", SPI_result_code_string(rc));
		if (binary)
			pq_sendint16(&sink->buf, static_cast<uint16>(-1)); // trailer
		send_buffer(sink);
		MemoryContextDelete(sink->tuple_context);
		uint64 n = sink->rows;
		pfree(sink->buf.data);
		return n;
	});
	if (progress.rows_done)
		pg_atomic_write_u64(progress.rows_done, counted_before + rows);
	return rows;
}

} // namespace sunsync::engine
