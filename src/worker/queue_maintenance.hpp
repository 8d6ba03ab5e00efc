// Reclaiming the change queue without VACUUM (PgQ's rotation): the three
// tables sunsync.queue_0..2 take turns.  Every sunsync.queue_rotation the
// database's worker makes the next (empty) table current; the one it
// retires gets a horizon, the next transaction ID at that moment (every
// writer of it has a lower one).  A retired table is emptied with TRUNCATE
// once no transaction below its horizon runs and every configuration's
// settled snapshot sees every entry it has there, or once it is older than
// sunsync.queue_retention: the configurations that had not shipped it are
// marked lost_horizon (their runs are full ones until one sees past it).  The floor (the
// highest horizon emptied) is what a run checks a target record against
// when that record is not the one this database last saw (a target
// restored from a backup, say).
#pragma once

namespace sunsync::worker {

// One step of queue maintenance, in transactions of its own; also makes
// shared memory name the current table, and prunes owners that lost their
// configuration.  Call with no transaction open.
void maintain_queue();

} // namespace sunsync::worker
