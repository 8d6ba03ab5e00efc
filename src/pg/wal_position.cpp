#include "pg/wal_position.hpp"

#include "pg/guard.hpp"

extern "C" {
#include "access/timeline.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
}

#include <cstdio>

namespace sunsync::pg {

namespace {

std::string format_lsn(XLogRecPtr lsn)
{
	char text[32];
	snprintf(text, sizeof text, "%X/%X", static_cast<uint32>(lsn >> 32), static_cast<uint32>(lsn));
	return text;
}

// Where timeline `tli` of `history` began (0 for the first).
XLogRecPtr begin_of(TimeLineID tli, List *history)
{
	ListCell *lc;
	foreach (lc, history) {
		auto *e = static_cast<TimeLineHistoryEntry *>(lfirst(lc));
		if (e->tli == tli)
			return e->begin;
	}
	return InvalidXLogRecPtr;
}

} // namespace

std::string current_wal_position()
{
	TimeLineID tli = 0;
	XLogRecPtr lsn = InvalidXLogRecPtr, begin = InvalidXLogRecPtr;
	guard([&] {
		tli = GetWALInsertionTimeLine();
		lsn = GetXLogInsertRecPtr();
		List *history = readTimeLineHistory(tli);
		begin = begin_of(tli, history);
		list_free_deep(history);
	});
	return std::to_string(tli) + ":" + format_lsn(lsn) + ":" + format_lsn(begin);
}

void flush_wal_to_here()
{
	guard([] {
		// The insert position at the first usable byte of a page points past
		// that page's header, which no record has reserved yet: XLogFlush
		// would find it beyond the end of WAL ("flush request ... is not
		// satisfied").  Everything written so far ends at the page's start.
		XLogRecPtr upto = GetXLogInsertRecPtr();
		if (XLogSegmentOffset(upto, wal_segment_size) == SizeOfXLogLongPHD)
			upto -= SizeOfXLogLongPHD;
		else if (upto % XLOG_BLCKSZ == SizeOfXLogShortPHD)
			upto -= SizeOfXLogShortPHD;
		XLogFlush(upto);
	});
}

bool on_current_history(const std::string &position)
{
	unsigned tli = 0, hi = 0, lo = 0, bhi = 0, blo = 0;
	char end = 0;
	if (sscanf(position.c_str(), "%u:%X/%X:%X/%X%c", &tli, &hi, &lo, &bhi, &blo, &end) != 5 || tli == 0)
		return false;
	XLogRecPtr lsn = (static_cast<XLogRecPtr>(hi) << 32) | lo;
	XLogRecPtr begin = (static_cast<XLogRecPtr>(bhi) << 32) | blo;
	bool on = false;
	guard([&] {
		TimeLineID current = GetWALInsertionTimeLine();
		// a timeline's history file lists its ancestors and where each
		// ended; two standbys promoted apart may both pick the same
		// timeline ID, but not (unless at the very same point) the same
		// beginning
		List *history = readTimeLineHistory(current);
		// on the same timeline, a record beyond the WAL this database has
		// comes from a history it lost (a crash that lost commits, a
		// restore of a file-system snapshot)
		on = tliInHistory(tli, history) && begin_of(tli, history) == begin &&
			 (tli == current ? lsn <= GetXLogInsertRecPtr() : lsn <= tliSwitchPoint(tli, history, nullptr));
		list_free_deep(history);
	});
	return on;
}

} // namespace sunsync::pg
